"""Stacks in the console: the stacks view and its drill-down, a compose file's deploy with its
plan shown first, a stack's removal, and bad files refused before any call."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Label

from console.app import SwarmdeckApp
from console.screens.dialogs import ConfirmDialog, FormDialog
from console.screens.services import ServicesScreen
from console.screens.tasks import TasksScreen
from engine.client import EngineClient
from engine.stacks import NAMESPACE_LABEL
from tests.console.conftest import APP, Served, app_files, wait_api, wait_for
from tests.console.test_actions import fill, open_view


def cells(app: SwarmdeckApp) -> list[tuple[str, ...]]:
    return [row.cells for row in app.screen.table._rows]  # type: ignore[attr-defined]


async def stack_objects(client: EngineClient, namespace: str) -> list[str]:
    """The names of every service, network, secret and config of the stack, sorted."""
    label = f"{NAMESPACE_LABEL}={namespace}"
    found = [s.spec.name or "" for s in await client.services(label)]
    found += [n.name for n in await client.networks(label)]
    found += [s.name for s in await client.secrets(label)]
    found += [c.name for c in await client.configs(label)]
    return sorted(found)


async def deploy_form(pilot, app: SwarmdeckApp, path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """On the stacks view (reached first when the cluster has none), c with the form filled."""
    if getattr(app.screen, "VIEW", "") != "stacks":
        await open_view(pilot, app, "services")
        await pilot.press("colon", *"stacks", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "stacks")
    await pilot.press("c")
    await fill(pilot, app, file=str(path), stack=name)


async def test_stacks_lists_each_stack_and_enter_drills_to_its_services_then_tasks(
    shop: Served,
) -> None:
    app = shop.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "stacks")
        await wait_for(pilot, lambda: cells(app) and cells(app)[0][2] == "4/4")
        name, services, replicas, networks, secrets, configs, changed = cells(app)[0]
        assert (name, services, replicas, networks, secrets, configs) == (
            "shop", "3", "4/4", "2", "1", "1",
        )  # fmt: skip
        assert changed.endswith("s")  # changed seconds ago
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ServicesScreen))
        assert app.screen.title == "services of stack shop"
        await wait_for(pilot, lambda: app.screen.table.row_count == 3)  # type: ignore[attr-defined]
        assert [row[0] for row in cells(app)] == ["shop_back", "shop_cache", "shop_front"]
        app.screen.table.move_cursor(row=2)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TasksScreen))
        await wait_for(pilot, lambda: app.screen.table.row_count == 2)  # type: ignore[attr-defined]
        assert {row[0] for row in cells(app)} == {"shop_front.1", "shop_front.2"}


async def test_a_changed_compose_files_plan_lists_exactly_the_changed_services(
    engine: Served, tmp_path: Path
) -> None:
    """Deployed from the console, then changed: front's image, cache gone, queue new. The plan
    names those three and nothing else; back is unchanged. On a yes the deploy is made and
    the stack's services show its rollout."""
    path = app_files(tmp_path)
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await deploy_form(pilot, app, path, "shop")
        assert await asked(pilot, app) == [
            "+ create network shop_data",
            "+ create network shop_web",
            "+ create secret shop_token",
            "+ create config shop_settings",
            "+ create service shop_back",
            "+ create service shop_cache",
            "+ create service shop_front",
        ]
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ServicesScreen))
        assert app.screen.title == "services of stack shop"  # the rollout, as it happens
        await wait_api(pilot, lambda: _running(engine, "shop", 4))
        await wait_for(pilot, lambda: ("shop_front", "replicated", "2/2") in _named(app))

        changed = APP.replace("image: nginx:1.10", "image: nginx:1.11")
        changed = changed.replace(
            "  cache:\n    image: redis:7\n", "  queue:\n    image: rabbitmq:3\n"
        )
        path.write_text(changed)
        await pilot.press("escape")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "stacks")
        await wait_for(pilot, lambda: app.screen.table.row_count == 1)  # type: ignore[attr-defined]
        await deploy_form(pilot, app, path, "shop")
        assert await asked(pilot, app) == [
            "~ update service shop_front: Labels.com.docker.stack.image, ContainerSpec.Image",
            "+ create service shop_queue",
            "- remove service shop_cache",
            "  unchanged: shop_back",
        ]
        await pilot.press("y")
        await wait_api(
            pilot,
            lambda: _has(engine, "shop", {"shop_back", "shop_front", "shop_queue"}),
        )
        front = next(s for s in await engine.client.services() if s.spec.name == "shop_front")
        template = front.spec.task_template
        assert template and template.container_spec
        assert template.container_spec.image == "nginx:1.11"


async def test_removing_a_stack_lists_what_goes_and_removes_it(shop: Served) -> None:
    engine = shop
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "stacks")
        await pilot.press("ctrl+d")
        assert await asked(pilot, app) == [
            "- remove service shop_back",
            "- remove service shop_cache",
            "- remove service shop_front",
            "- remove secret shop_token",
            "- remove config shop_settings",
            "- remove network shop_data",
            "- remove network shop_web",
        ]
        await pilot.press("y")
        await wait_api(pilot, lambda: _gone(engine, "shop"))
        await wait_for(pilot, lambda: app.screen.table.row_count == 0)  # type: ignore[attr-defined]
        assert [s.spec.name for s in await engine.client.services()] == ["web"]  # not its


BAD = [
    (
        APP.replace("    deploy: {replicas: 2}", "    deploy: {replicas: 2, colour: red}"),
        "services.front.deploy.colour: unknown key",
    ),
    (
        APP.replace("    deploy: {replicas: 2}", "    deploy: {replicas: two}"),
        "services.front.deploy.replicas: expected a whole number, not 'two'",
    ),
    (
        APP.replace("    deploy: {replicas: 2}", "    deploy: {update_config: {delay: soon}}"),
        "services.front.deploy.update_config.delay: 'soon' is not a duration",
    ),
    (APP.replace("./token.txt", "./missing.txt"), "secrets.token.file: "),
    (
        APP.replace("    networks: [data]\n", "    networks: [data, nowhere]\n"),
        "services.cache.networks: network nowhere is not declared under networks",
    ),
]


@pytest.mark.parametrize(("text", "error"), BAD, ids=["key", "type", "duration", "file", "net"])
async def test_an_invalid_compose_file_names_file_service_and_field_and_deploys_nothing(
    engine: Served, tmp_path: Path, text: str, error: str
) -> None:
    path = app_files(tmp_path, text)
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await deploy_form(pilot, app, path, "shop")
        label = app.screen.query_one("#label-file", Label)
        await wait_for(pilot, lambda: label.has_class("-error"))
        shown = " ".join(str(label.render()).split())
        assert f"{path}: " in shown and error in shown
        assert isinstance(app.screen, FormDialog)  # the form stays, with what was typed
        await pilot.press("escape")
        await pilot.pause(0.5)
    assert await stack_objects(engine.client, "shop") == []
    assert [s.spec.name for s in await engine.client.services()] == ["web"]


async def asked(pilot, app: SwarmdeckApp) -> list[str]:  # type: ignore[no-untyped-def]
    """The lines of the confirmation the app asks now."""
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    return str(app.screen._details).splitlines()  # type: ignore[attr-defined]


async def _running(engine: Served, namespace: str, count: int) -> bool:
    services = await engine.client.services(f"{NAMESPACE_LABEL}={namespace}")
    status = [s.service_status for s in services]
    return sum(s.running_tasks for s in status if s) == count


async def _has(engine: Served, namespace: str, names: set[str]) -> bool:
    services = await engine.client.services(f"{NAMESPACE_LABEL}={namespace}")
    return {s.spec.name for s in services} == names


async def _gone(engine: Served, namespace: str) -> bool:
    return await stack_objects(engine.client, namespace) == []


def _named(app: SwarmdeckApp) -> set[tuple[str, str, str]]:
    return {row[:3] for row in cells(app)}
