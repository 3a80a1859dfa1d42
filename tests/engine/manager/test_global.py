"""The global orchestrator: one task per eligible node."""

from __future__ import annotations

from engine.api.types import Availability, TaskState
from tests.conftest import Sim, make_spec


async def test_one_task_per_node(sim: Sim) -> None:
    sim.control.create_service(make_spec(name="agent", mode="global"))
    await sim.converge("agent", 3)
    assert sim.per_node("agent") == {"swarm-master": 1, "swarm-node-1": 1, "swarm-node-2": 1}
    assert all(t.slot == 0 for t in sim.tasks("agent"))


async def test_a_new_node_gets_one(sim: Sim) -> None:
    sim.control.create_service(make_spec(name="agent", mode="global"))
    await sim.converge("agent", 3)
    sim.cluster.add_node("swarm-node-3")
    await sim.converge("agent", 4)
    assert sim.per_node("agent")["swarm-node-3"] == 1


async def test_a_drained_nodes_task_is_stopped_and_not_replaced(sim: Sim) -> None:
    sim.control.create_service(make_spec(name="agent", mode="global"))
    await sim.converge("agent", 3)
    sim.update_node("swarm-node-1", availability=Availability.DRAIN)
    await sim.converge("agent", 2)
    await sim.advance(30)
    assert sim.per_node("agent") == {"swarm-master": 1, "swarm-node-1": 0, "swarm-node-2": 1}
    (stopped,) = [t for t in sim.tasks("agent") if sim.hostname(t.node_id) == "swarm-node-1"]
    assert stopped.desired_state == TaskState.SHUTDOWN
    assert stopped.status.state == TaskState.SHUTDOWN
    assert len(sim.tasks("agent")) == 3  # no replacement anywhere


async def test_constraints_limit_global_services(sim: Sim) -> None:
    sim.control.create_service(
        make_spec(name="agent", mode="global", constraints=["node.role==worker"])
    )
    await sim.converge("agent", 2)
    assert sim.per_node("agent") == {"swarm-master": 0, "swarm-node-1": 1, "swarm-node-2": 1}


async def test_a_paused_node_keeps_its_task_and_gets_no_new_one(sim: Sim) -> None:
    sim.control.create_service(make_spec(name="agent", mode="global"))
    await sim.converge("agent", 3)
    sim.update_node("swarm-node-1", availability=Availability.PAUSE)
    sim.control.create_service(make_spec(name="second", mode="global"))
    await sim.converge("second", 2)
    await sim.advance(30)
    assert sim.per_node("agent")["swarm-node-1"] == 1
    assert sim.per_node("second")["swarm-node-1"] == 0


async def test_a_down_nodes_global_task_is_shut_down(sim: Sim) -> None:
    sim.control.create_service(make_spec(name="agent", mode="global"))
    await sim.converge("agent", 3)
    sim.cluster.stop_node("swarm-node-2")
    await sim.until(lambda: sim.node("swarm-node-2").status.state.value == "down")
    (task,) = [t for t in sim.tasks("agent") if sim.hostname(t.node_id) == "swarm-node-2"]
    assert task.desired_state == TaskState.SHUTDOWN
    assert len(sim.tasks("agent")) == 3
