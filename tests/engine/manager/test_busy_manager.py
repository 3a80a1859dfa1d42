"""A manager busy with a big change keeps the cluster: work goes in bounded steps, and a node
is never marked down because the manager was too busy to take its heartbeats."""

from __future__ import annotations

import asyncio
import time

from engine.api.events import EventCommit
from engine.api.types import NodeState, TaskState
from engine.clock import SystemClock
from engine.embedded import EmbeddedCluster
from engine.manager.loop import BATCH
from tests.conftest import make_spec


async def test_no_node_goes_down_while_the_manager_is_busy() -> None:
    cluster = EmbeddedCluster(nodes=3, clock=SystemClock(), seed=1, heartbeat_period=0.1)
    await cluster.start()
    try:
        await _until(lambda: all(n.status.state == NodeState.READY for n in _nodes(cluster)))
        for _ in range(3):
            time.sleep(0.6)  # the loop held up: twice the 0.3 s grace, no heartbeat taken
            await asyncio.sleep(0.2)
        assert [n.status.state for n in _nodes(cluster)] == [NodeState.READY] * 3
    finally:
        await cluster.stop()


async def test_a_node_that_stops_heartbeating_still_goes_down() -> None:
    cluster = EmbeddedCluster(nodes=3, clock=SystemClock(), seed=1, heartbeat_period=0.1)
    await cluster.start()
    try:
        await _until(lambda: all(n.status.state == NodeState.READY for n in _nodes(cluster)))
        cluster.nodes["swarm-node-2"].agent.disconnect()
        await _until(
            lambda: cluster.control.get_node("swarm-node-2").status.state == NodeState.DOWN
        )
    finally:
        await cluster.stop()


async def test_a_big_service_is_created_and_removed_in_bounded_commits() -> None:
    cluster = EmbeddedCluster(nodes=3, clock=SystemClock(), seed=1)
    await cluster.start()
    sizes: list[int] = []
    watcher = cluster.store.watch()
    try:
        replicas = 5 * BATCH
        service = cluster.control.create_service(make_spec(replicas=replicas))

        def running() -> int:
            tasks = cluster.control.list_tasks(service.id)
            return sum(t.status.state == TaskState.RUNNING for t in tasks)

        await _until(lambda: running() == replicas, timeout=120)
        cluster.control.remove_service(service.id)
        await _until(lambda: not cluster.control.list_tasks(service.id), timeout=120)
        size = 0
        for event in watcher.get_nowait():
            if isinstance(event, EventCommit):
                sizes.append(size)
                size = 0
            else:
                size += 1
        # Every commit, from the orchestrators, scheduler, dispatcher and reaper, is bounded.
        assert max(sizes) <= 2 * BATCH
        assert sum(sizes) >= 3 * replicas  # and the work was all done, in many commits
    finally:
        watcher.close()
        await cluster.stop()


async def test_a_service_scaled_in_the_middle_of_its_creation_ends_with_its_new_count() -> None:
    cluster = EmbeddedCluster(nodes=3, clock=SystemClock(), seed=1)
    await cluster.start()
    try:
        service = cluster.control.create_service(make_spec(replicas=12 * BATCH))

        def slots() -> list[int]:
            tasks = cluster.control.list_tasks(service.id)
            return sorted(t.slot for t in tasks if t.desired_state <= TaskState.RUNNING)

        await _turns_until(lambda: len(slots()) >= 2 * BATCH)
        assert len(slots()) < 12 * BATCH  # still being created, in steps
        for replicas in (3 * BATCH, 8 * BATCH):
            current = cluster.control.get_service(service.id)
            cluster.control.update_service(
                service.id, current.version.index, make_spec(replicas=replicas)
            )
            await _until(lambda n=replicas: len(slots()) == n, timeout=60)  # type: ignore[misc]
            assert len(set(slots())) == replicas  # one task to a slot: none filled twice
    finally:
        await cluster.stop()


def _nodes(cluster: EmbeddedCluster) -> list:  # type: ignore[type-arg]
    return sorted(cluster.control.list_nodes(), key=lambda n: n.description.hostname)


async def _until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _turns_until(condition, limit: int = 100_000) -> None:  # type: ignore[no-untyped-def]
    """Waits turn by turn of the event loop: catches a step in the middle of a big change."""
    for _ in range(limit):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("not reached")
