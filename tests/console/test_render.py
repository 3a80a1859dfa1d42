"""Renderers: rows from snapshots, without Textual."""

from __future__ import annotations

import dataclasses

from msgspec.structs import replace

from console.model import Snapshot
from console.render.formatting import age_until, bar, size
from console.render.rows import NodeRowCache, TaskRowCache, service_rows
from engine.api.durations import human_duration, human_duration_until
from engine.api.objects import (
    Node,
    NodeDescription,
    NodeStatus,
    Service,
    Task,
    TaskStatus,
    UpdateStatus,
    Version,
)
from engine.api.specs import ContainerSpec, ReplicatedService, ServiceMode, ServiceSpec, TaskSpec
from engine.api.types import NodeState, TaskState


def service(image: str = "nginx:1.11") -> Service:
    return Service(
        id="s1",
        spec=ServiceSpec(
            name="web",
            mode=ServiceMode(replicated=ReplicatedService(replicas=3)),
            task_template=TaskSpec(container_spec=ContainerSpec(image=image)),
        ),
        update_status=UpdateStatus(state="updating"),
    )


def task(number: int, image: str) -> Task:
    return Task(
        id=f"t{number}",
        service_id="s1",
        slot=number,
        node_id="n1",
        spec=TaskSpec(container_spec=ContainerSpec(image=image)),
        desired_state=TaskState.RUNNING,
        status=TaskStatus(state=TaskState.RUNNING),
    )


def test_an_update_shows_its_progress() -> None:
    snapshot = Snapshot(
        services=(service(),),
        tasks=(task(1, "nginx:1.11"), task(2, "nginx:1.11"), task(3, "nginx:1.10")),
    )
    (row,) = service_rows(snapshot)
    assert row.cells[2] == "3/3"
    assert row.cells[6] == "updating 2/3"
    assert row.state == "busy"
    paused = replace(snapshot.services[0], update_status=UpdateStatus(state="paused"))
    (row,) = service_rows(dataclasses.replace(snapshot, services=(paused,)))
    assert row.cells[6] == "paused 2/3" and row.state == "bad"


def test_nodes_show_memory_in_use_when_metrics_are_there() -> None:
    node = Node(
        id="n1",
        description=NodeDescription(hostname="swarm-node-1"),
        status=NodeStatus(state=NodeState.READY),
    )
    with_usage = Snapshot(nodes=(node,), tasks=(task(1, "x"),), usage={"t1": (1.0, 64 * 2**20)})
    assert NodeRowCache().rows(with_usage)[0].cells[6] == "64MiB"
    assert NodeRowCache().rows(Snapshot(nodes=(node,)))[0].cells[6] == "-"


def test_node_rows_are_kept_while_the_node_and_its_figures_are_the_same() -> None:
    nodes = tuple(
        Node(
            id=f"n{i}",
            description=NodeDescription(hostname=f"swarm-node-{i}"),
            status=NodeStatus(state=NodeState.READY),
        )
        for i in (2, 1)
    )
    cache = NodeRowCache()
    first = cache.rows(Snapshot(nodes=nodes))
    assert [row.cells[0] for row in first] == ["swarm-node-1", "swarm-node-2"]
    again = cache.rows(Snapshot(nodes=nodes, tasks=()))
    assert again[0] is first[0] and again[1] is first[1]
    busy = cache.rows(Snapshot(nodes=nodes, tasks=(task(1, "x"),)))  # a task runs on n1
    assert busy[0] is not first[0] and busy[0].cells[7] == "1" and busy[1] is first[1]
    down = replace(nodes[1], status=NodeStatus(state=NodeState.DOWN))  # a new object for n1
    moved = cache.rows(Snapshot(nodes=(nodes[0], down), tasks=(task(1, "x"),)))
    assert moved[0].cells[2] == "down" and moved[0].state == "bad" and moved[1] is first[1]


def test_an_age_and_its_end_are_those_of_the_duration_it_comes_from() -> None:
    """Ages are looked up by the whole second below an hour and by the half hour above."""
    moment = 1767225600.0
    edges = [-5.5, 0, 0.4, 59.99, 61.5, 3599.9, 3600, 5399.9, 5400, 2 * 365 * 86400 - 1]
    for elapsed in [*edges, *(step * 997.3 for step in range(100_000))]:  # three years
        seconds = max(0.0, elapsed)
        expected = (f"{human_duration(seconds)} ago", moment + human_duration_until(seconds)[1])
        assert age_until(moment, moment + elapsed) == expected, elapsed


def test_formats() -> None:
    assert [size(512), size(64 * 2**20), size(3 * 2**30)] == ["512B", "64MiB", "3GiB"]
    assert bar(2, 4, width=8) == "████░░░░"
    assert bar(0, 0, width=4) == "░░░░"


def test_task_rows_group_slots_newest_first_and_reuse_what_did_not_change() -> None:
    def made(task_id: str, slot: int, created: str, state: TaskState = TaskState.RUNNING) -> Task:
        return replace(
            task(slot, "nginx:1.11"),
            id=task_id,
            created_at=created,
            status=TaskStatus(state=state, timestamp="2026-01-01T00:00:00Z"),
            version=Version(index=1),
        )

    tasks = [
        made("b", 2, "2026-01-01T00:00:03Z"),
        made("a-old", 1, "2026-01-01T00:00:01Z", TaskState.SHUTDOWN),
        made("a-new", 1, "2026-01-01T00:00:02Z"),
    ]
    snapshot = Snapshot(nodes=(), services=(service(),), tasks=tuple(tasks), now=1767232800.0)
    cache = TaskRowCache()
    first = cache.rows(snapshot, tasks)
    assert [row.key for row in first] == ["a-new", "a-old", "b"]

    later = dataclasses.replace(snapshot, now=1767232801.0)
    again = cache.rows(later, list(tasks))  # the same task objects, the same age texts
    assert again == first and all(x is y for x, y in zip(again, first, strict=True))

    failed = replace(tasks[0], status=TaskStatus(state=TaskState.FAILED, err="boom",
                     timestamp="2026-01-01T00:00:00Z"), version=Version(index=2))  # fmt: skip
    changed = cache.rows(later, [failed, tasks[1], tasks[2]])
    assert [row.key for row in changed] == ["a-new", "a-old", "b"]
    assert changed[0] is first[0] and changed[1] is first[1]
    assert changed[2] is not first[2] and changed[2].state == "bad" and "boom" in changed[2].cells

    added = made("c", 3, "2026-01-01T00:00:04Z")
    grown = cache.rows(later, [added, failed, tasks[1], tasks[2]])
    assert [row.key for row in grown] == ["a-new", "a-old", "b", "c"]
    assert grown[0] is first[0] and grown[2] is changed[2]

    # Two hours after the timestamps' moment the age texts say "2 hours ago" until 2.5 hours.
    assert first[0].cells[3] == "Running 2 hours ago"
    every = [added, failed, *tasks[1:]]
    aged = cache.rows(dataclasses.replace(snapshot, now=1767232800.0 + 1800), every)
    ages = [row.cells[3].split(" ", 1)[1] for row in aged]
    assert ages == ["3 hours ago"] * 4

    renamed = replace(service(), spec=replace(service().spec, name="api"))
    moved = dataclasses.replace(snapshot, services=(renamed,), now=1767232800.0 + 1800)
    names = [row.cells[0] for row in cache.rows(moved, every)]
    assert names == ["api.1", "api.1", "api.2", "api.3"]

    back = cache.rows(snapshot, every)  # a clock that went back
    assert back[0].cells[3] == "Running 2 hours ago"
