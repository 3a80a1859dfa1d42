"""Node availability (drain, pause, active) and node failure (heartbeats), as SwarmKit."""

from __future__ import annotations

from engine.api.types import Availability, NodeState, TaskState
from tests.conftest import Sim, make_spec, start_sim


async def test_drain_moves_tasks_off_without_the_restart_delay(sim: Sim) -> None:
    # A restart delay of a minute would show if it were applied.
    sim.control.create_service(make_spec(replicas=6, restart_delay=60))
    await sim.converge("web", 6)
    sim.update_node("swarm-node-1", availability=Availability.DRAIN)
    took = await sim.until(
        lambda: sim.per_node("web") == {"swarm-master": 3, "swarm-node-1": 0, "swarm-node-2": 3},
        what="tasks moved off swarm-node-1",
    )
    assert took < 10
    drained = [t for t in sim.tasks("web") if sim.hostname(t.node_id) == "swarm-node-1"]
    assert {t.desired_state for t in drained} == {TaskState.SHUTDOWN}
    # The replacements keep the slots of the tasks they replace.
    assert sorted(t.slot for t in sim.running("web")) == [1, 2, 3, 4, 5, 6]


async def test_pause_keeps_tasks_and_takes_no_new_ones(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=3))
    await sim.converge("web", 3)
    (kept,) = [t.id for t in sim.running("web") if sim.hostname(t.node_id) == "swarm-node-1"]
    sim.update_node("swarm-node-1", availability=Availability.PAUSE)
    sim.scale("web", 6)
    await sim.converge("web", 6)
    on_paused = [t.id for t in sim.running("web") if sim.hostname(t.node_id) == "swarm-node-1"]
    assert on_paused == [kept]
    assert sim.per_node("web")["swarm-master"] + sim.per_node("web")["swarm-node-2"] == 5


async def test_making_a_node_active_again_moves_nothing_back(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=6))
    await sim.converge("web", 6)
    sim.update_node("swarm-node-1", availability=Availability.DRAIN)
    moved = {"swarm-master": 3, "swarm-node-1": 0, "swarm-node-2": 3}
    await sim.until(lambda: sim.per_node("web") == moved, what="tasks moved off swarm-node-1")
    sim.update_node("swarm-node-1", availability=Availability.ACTIVE)
    await sim.advance(60)
    assert sim.per_node("web") == moved


async def test_a_silent_node_is_down_after_three_periods_and_its_tasks_move() -> None:
    sim = await start_sim(heartbeat=5.0)
    try:
        sim.control.create_service(make_spec(replicas=6, restart_delay=0))
        await sim.converge("web", 6)
        silent_at = sim.clock.monotonic()
        sim.cluster.stop_node("swarm-node-2")
        down = await sim.until(lambda: sim.node("swarm-node-2").status.state == NodeState.DOWN)
        # The last heartbeat came at most one period before it went silent.
        assert 10.0 <= down <= 15.0 + 0.001, down
        assert sim.node("swarm-node-2").status.message == "heartbeat failure"
        await sim.until(
            lambda: sim.per_node("web") == {"swarm-master": 3, "swarm-node-1": 3, "swarm-node-2": 0}
        )
        # Tasks on the down node are meant to stop; they still look running until it returns.
        stale = [t for t in sim.tasks("web") if sim.hostname(t.node_id) == "swarm-node-2"]
        assert {t.desired_state for t in stale} == {TaskState.SHUTDOWN}
        assert {t.status.state for t in stale} == {TaskState.RUNNING}
        assert sim.clock.monotonic() - silent_at < 20

        sim.cluster.start_node("swarm-node-2")
        await sim.until(lambda: sim.node("swarm-node-2").status.state == NodeState.READY)
        await sim.until(
            lambda: all(
                t.status.state == TaskState.SHUTDOWN
                for t in sim.tasks("web")
                if sim.hostname(t.node_id) == "swarm-node-2"
            ),
            what="stale tasks stopped",
        )
        await sim.advance(60)
        # Nothing is rebalanced onto the returning node.
        assert sim.per_node("web") == {"swarm-master": 3, "swarm-node-1": 3, "swarm-node-2": 0}
    finally:
        await sim.cluster.stop()


async def test_heartbeat_period_is_configurable() -> None:
    sim = await start_sim(heartbeat=1.0)
    try:
        sim.cluster.stop_node("swarm-node-1")
        down = await sim.until(lambda: sim.node("swarm-node-1").status.state == NodeState.DOWN)
        assert 2.0 <= down <= 3.0 + 0.001
    finally:
        await sim.cluster.stop()


async def test_heartbeats_keep_a_node_ready(sim: Sim) -> None:
    await sim.advance(300)
    assert {n.status.state for n in sim.control.list_nodes()} == {NodeState.READY}


async def test_tasks_of_a_node_down_for_24_hours_are_orphaned() -> None:
    sim = await start_sim(heartbeat=60.0)  # fewer timers to run through a simulated day
    try:
        sim.control.create_service(make_spec(replicas=3))
        await sim.converge("web", 3)
        sim.cluster.stop_node("swarm-node-1")
        await sim.until(
            lambda: sim.node("swarm-node-1").status.state == NodeState.DOWN, timeout=600
        )
        down_at = sim.clock.monotonic()
        await sim.advance(23 * 3600)
        on_node = [t for t in sim.tasks("web") if sim.hostname(t.node_id) == "swarm-node-1"]
        assert {t.status.state for t in on_node} == {TaskState.RUNNING}
        await sim.until(
            lambda: all(
                t.status.state == TaskState.ORPHANED
                for t in sim.tasks("web")
                if sim.hostname(t.node_id) == "swarm-node-1"
            ),
            timeout=2 * 3600,
        )
        assert 24 * 3600 - 1 <= sim.clock.monotonic() - down_at <= 24 * 3600 + 1
    finally:
        await sim.cluster.stop()
