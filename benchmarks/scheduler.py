"""Scheduler throughput, measured the way SwarmKit's BenchmarkScheduler* measure it.

Each run builds a fresh in-memory store, creates all nodes and all pending tasks of one service
in one transaction, starts the scheduler, and stops the clock when every task is ASSIGNED. The
figure includes creating the objects, as SwarmKit's published numbers do (1.8 s for 10,000 tasks
on 1,000 nodes; 22.6 s for 100,000). Prints ``BENCH <name> <median seconds>`` per case.

    python benchmarks/scheduler.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from engine.api.durations import SECOND
from engine.api.events import EventUpdate
from engine.api.objects import Node, NodeDescription, NodeStatus, Service, Task, TaskStatus
from engine.api.specs import (
    ContainerSpec,
    NodeSpec,
    ReplicatedService,
    ResourceObject,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from engine.api.types import Availability, NodeRole, NodeState, TaskState
from engine.clock import SystemClock
from engine.ids import IdGenerator
from engine.manager.scheduler import Scheduler
from engine.store import MemoryStore, Tx

CASES = (("scheduler_10k_1k_seconds", 10_000, 1_000), ("scheduler_100k_1k_seconds", 100_000, 1_000))


async def schedule(tasks: int, nodes: int) -> float:
    clock = SystemClock()
    store = MemoryStore(clock.time)
    ids = IdGenerator(1)
    spec = ServiceSpec(
        name="bench",
        mode=ServiceMode(replicated=ReplicatedService(replicas=tasks)),
        task_template=TaskSpec(container_spec=ContainerSpec(image="alpine:latest")),
    )
    started = time.perf_counter()

    def populate(tx: Tx) -> None:
        for index in range(nodes):
            tx.create(
                Node(
                    id=ids.new_id(),
                    spec=NodeSpec(role=NodeRole.WORKER, availability=Availability.ACTIVE),
                    description=NodeDescription(
                        hostname=f"node-{index}",
                        resources=ResourceObject(nano_cpus=4 * SECOND, memory_bytes=8 * 2**30),
                    ),
                    status=NodeStatus(state=NodeState.READY),
                )
            )
        service = tx.create(Service(id=ids.new_id(), spec=spec))
        pending = TaskStatus(state=TaskState.PENDING, message="pending task scheduling")
        template = spec.task_template or TaskSpec()
        for slot in range(1, tasks + 1):
            tx.create(
                Task(
                    id=ids.new_id(),
                    spec=template,
                    service_id=service.id,
                    slot=slot,
                    status=pending,
                    desired_state=TaskState.RUNNING,
                )
            )

    assigned = 0
    watcher = store.watch(
        lambda e: isinstance(e, EventUpdate) and isinstance(e.obj, Task) and e.obj.node_id != ""
    )
    store.update(populate)
    runner = asyncio.create_task(Scheduler(store, clock).run())
    try:
        async for _ in watcher:
            assigned += 1
            if assigned == tasks:
                break
    finally:
        runner.cancel()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per case (median is printed)")
    args = parser.parse_args()
    for name, tasks, nodes in CASES:
        runs = [asyncio.run(schedule(tasks, nodes)) for _ in range(args.runs)]
        print(f"# {name}: runs {', '.join(f'{r:.3f}' for r in runs)}")
        print(f"BENCH {name} {statistics.median(runs):.3f}")


if __name__ == "__main__":
    main()
