"""Restarts of a global service's failed tasks: on the same node, after the delay, within max
attempts counted per node, never on a paused node; and a task the policy does not restart stays
its node's task."""

from __future__ import annotations

from collections import Counter

from engine.api.objects import Task
from engine.api.specs import RestartCondition
from engine.api.types import Availability, TaskState
from tests.conftest import Sim, image_of, make_spec, update_spec

CRASH = {"swarmdeck.sim.crash-loop": "2s"}
HOSTS = ("swarm-master", "swarm-node-1", "swarm-node-2")


def on(sim: Sim, hostname: str, service: str = "agent") -> list[Task]:
    """The service's tasks on ``hostname``, oldest first."""
    tasks = [t for t in sim.tasks(service) if sim.hostname(t.node_id) == hostname]
    return sorted(tasks, key=lambda t: (t.created_at or "", t.id))


def failed(tasks: list[Task]) -> list[Task]:
    return [t for t in tasks if t.status.state == TaskState.FAILED]


async def test_a_failed_global_task_is_replaced_on_its_node_after_the_delay(sim: Sim) -> None:
    sim.control.create_service(
        make_spec(name="agent", mode="global", labels=CRASH, restart_delay=10)
    )
    await sim.until(lambda: bool(failed(on(sim, "swarm-node-1"))), what="a failure")
    failed_at = sim.clock.monotonic()
    (first,) = failed(on(sim, "swarm-node-1"))
    await sim.until(lambda: len(on(sim, "swarm-node-1")) == 2, what="a replacement")
    old, new = on(sim, "swarm-node-1")
    assert old.id == first.id and old.desired_state == TaskState.SHUTDOWN
    assert (new.node_id, new.slot) == (first.node_id, 0)  # same node, no slot: global
    # Parked in READY for the delay, then started.
    assert new.desired_state == TaskState.READY
    await sim.until(
        lambda: any(t.id == new.id and t.status.state == TaskState.RUNNING for t in sim.tasks()),
        what="the replacement running",
    )
    assert 10.0 <= sim.clock.monotonic() - failed_at <= 11.0
    # Every node gets its own replacement, and only one.
    await sim.until(lambda: all(len(on(sim, host)) >= 2 for host in HOSTS), what="replacements")
    meant = Counter(
        sim.hostname(t.node_id) for t in sim.tasks("agent") if t.desired_state <= TaskState.RUNNING
    )
    assert meant == dict.fromkeys(HOSTS, 1)


async def test_max_attempts_is_counted_per_node(sim: Sim) -> None:
    sim.control.create_service(
        make_spec(name="agent", mode="global", labels=CRASH, restart_delay=1, max_attempts=2)
    )
    await sim.advance(120)
    for hostname in HOSTS:
        tasks = on(sim, hostname)
        assert len(tasks) == 3, hostname  # the first run and two restarts on each node
        assert all(t.status.state == TaskState.FAILED for t in tasks)
        assert all(t.desired_state == TaskState.SHUTDOWN for t in tasks)


async def test_a_node_whose_task_is_out_of_attempts_gets_none_when_nodes_change(sim: Sim) -> None:
    sim.control.create_service(
        make_spec(name="agent", mode="global", labels=CRASH, restart_delay=1, max_attempts=1)
    )
    await sim.advance(60)
    assert [len(on(sim, host)) for host in HOSTS] == [2, 2, 2]
    # SwarmKit counts a task its restart policy will not restart as the node's task
    # (IsTaskUpdatable): looking at the nodes again creates nothing.
    sim.update_node("swarm-node-1", labels={"zone": "east"})
    sim.cluster.add_node("swarm-node-3")
    await sim.converge("agent", 1)
    await sim.advance(60)
    assert [len(on(sim, host)) for host in HOSTS] == [2, 2, 2]
    # A new spec is another story: each node runs it.
    update_spec(sim, "agent", image="nginx:1.11", labels={})
    await sim.converge("agent", 4)
    assert {image_of(t) for t in sim.running("agent")} == {"nginx:1.11"}


async def test_condition_none_never_replaces_a_global_task(sim: Sim) -> None:
    sim.control.create_service(
        make_spec(name="agent", mode="global", labels=CRASH, restart=RestartCondition.NONE)
    )
    await sim.until(lambda: len(failed(sim.tasks("agent"))) == 3, what="three failures")
    sim.update_node("swarm-node-2", labels={"zone": "east"})
    await sim.advance(60)
    assert len(sim.tasks("agent")) == 3
    assert all(t.desired_state == TaskState.SHUTDOWN for t in sim.tasks("agent"))


async def test_on_failure_leaves_a_completed_global_task_alone(sim: Sim) -> None:
    finish = {"swarmdeck.sim.exit-after": "2s"}
    sim.control.create_service(
        make_spec(name="agent", mode="global", labels=finish, restart=RestartCondition.ON_FAILURE)
    )
    await sim.until(
        lambda: sum(t.status.state == TaskState.COMPLETE for t in sim.tasks("agent")) == 3,
        what="three completed tasks",
    )
    sim.update_node("swarm-node-2", labels={"zone": "east"})
    await sim.advance(60)
    assert [t.status.state for t in sim.tasks("agent")] == [TaskState.COMPLETE] * 3


async def test_a_task_failing_on_a_paused_node_is_shut_down_not_restarted(sim: Sim) -> None:
    slow_crash = {"swarmdeck.sim.crash-loop": "20s"}
    sim.control.create_service(
        make_spec(name="agent", mode="global", labels=slow_crash, restart_delay=1)
    )
    await sim.converge("agent", 3)
    sim.update_node("swarm-node-1", availability=Availability.PAUSE)
    await sim.until(lambda: bool(failed(on(sim, "swarm-node-1"))), what="the paused node's failure")
    await sim.advance(60)
    (only,) = on(sim, "swarm-node-1")
    assert only.status.state == TaskState.FAILED
    assert only.desired_state == TaskState.SHUTDOWN
    # The active nodes' tasks are restarted all the while.
    assert len(on(sim, "swarm-master")) > 1 and len(on(sim, "swarm-node-2")) > 1
    # Once active again, the node gets a task.
    sim.update_node("swarm-node-1", availability=Availability.ACTIVE)
    await sim.until(
        lambda: any(t.status.state == TaskState.RUNNING for t in on(sim, "swarm-node-1")),
        what="a task on the node made active",
    )
