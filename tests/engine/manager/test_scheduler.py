"""Placement: spread, constraints, reservations, preferences and max replicas, as SwarmKit."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from engine.api.types import TaskState
from engine.errors import InvalidArgument
from engine.manager.controlapi import NodeResources
from tests.conftest import Sim, make_spec, start_sim


async def test_three_replicas_land_one_per_node(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=3))
    await sim.converge("web", 3)
    assert sim.per_node("web") == {"swarm-master": 1, "swarm-node-1": 1, "swarm-node-2": 1}


async def test_seven_replicas_spread_three_two_two(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=7))
    await sim.converge("web", 7)
    assert sorted(sim.per_node("web").values()) == [2, 2, 3]


async def test_spread_counts_the_service_before_all_tasks(sim: Sim) -> None:
    # swarm-master already runs two tasks of another service; a new service still goes 1/1/1.
    sim.control.create_service(
        make_spec(name="other", replicas=2, constraints=["node.role==manager"])
    )
    await sim.converge("other", 2)
    sim.control.create_service(make_spec(replicas=3))
    await sim.converge("web", 3)
    assert sim.per_node("web") == {"swarm-master": 1, "swarm-node-1": 1, "swarm-node-2": 1}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("node.hostname==swarm-node-1", {"swarm-node-1"}),
        ("node.hostname!=swarm-node-1", {"swarm-master", "swarm-node-2"}),
        ("node.role==manager", {"swarm-master"}),
        ("node.role!=manager", {"swarm-node-1", "swarm-node-2"}),
        ("node.labels.zone==east", {"swarm-node-2"}),
        ("node.labels.zone!=east", {"swarm-master", "swarm-node-1"}),
        ("engine.labels.storage==ssd", {"swarm-master", "swarm-node-1", "swarm-node-2"}),
        ("engine.labels.storage!=ssd", set()),
        ("node.platform.os==linux", {"swarm-master", "swarm-node-1", "swarm-node-2"}),
        ("node.platform.arch!=x86_64", set()),
        ("node.platform.arch==x86_64", {"swarm-master", "swarm-node-1", "swarm-node-2"}),
        ("node.platform.os!=linux", set()),
        ("node.hostname==SWARM-NODE-2", {"swarm-node-2"}),  # values compare case-insensitively
    ],
)
async def test_constraints_pick_nodes(expression: str, expected: set[str]) -> None:
    sim = await start_sim(resources=NodeResources(engine_labels={"storage": "ssd"}))
    try:
        sim.update_node("swarm-node-2", labels={"zone": "east"})
        sim.control.create_service(make_spec(replicas=6, constraints=[expression]))
        if expected:
            await sim.converge("web", 6)
            assert {host for host, n in sim.per_node("web").items() if n} == expected
        else:
            await sim.advance(10)
            assert sim.running("web") == []
    finally:
        await sim.cluster.stop()


async def test_constraint_on_node_id(sim: Sim) -> None:
    node_id = sim.node("swarm-node-1").id
    sim.control.create_service(make_spec(replicas=2, constraints=[f"node.id=={node_id}"]))
    await sim.converge("web", 2)
    assert sim.per_node("web")["swarm-node-1"] == 2
    sim.control.create_service(
        make_spec(name="elsewhere", replicas=4, constraints=[f"node.id!={node_id}"])
    )
    await sim.converge("elsewhere", 4)
    assert sim.per_node("elsewhere")["swarm-node-1"] == 0


async def test_impossible_constraint_leaves_tasks_pending_with_swarmkits_message(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=2, constraints=["node.labels.gpu==true"]))
    await sim.advance(10)
    tasks = sim.tasks("web")
    assert [t.status.state for t in tasks] == [TaskState.PENDING, TaskState.PENDING]
    assert {t.status.err for t in tasks} == {
        "no suitable node (scheduling constraints not satisfied on 3 nodes)"
    }
    # The tasks are scheduled as soon as a node fits.
    sim.update_node("swarm-node-1", labels={"gpu": "true"})
    await sim.converge("web", 2)
    assert sim.per_node("web")["swarm-node-1"] == 2


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("node.hostname=swarm-node-1", "constraint expected one operator from ==, !="),
        ("node.hostname>>1", "constraint expected one operator from ==, !="),
        ("==value", "key '' is invalid"),
        ("node.labels.zone==east;west", "value 'east;west' is invalid"),
    ],
)
async def test_invalid_constraint_syntax_is_rejected_at_create(
    sim: Sim, expression: str, message: str
) -> None:
    before = sim.cluster.store.version
    with pytest.raises(InvalidArgument, match=message):
        sim.control.create_service(make_spec(constraints=[expression]))
    assert sim.control.list_services() == []
    assert sim.cluster.store.version == before


async def test_reservations_never_overcommit_a_node() -> None:
    sim = await start_sim(resources=NodeResources(cpus=2.0, memory_bytes=2 * 2**30))
    try:
        # Each node fits two tasks of 0.9 CPU: six run, the seventh waits.
        sim.control.create_service(make_spec(replicas=7, cpus=0.9))
        await sim.converge("web", 6)
        await sim.advance(5)
        assert sorted(sim.per_node("web").values()) == [2, 2, 2]
        pending = [t for t in sim.tasks("web") if t.status.state == TaskState.PENDING]
        assert len(pending) == 1
        assert pending[0].status.err == "no suitable node (insufficient resources on 3 nodes)"
        # Memory counts too, and across services.
        sim.control.create_service(make_spec(name="db", replicas=1, memory=3 * 2**30))
        await sim.advance(5)
        (db,) = sim.tasks("db")
        assert db.status.state == TaskState.PENDING
        assert db.status.err == "no suitable node (insufficient resources on 3 nodes)"
        # Scaling web down frees room, and the waiting web task is placed.
        sim.scale("web", 6)
        await sim.advance(10)
        assert len(sim.running("web")) == 6
    finally:
        await sim.cluster.stop()


async def test_spread_preference_splits_tasks_evenly_across_zones() -> None:
    sim = await start_sim(nodes=6)
    try:
        zones = {
            "swarm-master": "a",
            "swarm-node-1": "a",
            "swarm-node-2": "a",
            "swarm-node-3": "b",
            "swarm-node-4": "b",
            "swarm-node-5": "c",
        }
        for hostname, zone in zones.items():
            sim.update_node(hostname, labels={"zone": zone})
        sim.control.create_service(make_spec(replicas=9, spread=["node.labels.zone"]))
        await sim.converge("web", 9)
        per_zone: dict[str, int] = {}
        for hostname, count in sim.per_node("web").items():
            per_zone[zones[hostname]] = per_zone.get(zones[hostname], 0) + count
        assert per_zone == {"a": 3, "b": 3, "c": 3}  # the documented 3/2/1-node example
    finally:
        await sim.cluster.stop()


async def test_nodes_without_the_label_form_their_own_group(sim: Sim) -> None:
    sim.update_node("swarm-master", labels={"zone": "a"})
    sim.update_node("swarm-node-1", labels={"zone": "b"})
    sim.control.create_service(make_spec(replicas=6, spread=["node.labels.zone"]))
    await sim.converge("web", 6)
    assert sim.per_node("web") == {"swarm-master": 2, "swarm-node-1": 2, "swarm-node-2": 2}


async def test_a_descriptor_swarmkit_cannot_read_groups_every_node_together(sim: Sim) -> None:
    """``spread=com.example.zone`` is accepted, as Docker does; it names neither node nor
    engine labels, so SwarmKit's preference tree has no level for it: one group, and the
    tasks spread over the nodes as without a preference."""
    sim.update_node("swarm-master", labels={"zone": "a"})
    sim.control.create_service(make_spec(replicas=6, spread=["com.example.zone"]))
    await sim.converge("web", 6)
    assert sim.per_node("web") == {"swarm-master": 2, "swarm-node-1": 2, "swarm-node-2": 2}


async def test_max_replicas_per_node_holds(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=5, max_replicas=1))
    await sim.converge("web", 3)
    await sim.advance(10)
    assert sim.per_node("web") == {"swarm-master": 1, "swarm-node-1": 1, "swarm-node-2": 1}
    pending = [t for t in sim.tasks("web") if t.status.state == TaskState.PENDING]
    assert len(pending) == 2
    assert all("max replicas per node limit exceed" in (t.status.err or "") for t in pending)


async def test_a_node_with_five_recent_failures_is_avoided(sim: Sim) -> None:
    sim.control.create_service(
        make_spec(
            name="crashy",
            constraints=["node.role==manager"],
            labels={"swarmdeck.sim.crash-loop": "1s"},
            restart_delay=0.5,
        )
    )
    failed: set[str] = set()

    def five_failures() -> bool:
        failed.update(t.id for t in sim.tasks("crashy") if t.status.state == TaskState.FAILED)
        return len(failed) >= 5

    await sim.until(five_failures, what="five failures on swarm-master")
    # Lift the constraint: the next replacement may go anywhere, and swarm-master, with five
    # failures of this service in five minutes, is the last choice.
    service = sim.control.get_service("crashy")
    template = service.spec.task_template
    assert template is not None and template.placement is not None
    unconstrained = replace(template, placement=replace(template.placement, constraints=None))
    sim.control.update_service(
        service.id, service.version.index, replace(service.spec, task_template=unconstrained)
    )

    def placed_elsewhere() -> list[str]:
        return [
            sim.hostname(t.node_id)
            for t in sim.tasks("crashy")
            if t.spec == unconstrained and t.node_id
        ]

    await sim.until(lambda: bool(placed_elsewhere()), what="a task of the new spec placed")
    assert "swarm-master" not in placed_elsewhere()
