"""The secrets, configs and networks views, and where a service answers: its ports, the nodes
that answer on them, its VIPs, its tasks' addresses and the connections each took."""

from __future__ import annotations

import base64
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from console.app import SwarmdeckApp
from console.model import Snapshot
from console.render.endpoints import NOT_COUNTED, endpoint_lines
from console.screens.describe import TextScreen
from console.screens.dialogs import ConfirmDialog
from console.screens.tasks import TasksScreen
from engine.api.objects import Service
from engine.client import EngineClient
from engine.embedded import EmbeddedCluster
from engine.serve import served
from tests.conftest import make_spec
from tests.console.conftest import SECRET, Served, wait_for
from tests.console.test_actions import open_view
from tests.console.test_previews import notified
from tests.console.test_stacks import cells
from tests.engine.agent.test_ingress import free_port, get, published


def screen_text(app: SwarmdeckApp) -> str:
    """What the terminal shows, as text (the SVG's, its spaces made plain)."""
    svg = app.export_screenshot()
    return re.sub(r"<[^>]+>", "", svg).replace("&#160;", " ")


def text_shown(app: SwarmdeckApp) -> str:
    screen = app.screen
    assert isinstance(screen, TextScreen)
    return screen._text


async def test_secrets_and_configs_show_names_labels_users_and_never_secret_data(
    shop: Served,
) -> None:
    app = shop.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "secrets")
        assert cells(app)[0][:3] == (
            "shop_token", "shop_back", "com.docker.stack.namespace=shop",
        )  # fmt: skip
        seen = [screen_text(app)]
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, TextScreen))
        assert "Name: shop_token" in text_shown(app)
        seen.append(text_shown(app))
        await pilot.press("colon", *"configs", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "configs")
        await wait_for(pilot, lambda: app.screen.table.row_count == 1)  # type: ignore[attr-defined]
        assert cells(app)[0][:2] == ("shop_settings", "shop_back")
        listed = screen_text(app)
        assert "workers" not in listed  # a config's data: not in a list
        assert base64.b64encode(b"workers = 4\n").decode() not in listed
        seen.append(listed)
        model = repr(app.snapshot.secrets) + repr(app.snapshot)
        for text in [*seen, model]:
            assert SECRET.decode() not in text
            assert base64.b64encode(SECRET).decode() not in text
        assert all(secret.spec.data is None for secret in app.snapshot.secrets)


async def test_networks_show_driver_scope_subnet_and_the_services_and_tasks_on_each(
    shop: Served,
) -> None:
    app = shop.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "networks")

        def row(name: str) -> tuple[str, ...] | None:
            return next((r for r in cells(app) if r[0] == name), None)

        await wait_for(pilot, lambda: (row("shop_web") or ("",) * 6)[5] == "3")
        web = row("shop_web")
        assert web is not None
        _, driver, scope, subnet, services, tasks, _ = web
        assert (driver, scope, tasks) == ("overlay", "swarm", "3")
        assert services == "shop_back, shop_front"
        assert re.fullmatch(r"10\.0\.\d+\.0/24", subnet)
        ingress = row("ingress")
        assert ingress is not None and ingress[4] == "shop_front"  # it publishes a port
        bridge = row("bridge")
        assert bridge is not None and bridge[2] == "local"
        app.screen.table.move_cursor(row=[r[0] for r in cells(app)].index("shop_web"))  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TasksScreen))
        assert app.screen.title == "tasks on network shop_web"
        await wait_for(pilot, lambda: app.screen.table.row_count == 3)  # type: ignore[attr-defined]
        names = sorted(r[0].rsplit(".", 1)[0] for r in cells(app))
        assert names == ["shop_back", "shop_front", "shop_front"]


async def test_removing_what_a_service_uses_or_a_nodes_own_network_is_refused_first(
    shop: Served,
) -> None:
    """ctrl+d on a secret a service uses, and on the node's bridge network, asks nothing: it
    says why, naming the services."""
    app = shop.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "secrets")
        await pilot.press("ctrl+d")
        used = "shop_token is used by shop_back: remove it from them first"
        await wait_for(pilot, lambda: notified(app, used))
        await pilot.press("colon", *"networks", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "networks")
        await wait_for(pilot, lambda: any(r[0] == "bridge" for r in cells(app)))
        app.screen.table.move_cursor(row=[r[0] for r in cells(app)].index("bridge"))  # type: ignore[attr-defined]
        await pilot.press("ctrl+d")
        own = "bridge is a node's own network: the swarm does not remove it"
        await wait_for(pilot, lambda: notified(app, own))
        assert not isinstance(app.screen, ConfirmDialog)


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[tuple[str, EmbeddedCluster]]:
    """Three nodes on addresses of their own that answer real traffic, served on a socket."""
    prefix = f"127.{random.randint(2, 254)}.{random.randint(1, 254)}"
    cluster = EmbeddedCluster(seed=3, heartbeat_epsilon=0, node_addresses=prefix, mesh=True)
    socket = tmp_path / "mesh.sock"
    async with served(cluster, socket):
        yield f"unix://{socket}", cluster


async def test_a_service_shows_its_ports_answering_nodes_connections_vips_and_addresses(
    mesh: tuple[str, EmbeddedCluster],
) -> None:
    """Seven GETs through one node's published port: p shows the three nodes answering on the
    port, the VIP on ingress, each task's address and its share of the seven; its YAML starts
    with the VIPs and the task addresses."""
    url, cluster = mesh
    port = free_port()
    cluster.control.create_service(published(make_spec("nginx", replicas=3), port))
    app = SwarmdeckApp(EngineClient(url), "mesh")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await wait_for(pilot, lambda: cells(app)[0][2] == "3/3", timeout=30)
        nodes = [n.status.addr or "" for n in cluster.control.list_nodes()]
        for _ in range(7):
            assert await get(nodes[0], port) is not None
        app.feed.usage_every = 0.0  # the next poll reads the counts
        await wait_for(
            pilot, lambda: sum((app.snapshot.connections or {}).values()) == 7, timeout=30
        )
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, TextScreen))
        text = text_shown(app)
        assert f"*:{port}->80/tcp ingress, on every ready node:" in text
        for address in nodes:
            assert f"{address}:{port}" in text
        assert re.search(r"virtual IPs:\n  ingress 10\.0\.0\.\d+/24", text)
        counts = [int(n) for n in re.findall(r"@swarm-[\w-]+: (\d+) connections", text)]
        assert sorted(counts) == [2, 2, 3]  # round-robin over the three tasks
        assert len(re.findall(r"\n    10\.0\.0\.\d+/24 ingress", text)) == 3
        await pilot.press("escape", "y")
        await wait_for(pilot, lambda: text_shown(app).startswith("# published ports:"))
        described = text_shown(app)
        assert "# virtual IPs:" in described and "#     10.0.0." in described
        assert "\nSpec:" in described


def test_where_connections_are_not_counted_the_view_says_so() -> None:
    """A Docker swarm's mesh counts no connections per task: no zeros, a sentence instead."""
    service = Service(id="s1")
    assert NOT_COUNTED in "\n".join(endpoint_lines(service, Snapshot(services=(service,))))
    counted = Snapshot(services=(service,), connections={})
    assert NOT_COUNTED not in "\n".join(endpoint_lines(service, counted))
