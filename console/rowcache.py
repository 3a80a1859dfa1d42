"""Rows kept from one refresh to the next, so a poll redraws only what changed.

The budget: a refresh of a 10,000-task view within 16 ms (a frame at 60 Hz), measured by
``benchmarks/console.py`` on 1,000 nodes, 100 services and 10,000 tasks, a tenth of them changing
each poll. Building every task row costs about 60 ms there, so rows are kept:

- the feed's change set (``console.model.ChangeSet``, computed in its worker thread) says which
  tasks and nodes changed since the snapshot the rows were made from; only those rows, and the
  task rows whose age text ran out ("Running 5 seconds ago"), are made again, in their places (a
  task's sort key never changes);
- when tasks came or went, or the snapshot is not the one the change set starts from, the rows
  are sorted again, each task's row reused while it is the same object as before.

The table (``console.widgets.resource_table``) then measures only the rows that are new objects.
Measured medians: refresh of the tasks view 11 to 13 ms, the nodes view 17 to 19 ms when every
node's figures change (the closing note of the change that set this shape has the runs).
"""

from __future__ import annotations

from itertools import compress, repeat
from operator import le

from console.model import ChangeSet, Snapshot
from console.render.rows import (
    NodeFigures,
    Row,
    TaskOrder,
    moment,
    node_figures,
    node_row,
    task_order,
    task_row,
)
from engine.api.objects import Node, Task

__all__ = ["NodeRowCache", "TaskRowCache"]


class NodeRowCache:
    """Rows of nodes by hostname, each kept while its node did not change and its task figures
    are the same."""

    def __init__(self) -> None:
        self._made: dict[str, tuple[Node, NodeFigures, Row]] = {}
        self._seen: Snapshot | None = None

    def rows(self, snapshot: Snapshot, changes: ChangeSet | None) -> list[Row]:
        fresh = changes is not None and changes.before is self._seen
        changed = changes.nodes.changed if changes is not None and fresh else None
        made: dict[str, tuple[Node, NodeFigures, Row]] = {}
        for node in snapshot.nodes:
            figures = node_figures(node, snapshot)
            known = self._made.get(node.id)
            same = known is not None and (
                node.id not in changed if changed is not None else known[0] is node
            )
            if known is not None and same and known[1] == figures:
                made[node.id] = (node, figures, known[2])
            else:
                made[node.id] = (node, figures, node_row(node, figures, snapshot))
        self._made, self._seen = made, snapshot
        ordered = sorted(snapshot.nodes, key=lambda n: snapshot.hostname(n.id))
        return [made[node.id][2] for node in ordered]


class TaskRowCache:
    """Rows of a list of tasks (a service's, a node's, or all), each slot's tasks together,
    newest first."""

    def __init__(self) -> None:
        self._seen: Snapshot | None = None
        self._names: dict[str, str] = {}  # service and node names by ID, to notice renames
        # In the order shown:
        self._tasks: list[Task] = []
        self._rows: list[Row] = []
        self._until: list[float] = []  # until when each row's age text holds
        self._place: dict[str, int] = {}  # where each task's row is shown, by task ID
        self._keys: dict[str, TaskOrder] = {}
        self._stamps: dict[str, float | None] = {}  # status timestamps, as Unix times

    def rows(self, snapshot: Snapshot, changes: ChangeSet | None, tasks: list[Task]) -> list[Row]:
        names = snapshot.names
        renamed = (
            {k for k in names.keys() | self._names.keys() if names.get(k) != self._names.get(k)}
            if names != self._names
            else set()
        )
        seen = self._seen
        if (
            changes is not None
            and seen is not None
            and changes.before is seen
            and not renamed
            and snapshot.now >= seen.now
            and len(tasks) == len(self._tasks)
            and self._place.keys().isdisjoint(changes.tasks.removed)
        ):
            self._redraw(snapshot, changes)
        else:
            self._rebuild(snapshot, tasks, renamed)
        self._seen, self._names = snapshot, names
        return self._rows

    def _redraw(self, snapshot: Snapshot, changes: ChangeSet) -> None:
        """The same tasks as last time: the rows of changed tasks and of those whose age text
        ran out are made again, in their places; a task that stayed on its node keeps its name
        and node cells."""
        place, now = self._place, snapshot.now
        changed = [place[i] for i in changes.tasks.changed if i in place]
        aged = compress(range(len(self._rows)), map(le, self._until, repeat(now)))
        stale = {*changed, *aged}
        if not stale:
            return
        task_by_id = snapshot.task_by_id
        rows = list(self._rows)  # a new list: the table tells changed rows by identity
        for index in stale:
            before = self._tasks[index]
            task = task_by_id.get(before.id, before)
            if task is not before:
                self._tasks[index] = task
                self._stamps[task.id] = moment(task.status.timestamp)
            named = rows[index].cells[:2] if task.node_id == before.node_id else None
            rows[index], self._until[index] = task_row(task, self._stamps[task.id], snapshot, named)
        self._rows = rows

    def _rebuild(self, snapshot: Snapshot, tasks: list[Task], renamed: set[str]) -> None:
        """Tasks came, went or moved: rows of tasks that are the same objects and whose age
        text holds are kept, the others made, and all sorted."""
        now = snapshot.now
        seen = self._seen
        known = self._place if seen is not None and now >= seen.now else {}
        keys: dict[str, TaskOrder] = {}
        stamps: dict[str, float | None] = {}
        made: list[tuple[TaskOrder, Task, Row, float]] = []
        for task in tasks:
            index = known.get(task.id)
            if (
                index is not None
                and self._tasks[index] is task
                and self._until[index] > now
                and task.service_id not in renamed
                and task.node_id not in renamed
            ):
                key, stamp = self._keys[task.id], self._stamps[task.id]
                row, until = self._rows[index], self._until[index]
            else:
                key, stamp = task_order(task, snapshot), moment(task.status.timestamp)
                row, until = task_row(task, stamp, snapshot)
            keys[task.id], stamps[task.id] = key, stamp
            made.append((key, task, row, until))
        made.sort(key=_first)
        self._keys, self._stamps = keys, stamps
        self._tasks = [task for _, task, _, _ in made]
        self._rows = [row for _, _, row, _ in made]
        self._until = [until for _, _, _, until in made]
        self._place = {task.id: index for index, task in enumerate(self._tasks)}


def _first(item: tuple[TaskOrder, Task, Row, float]) -> TaskOrder:
    return item[0]
