"""Previews that are honest: a drain says where each task goes and which stay pending, and
why (reservations, constraints, max replicas per node, host-mode ports), and the swarm then
does what it said; scaling past the room says so first; no-op actions say so instead of acting;
promote and demote explain quorum; demoting the last manager is refused before asking."""

from __future__ import annotations

from msgspec.structs import replace

from console.app import SwarmdeckApp
from console.screens.dialogs import ConfirmDialog, FormDialog
from engine.api.specs import EndpointSpec, PortConfig
from engine.api.types import Availability, NodeRole, TaskState
from tests.conftest import make_spec
from tests.console.conftest import Served, wait_api, wait_for
from tests.console.test_actions import fill, node, open_view


def notified(app: SwarmdeckApp, text: str) -> bool:
    return any(text in str(n.message) for n in app._notifications)


async def select_node(pilot, app: SwarmdeckApp, hostname: str) -> None:  # type: ignore[no-untyped-def]
    await open_view(pilot, app, "nodes")
    table = app.screen.table  # type: ignore[attr-defined]
    await wait_for(pilot, lambda: hostname in [r.cells[0] for r in table._rows])
    table.move_cursor(row=[r.cells[0] for r in table._rows].index(hostname))
    await pilot.pause()


def details(app: SwarmdeckApp) -> str:
    return " ".join(str(app.screen._details).split())  # type: ignore[attr-defined]


async def test_drain_preview_names_tasks_that_will_stay_pending(engine: Served) -> None:
    """Draining swarm-node-1: web's task moves; big (1.5 of 2 CPUs each), zoned (only
    swarm-node-1 has its label), spread (max one a node) and ported (host-mode port 9000)
    stay pending, each saying why; and after the drain the swarm leaves exactly those
    pending."""
    control = engine.cluster.control
    one = await node(engine, "swarm-node-1")
    await engine.client.modify_node(one.id, lambda spec: replace(spec, labels={"zone": "a"}))
    control.create_service(make_spec(name="big", replicas=3, cpus=1.5))
    control.create_service(make_spec(name="zoned", constraints=["node.labels.zone==a"]))
    control.create_service(make_spec(name="spread", replicas=3, max_replicas=1))
    port = PortConfig(protocol="tcp", target_port=80, published_port=9000, publish_mode="host")
    ported = make_spec(name="ported", replicas=3)
    control.create_service(replace(ported, endpoint_spec=EndpointSpec(ports=[port])))
    app = engine.app()
    async with app.run_test(size=(160, 48)) as pilot:

        def placed() -> bool:
            on_one = {t.service_id for t in app.snapshot.tasks_by_node.get(one.id, [])}
            names = {app.snapshot.service_name(s) for s in on_one}
            running = app.snapshot.tasks_by_state[TaskState.RUNNING]
            return {"big", "zoned", "spread", "ported"} <= names and running >= 12

        await wait_for(pilot, placed, 30)
        await select_node(pilot, app, "swarm-node-1")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        said = details(app)
        assert "→ swarm-" in said  # web's task has somewhere to go
        for name, why in (
            ("big", "not enough free CPU or memory (it asks 1.50 cores, 0B): swarm-"),
            ("zoned", "constraints not met (node.labels.zone==a): swarm-"),
            ("spread", "it runs its max replicas per node (1): swarm-"),
            ("ported", "host-mode port 9000/tcp taken: swarm-"),
        ):
            assert f"{name}." in said and f"will stay PENDING: {why}" in said, (name, said)
        assert "4 of them will not run until room is made" in said
        await pilot.press("y")

        async def pending() -> bool:
            tasks = await engine.client.tasks()
            services = {s.id: s.spec.name for s in await engine.client.services()}
            waiting = {
                services[t.service_id]
                for t in tasks
                if t.status.state == TaskState.PENDING and t.desired_state == TaskState.RUNNING
            }
            return waiting == {"big", "zoned", "spread", "ported"}

        await wait_api(pilot, pending, 30)


async def test_scaling_past_the_room_says_which_tasks_stay_pending(engine: Served) -> None:
    """Scaling big (1.5 CPUs each, one a node) from 3 to 5 asks first, naming the two that
    will stay pending; scaling web needs no question."""
    engine.cluster.control.create_service(make_spec(name="big", replicas=3, cpus=1.5))
    app = engine.app()
    async with app.run_test(size=(160, 48)) as pilot:
        await open_view(pilot, app, "services")
        await wait_for(
            pilot, lambda: len([t for t in app.snapshot.tasks if t.node_id]) >= 5, 30
        )  # big's three and web's two are placed
        table = app.screen.table  # type: ignore[attr-defined]
        table.move_cursor(row=[r.cells[0] for r in table._rows].index("big"))
        await pilot.press("s")
        await fill(pilot, app, replicas="5")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        said = details(app)
        assert "2 of the 2 new task(s) will stay PENDING" in said
        assert "big.4: not enough free CPU or memory" in said and "big.5:" in said
        await pilot.press("n")
        table.move_cursor(row=[r.cells[0] for r in table._rows].index("web"))
        await pilot.press("s")
        await fill(pilot, app, replicas="3")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmDialog | FormDialog)


async def test_no_op_actions_say_so_instead_of_acting(engine: Served) -> None:
    """Promote a manager, activate an active node, drain a drained one: each says so, asks
    nothing, and changes nothing."""
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await select_node(pilot, app, "swarm-master")
        before = {n.id: n.version.index for n in await engine.client.nodes()}
        await pilot.press("p")
        await wait_for(pilot, lambda: notified(app, "swarm-master: a manager already"))
        await pilot.press("u")
        await wait_for(pilot, lambda: notified(app, "swarm-master: active already"))
        assert not isinstance(app.screen, ConfirmDialog)
        assert {n.id: n.version.index for n in await engine.client.nodes()} == before
        one = await node(engine, "swarm-node-1")
        await engine.client.modify_node(
            one.id, lambda spec: replace(spec, availability=Availability.DRAIN)
        )
        await select_node(pilot, app, "swarm-node-1")
        await wait_for(
            pilot,
            lambda: app.snapshot.node_by_id[one.id].spec.availability == Availability.DRAIN,
        )
        await pilot.press("r")
        await wait_for(pilot, lambda: notified(app, "swarm-node-1: drained already"))
        assert not isinstance(app.screen, ConfirmDialog)


async def test_promote_and_demote_explain_quorum(engine: Served) -> None:
    """Promoting swarm-node-1 says 1 manager tolerates 0 failures and 2 tolerate 0 too (an
    odd count is best); demoting it again says the way back."""
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await select_node(pilot, app, "swarm-node-1")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        said = details(app)
        assert "Now 1 manager tolerates 0 failures; then 2 managers tolerate 0 failures" in said
        assert "an odd count is best" in said
        await pilot.press("y")
        one = await node(engine, "swarm-node-1")

        async def manager() -> bool:
            return (await node(engine, "swarm-node-1")).spec.role == NodeRole.MANAGER  # type: ignore[no-any-return]

        await wait_api(pilot, manager)
        await wait_for(pilot, lambda: app.snapshot.node_by_id[one.id].spec.role == NodeRole.MANAGER)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "Now 2 managers tolerate 0 failures" in details(app)
        assert "then 1 manager tolerates 0 failures" in details(app)
        await pilot.press("n")


async def test_demoting_the_last_manager_is_refused_before_asking(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await select_node(pilot, app, "swarm-master")
        await pilot.press("o")
        await wait_for(pilot, lambda: notified(app, "a swarm needs a manager"))
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmDialog)
    master = await node(engine, "swarm-master")
    assert master.spec.role == NodeRole.MANAGER
