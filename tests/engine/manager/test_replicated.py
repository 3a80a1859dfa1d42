"""The replicated orchestrator: slots kept across scaling, scale-down from the busiest nodes."""

from __future__ import annotations

from engine.api.types import Availability, TaskState
from tests.conftest import Sim, make_spec


async def test_scaling_up_keeps_slot_numbers(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=3))
    await sim.converge("web", 3)
    before = {t.slot: t.id for t in sim.running("web")}
    sim.scale("web", 5)
    await sim.converge("web", 5)
    after = {t.slot: t.id for t in sim.running("web")}
    assert sorted(after) == [1, 2, 3, 4, 5]
    assert {slot: after[slot] for slot in before} == before  # the same tasks still run


async def test_scaling_down_removes_from_the_nodes_with_most_tasks_first(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=3))
    await sim.converge("web", 3)
    # Three more land on swarm-node-2 while the others are paused: it holds 4 of 6.
    sim.update_node("swarm-master", availability=Availability.PAUSE)
    sim.update_node("swarm-node-1", availability=Availability.PAUSE)
    sim.scale("web", 6)
    await sim.converge("web", 6)
    assert sim.per_node("web") == {"swarm-master": 1, "swarm-node-1": 1, "swarm-node-2": 4}
    sim.update_node("swarm-master", availability=Availability.ACTIVE)
    sim.update_node("swarm-node-1", availability=Availability.ACTIVE)
    sim.scale("web", 3)
    await sim.converge("web", 3)
    assert sim.per_node("web") == {"swarm-master": 1, "swarm-node-1": 1, "swarm-node-2": 1}
    removed = [t for t in sim.tasks("web") if t.desired_state == TaskState.REMOVE]
    assert all(sim.hostname(t.node_id) == "swarm-node-2" for t in removed)


async def test_scaled_down_tasks_are_shut_down_then_deleted(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=4))
    await sim.converge("web", 4)
    sim.scale("web", 1)
    await sim.until(lambda: len(sim.tasks("web")) == 1, what="removed tasks deleted")
    (task,) = sim.tasks("web")
    assert task.status.state == TaskState.RUNNING


async def test_removing_a_service_stops_and_deletes_its_tasks(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=3))
    await sim.converge("web", 3)
    sim.control.remove_service("web")
    await sim.until(lambda: sim.control.list_tasks() == [], what="tasks deleted")
    containers = [c for n in sim.cluster.nodes.values() for c in n.executor.containers.values()]
    assert containers == []


async def test_scaling_to_zero_and_back(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=2))
    await sim.converge("web", 2)
    sim.scale("web", 0)
    await sim.until(lambda: sim.running("web") == [], what="no tasks")
    sim.scale("web", 2)
    await sim.converge("web", 2)
    assert sorted(t.slot for t in sim.running("web")) == [1, 2]
