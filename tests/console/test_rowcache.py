"""Rows kept between refreshes: made again only for what the change set says changed."""

from __future__ import annotations

import dataclasses

from msgspec.structs import replace

from console.model import Snapshot, changes_between
from console.render.rows import Row
from console.rowcache import NodeRowCache, TaskRowCache
from engine.api.objects import Node, NodeDescription, NodeStatus, Task, TaskStatus, Version
from engine.api.types import NodeState, TaskState
from tests.console.test_render import service, task


class Polls:
    """Snapshots as the feed hands them over: each with the change set from the one before."""

    def __init__(self) -> None:
        self.before: Snapshot | None = None

    def nodes(self, cache: NodeRowCache, snapshot: Snapshot) -> list[Row]:
        changes, self.before = changes_between(self.before, snapshot), snapshot
        return cache.rows(snapshot, changes)

    def tasks(self, cache: TaskRowCache, snapshot: Snapshot) -> list[Row]:
        changes, self.before = changes_between(self.before, snapshot), snapshot
        return cache.rows(snapshot, changes, list(snapshot.tasks))


def test_nodes_show_memory_in_use_when_metrics_are_there() -> None:
    node = Node(
        id="n1",
        description=NodeDescription(hostname="swarm-node-1"),
        status=NodeStatus(state=NodeState.READY),
    )
    with_usage = Snapshot(nodes=(node,), tasks=(task(1, "x"),), usage={"t1": (1.0, 64 * 2**20)})
    assert Polls().nodes(NodeRowCache(), with_usage)[0].cells[6] == "64MiB"
    assert Polls().nodes(NodeRowCache(), Snapshot(nodes=(node,)))[0].cells[6] == "-"


def test_node_rows_are_kept_while_the_node_and_its_figures_are_the_same() -> None:
    nodes = tuple(
        Node(
            id=f"n{i}",
            description=NodeDescription(hostname=f"swarm-node-{i}"),
            status=NodeStatus(state=NodeState.READY),
        )
        for i in (2, 1)
    )
    cache, polls = NodeRowCache(), Polls()
    first = polls.nodes(cache, Snapshot(nodes=nodes))
    assert [row.cells[0] for row in first] == ["swarm-node-1", "swarm-node-2"]
    again = polls.nodes(cache, Snapshot(nodes=nodes, tasks=()))
    assert again[0] is first[0] and again[1] is first[1]
    busy = polls.nodes(cache, Snapshot(nodes=nodes, tasks=(task(1, "x"),)))  # a task runs on n1
    assert busy[0] is not first[0] and busy[0].cells[7] == "1" and busy[1] is first[1]
    down = replace(nodes[1], status=NodeStatus(state=NodeState.DOWN))  # a new object for n1
    moved = polls.nodes(cache, Snapshot(nodes=(nodes[0], down), tasks=(task(1, "x"),)))
    assert moved[0].cells[2] == "down" and moved[0].state == "bad" and moved[1] is first[1]


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
    cache, polls = TaskRowCache(), Polls()

    def poll(base: Snapshot, now: float | None = None, *listed: Task) -> list[Row]:
        changes = {"tasks": listed} if listed else {}
        return polls.tasks(cache, dataclasses.replace(base, now=now or base.now, **changes))

    first = poll(snapshot)
    assert [row.key for row in first] == ["a-new", "a-old", "b"]

    later = dataclasses.replace(snapshot, now=1767232801.0)
    again = poll(later)  # the same task objects, the same age texts
    assert again == first and all(x is y for x, y in zip(again, first, strict=True))

    failed = replace(tasks[0], status=TaskStatus(state=TaskState.FAILED, err="boom",
                     timestamp="2026-01-01T00:00:00Z"), version=Version(index=2))  # fmt: skip
    changed = poll(later, None, failed, tasks[1], tasks[2])
    assert [row.key for row in changed] == ["a-new", "a-old", "b"]
    assert changed[0] is first[0] and changed[1] is first[1]
    assert changed[2] is not first[2] and changed[2].state == "bad" and "boom" in changed[2].cells

    added = made("c", 3, "2026-01-01T00:00:04Z")
    grown = poll(later, None, added, failed, tasks[1], tasks[2])
    assert [row.key for row in grown] == ["a-new", "a-old", "b", "c"]
    assert grown[0] is first[0] and grown[2] is changed[2]

    # Two hours after the timestamps' moment the age texts say "2 hours ago" until 2.5 hours.
    assert first[0].cells[4] == "Running 2 hours ago"
    every = [added, failed, *tasks[1:]]
    aged = poll(snapshot, 1767232800.0 + 1800, *every)
    ages = [row.cells[4].split(" ", 1)[1] for row in aged]
    assert ages == ["3 hours ago"] * 4

    renamed = replace(service(), spec=replace(service().spec, name="api"))
    moved = dataclasses.replace(snapshot, services=(renamed,), now=1767232800.0 + 1800)
    names = [row.cells[0] for row in poll(moved, None, *every)]
    assert names == ["api.1", "api.1", "api.2", "api.3"]

    back = poll(snapshot, None, *every)  # a clock that went back
    assert back[0].cells[4] == "Running 2 hours ago"


def test_task_rows_are_made_again_for_what_the_change_set_names() -> None:
    """The rows follow the change set: a task it names is drawn again, one it does not name
    keeps its row, and a change set from another snapshot than the last drawn rebuilds."""
    tasks = tuple(replace(task(n, "nginx:1.11"), created_at="2026-01-01T00:00:00Z") for n in (1, 2))
    first_snapshot = Snapshot(services=(service(),), tasks=tasks, now=1767225600.0)
    cache = TaskRowCache()
    first = cache.rows(first_snapshot, changes_between(None, first_snapshot), list(tasks))
    failed = replace(tasks[1], status=TaskStatus(state=TaskState.FAILED), version=Version(index=3))
    second_snapshot = dataclasses.replace(first_snapshot, tasks=(tasks[0], failed))
    changes = changes_between(first_snapshot, second_snapshot)
    assert changes.tasks.changed == {"t2"} and not changes.tasks.added | changes.tasks.removed
    second = cache.rows(second_snapshot, changes, [tasks[0], failed])
    assert second[0] is first[0] and second[1] is not first[1] and second[1].state == "bad"
    elsewhere = changes_between(None, second_snapshot)  # not from the snapshot last drawn
    third = cache.rows(second_snapshot, elsewhere, [tasks[0], failed])
    assert [row.key for row in third] == ["t1", "t2"] and third[1].state == "bad"
