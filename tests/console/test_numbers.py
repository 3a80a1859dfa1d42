"""Numbers that are right: reservations of placed tasks only, with pending demand apart;
metrics rows that follow the cluster; CPU with its unit and sparklines on one scale per column;
a crash-looping service not called healthy."""

from __future__ import annotations

from textual.widgets import Static

from console.app import SwarmdeckApp
from console.model import Snapshot
from console.render.metrics import NO_TASKS, metric_rows
from console.render.rows import SERVICE_COLUMNS
from engine.api.objects import Node, NodeDescription, Service, ServiceSpec
from tests.conftest import make_spec
from tests.console.conftest import Served, wait_for
from tests.console.test_actions import open_view

CRASHING = {"swarmdeck.sim.crash-loop": "300ms"}  # exits with code 1 soon after each start


def panel(app: SwarmdeckApp, name: str) -> str:
    return str(app.screen.query_one(f"#panel-{name}", Static).render())


def cells(app: SwarmdeckApp) -> dict[str, tuple[str, ...]]:
    return {row.cells[1] if row.key.count(":") else row.cells[0]: row.cells for row in rows(app)}


def rows(app: SwarmdeckApp):  # type: ignore[no-untyped-def]
    return app.screen.table._rows  # type: ignore[attr-defined]


async def test_overview_counts_only_placed_reservations(engine: Served) -> None:
    """Six tasks of 1.5 CPUs on three nodes of 2: three run, three stay pending. The overview
    reserves 4.50 of 6 cores (what the nodes view sums to) and shows the pending three's 4.50
    cores apart, not 9/6."""
    engine.cluster.control.create_service(make_spec(name="big", replicas=6, cpus=1.5))
    app = engine.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: "pending: 3 task(s)" in panel(app, "capacity"), 30)
        text = " ".join(panel(app, "capacity").split())
        assert "CPU reserved 4.50/6 cores" in text
        assert "pending: 3 task(s) on no node, asking 4.50 cores" in text
        await open_view(pilot, app, "nodes")
        reserved = [row.cells[4] for row in rows(app)]
        assert sorted(reserved) == ["1.50/2", "1.50/2", "1.50/2"]


async def test_metrics_rows_follow_the_cluster(engine: Served) -> None:
    """A drained node says it runs no tasks instead of keeping its last figures; a removed
    service leaves, rather than stay as a row named by its ID; CPU reads in cores."""
    engine.cluster.control.create_service(make_spec(name="other", replicas=3))
    app = engine.app()
    app.feed.interval, app.feed.usage_every = 0.3, 0.0
    async with app.run_test(size=(160, 40)) as pilot:
        await open_view(pilot, app, "nodes")
        await pilot.press("colon", *"metrics", "enter")
        await wait_for(
            pilot,
            lambda: "other" in cells(app) and cells(app)["swarm-node-1"][2].endswith(" cores"),
            30,
        )
        node = next(n for n in app.snapshot.nodes if n.description.hostname == "swarm-node-1")  # type: ignore[union-attr]
        await app.client.modify_node(node.id, _drained)
        other = next(s for s in app.snapshot.services if s.spec.name == "other")
        await app.client.remove_service(other.id)
        await wait_for(pilot, lambda: cells(app)["swarm-node-1"][2] == NO_TASKS, 30)
        assert cells(app)["swarm-node-1"][4] == NO_TASKS
        await wait_for(pilot, lambda: "other" not in cells(app))
        assert not any(other.id[:12] in name for name in cells(app))


def _drained(spec):  # type: ignore[no-untyped-def]
    from msgspec.structs import replace

    from engine.api.types import Availability

    return replace(spec, availability=Availability.DRAIN)


def test_cpu_has_a_unit_and_sparklines_share_one_scale_per_column() -> None:
    """A flat series looks flat at its level against the busiest row, not full height; a node
    that ran nothing in a poll shows the lowest bar there."""
    nodes = tuple(
        Node(id=f"n{i}", description=NodeDescription(hostname=f"node-{i}")) for i in (1, 2)
    )
    service = Service(id="s1", spec=ServiceSpec(name="web"))
    steps = tuple(
        {
            "node": {"n1": (0.5, 100.0), **({"n2": (k / 4, 400.0)} if k else {})},
            "service": {"s1": (0.5, 100.0)},
        }
        for k in range(5)
    )
    snapshot = Snapshot(nodes=nodes, services=(service,), usage_steps=steps)  # type: ignore[arg-type]
    shown = {row.cells[1]: row.cells for row in metric_rows(snapshot)}
    assert shown["node-1"][2] == "0.50 cores" and shown["node-2"][2] == "1.00 cores"
    assert shown["node-1"][3] == "▅▅▅▅▅"  # half the column's top: flat at half height
    assert shown["node-2"][3] == "▁▃▅▆█"
    assert shown["node-1"][5] == "▃▃▃▃▃" and shown["node-2"][5] == "▁████"


async def test_a_crash_looping_service_is_not_called_healthy(engine: Served) -> None:
    """Its replicas read 1/1 most of the time; still its row is red with its restarts and
    "failing", the overview counts it out of the healthy ones and says why, and its
    failures of the last hour are counted."""
    engine.cluster.control.create_service(
        make_spec(name="crashing", labels=CRASHING, restart_delay=0.1)
    )
    app = engine.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: "crashing: failing" in panel(app, "services"), 30)
        await wait_for(pilot, lambda: "1/2 healthy" in panel(app, "services"))
        await wait_for(pilot, lambda: "crashing: " in panel(app, "failures"))
        assert "in the last hour" in panel(app, "failures")
        await open_view(pilot, app, "services")
        restarts = SERVICE_COLUMNS.index("RESTARTS")

        def crashing() -> tuple[str, ...] | None:
            return next((r.cells for r in rows(app) if r.cells[0] == "crashing"), None)

        await wait_for(
            pilot, lambda: (c := crashing()) is not None and c[restarts].endswith("failing")
        )
        row = next(r for r in rows(app) if r.cells[0] == "crashing")
        assert row.state in ("warn", "bad")
        await wait_for(
            pilot, lambda: next(r for r in rows(app) if r.cells[0] == "crashing").state == "bad", 30
        )
        web = next(r for r in rows(app) if r.cells[0] == "web")
        assert web.state == "ok" and web.cells[restarts] == "0"
