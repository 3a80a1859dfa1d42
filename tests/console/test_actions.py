"""Every console action, driven by keys, checked through the Engine API afterwards."""

from __future__ import annotations

from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Input

from console.app import SwarmdeckApp
from console.screens.dialogs import ConfirmDialog, FormDialog
from console.screens.nodes import NodesScreen
from console.screens.services import ServicesScreen
from engine.api.types import Availability, NodeRole
from tests.console.conftest import Served, wait_api, wait_for


async def open_view(pilot: Pilot[None], app: SwarmdeckApp, view: str, row: int = 0) -> None:
    await wait_for(pilot, lambda: app.snapshot.services and app.snapshot.nodes)
    await pilot.press("colon")
    await pilot.press(*view, "enter")
    await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == view)
    await wait_for(pilot, lambda: app.screen.table.row_count > row)  # type: ignore[attr-defined]
    app.screen.table.move_cursor(row=row)  # type: ignore[attr-defined]
    await pilot.pause()


async def fill(pilot: Pilot[None], app: SwarmdeckApp, **values: str) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, FormDialog))
    for key, value in values.items():
        app.screen.query_one(f"#field-{key}", Input).value = value
    last = list(app.screen.query(Input))[-1]
    last.focus()
    await pilot.press("enter")


async def confirm(pilot: Pilot[None], app: SwarmdeckApp) -> str:
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    details = app.screen._details  # type: ignore[attr-defined]
    await pilot.press("y")
    return str(details)


async def service(engine: Served, name: str = "web"):  # type: ignore[no-untyped-def]
    return next((s for s in await engine.client.services() if s.spec.name == name), None)


async def node(engine: Served, hostname: str):  # type: ignore[no-untyped-def]
    nodes = await engine.client.nodes()
    return next(n for n in nodes if n.description and n.description.hostname == hostname)


async def test_scale(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("s")
        await fill(pilot, app, replicas="4")

        async def scaled() -> bool:
            found = await service(engine)
            return found.spec.mode.replicated.replicas == 4  # type: ignore[no-any-return]

        await wait_api(pilot, scaled)


async def test_set_image_then_rollback(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("i")
        await fill(pilot, app, image="nginx:1.11")

        async def image(expected: str) -> bool:
            found = await service(engine)
            return found.spec.task_template.container_spec.image == expected  # type: ignore[no-any-return]

        await wait_api(pilot, lambda: image("nginx:1.11"))
        await wait_for(pilot, lambda: app.snapshot.services[0].previous_spec is not None)
        await pilot.press("ctrl+l")
        details = await confirm(pilot, app)
        assert "nginx:1.10" in details
        await wait_api(pilot, lambda: image("nginx:1.10"))
        found = await service(engine)
        assert found.update_status.message == "manually requested rollback"


async def test_update_config(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("u")
        await fill(
            pilot, app, parallelism="2", delay="3s", failure_action="rollback", order="start-first"
        )

        async def updated() -> bool:
            config = (await service(engine)).spec.update_config
            return (
                config is not None
                and config.parallelism == 2
                and (
                    config.delay == 3_000_000_000
                    and config.failure_action.value == "rollback"
                    and config.order.value == "start-first"
                )
            )

        await wait_api(pilot, updated)


async def test_restart_forces_an_update(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("r")
        await confirm(pilot, app)

        async def forced() -> bool:
            return (await service(engine)).spec.task_template.force_update == 1  # type: ignore[no-any-return]

        await wait_api(pilot, forced)


async def test_remove(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("ctrl+d")
        details = await confirm(pilot, app)
        assert "stopped and deleted" in details

        async def gone() -> bool:
            return await service(engine) is None

        await wait_api(pilot, gone)


async def test_create(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("c")
        await fill(
            pilot,
            app,
            name="made",
            image="redis:7",
            replicas="2",
            ports="6380:6379",
            constraints="node.role==worker",
        )

        async def created() -> bool:
            found = await service(engine, "made")
            return found is not None and found.spec.mode.replicated.replicas == 2

        await wait_api(pilot, created)
        made = await service(engine, "made")
        assert made.spec.task_template.placement.constraints == ["node.role==worker"]
        assert made.spec.endpoint_spec.ports[0].published_port == 6380


async def test_node_availability_roles_and_labels(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "nodes", row=1)  # swarm-node-1
        assert isinstance(app.screen, NodesScreen)

        async def node_is(**wanted: object) -> bool:
            found = await node(engine, "swarm-node-1")
            return all(getattr(found.spec, k) == v for k, v in wanted.items())

        async def became(**wanted: object) -> None:
            """The engine has it, and so does the console (its next key acts on it)."""
            await wait_api(pilot, lambda: node_is(**wanted))
            await wait_for(
                pilot,
                lambda: any(
                    n.description.hostname == "swarm-node-1"  # type: ignore[union-attr]
                    and all(getattr(n.spec, k) == v for k, v in wanted.items())
                    for n in app.snapshot.nodes
                ),
            )

        await pilot.press("r")
        details = await confirm(pilot, app)
        assert "will move" in details or "runs no tasks" in details
        await became(availability=Availability.DRAIN)
        await pilot.press("c")
        await confirm(pilot, app)
        await became(availability=Availability.PAUSE)
        await pilot.press("u")
        await became(availability=Availability.ACTIVE)
        await pilot.press("p")
        await confirm(pilot, app)
        await became(role=NodeRole.MANAGER)
        await pilot.press("o")
        await confirm(pilot, app)
        await became(role=NodeRole.WORKER)
        await pilot.press("L")
        await fill(pilot, app, labels="zone=east, tier=front")
        await wait_api(pilot, lambda: node_is(labels={"zone": "east", "tier": "front"}))


async def test_a_refused_action_says_why(engine: Served) -> None:
    """The engine refuses a service named against its rules; the console says the engine's
    words."""
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("c")
        await fill(pilot, app, name="not a name!", image="nginx")
        await wait_for(
            pilot,
            lambda: any(n.title == "refused" for n in app._notifications),
        )
    assert [s.spec.name for s in await engine.client.services()] == ["web"]


async def test_read_only_hides_every_action(engine: Served) -> None:
    """With --read-only every key of the services and nodes views, answered yes or submitted
    as it stands, changes nothing in the cluster; and the keys it leaves are fewer."""

    async def versions() -> dict[str, int]:
        objects = [*await engine.client.services(), *await engine.client.nodes()]
        return {o.id: o.version.index for o in objects}

    before = await versions()
    writable = engine.app()
    async with writable.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, writable, "services")
        every = {b.action for _, b, enabled, *_ in writable.active_bindings.values() if enabled}
    app = engine.app(read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        for view, screen_type in (("services", ServicesScreen), ("nodes", NodesScreen)):
            await open_view(pilot, app, view)
            keys = [b.key.split(",")[0] for b in screen_type.BINDINGS if isinstance(b, Binding)]
            for key in keys:
                await pilot.press(key)
                await pilot.pause(0.1)
                if isinstance(app.screen, ConfirmDialog):
                    await pilot.press("y")
                elif isinstance(app.screen, FormDialog):
                    await pilot.press("enter")
                elif isinstance(app.focused, Input):  # the filter: closed again
                    await pilot.press("escape")
                await pilot.pause(0.1)
                while not isinstance(app.screen, screen_type):
                    await pilot.press("escape")
                    await pilot.pause(0.05)
        await open_view(pilot, app, "services")
        left = {b.action for _, b, enabled, *_ in app.active_bindings.values() if enabled}
        assert left - {"back"} < every  # back shows while the filter typed into is open
    assert (await service(engine)).spec.mode.replicated.replicas == 2
    assert await versions() == before
