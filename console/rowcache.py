"""Rows kept from one refresh to the next, so a poll redraws only what changed.

The budget: a refresh of a 10,000-task view within 16 ms (a frame at 60 Hz), from the poll's
snapshot reaching the app to its frame on the terminal, measured by ``benchmarks/console.py``
on 1,000 nodes, 100 services and 10,000 tasks, a tenth of them changing each poll. Making every
task row costs about 60 ms there, so:

- ``TaskRowMaker`` makes the row of every task in the feed's worker thread, with the snapshot,
  keeping a task's row while it is the same object (``engine.client.ListDecoder`` keeps those of
  unchanged answers) and its age text holds; ``TaskRowCache``, in the view, only puts the rows
  made anew in their places (a task's sort key never changes), or sorts when tasks came or went;
- ``NodeRowCache`` makes a node's row again when the change set names the node or its figures
  changed, in the feed's worker thread too;
- the table (``console.widgets.resource_table``) measures only rows that are new objects and
  keeps each drawn line while its row is the same;
- the sort values of the names of task rows made anew are made in the worker thread too
  (``console.render.tables``): sorting 10,000 task rows by name on the UI's thread then only
  looks them up.

Three measures keep the garbage collector out of a refresh; each was measured on the tasks view
(median of 12 refreshes, same session, base 10.7 and 13.6 ms): rows are structs it does not track
(tracked: 17.0 ms, single refreshes up to 60 ms); ``swarmdeck`` freezes what it loaded before it
runs (not frozen: 13.7 ms); the feed lets go of the snapshot before last in its worker thread
(on the UI's: 16.0 ms).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from console.model import ChangeSet, Since, Snapshot, since
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
from console.render.tables import remember_sort_values
from engine.api.objects import Node, Task

__all__ = ["NodeRowCache", "TaskRowCache", "TaskRowMaker", "TaskRows"]


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


@dataclass(frozen=True)
class TaskRows:
    """The row of every task of a snapshot, and which were made anew since ``before`` (their
    task changed, came, or its age text ran out): made by ``TaskRowMaker``."""

    rows: Mapping[str, Row]
    order: Mapping[str, TaskOrder]  # each task's sort key
    remade: frozenset[str]
    since: Since  # the snapshot before, by a weak reference (see ChangeSet)

    @property
    def before(self) -> Snapshot | None:
        return self.since() if self.since is not None else None


class TaskRowMaker:
    """Makes the row of every task of each snapshot, in the feed's worker thread, keeping the
    row of a task that is the same object (the client keeps those of unchanged answers) while
    its age text holds and its service and node keep their names."""

    def __init__(self) -> None:
        self._seen: Snapshot | None = None
        self._names: dict[str, str] = {}
        # By task ID: the task, its row, until when its age text holds, its status time.
        self._made: dict[str, tuple[Task, Row, float, float | None]] = {}
        self._order: dict[str, TaskOrder] = {}

    def make(self, snapshot: Snapshot) -> TaskRows:
        now, seen = snapshot.now, self._seen
        names = snapshot.names
        renamed = _renamed(self._names, names)
        old = self._made if seen is not None and now >= seen.now else {}
        made: dict[str, tuple[Task, Row, float, float | None]] = {}
        order: dict[str, TaskOrder] = {}
        remade = []
        for task in snapshot.tasks:
            key = task.id
            kept = old.get(key)
            moved = task.service_id in renamed or task.node_id in renamed
            if kept is not None and kept[0] is task and kept[2] > now and not moved:
                made[key], order[key] = kept, self._order[key]
                continue
            same = kept is not None and kept[0] is task
            stamp = kept[3] if same and kept is not None else moment(task.status.timestamp)
            named = None
            if kept is not None and kept[0].node_id == task.node_id and not moved:
                named = (kept[1].cells[0], kept[1].cells[2])
            row, until = task_row(task, stamp, snapshot, named)
            made[key] = (task, row, until, stamp)
            order[key] = (
                self._order[key] if kept is not None and not moved else task_order(task, snapshot)
            )
            remade.append(key)
        self._seen, self._names, self._made, self._order = snapshot, names, made, order
        rows = {key: value[1] for key, value in made.items()}
        # Names are all different, and made of numbers: the column slowest to sort the first
        # time (40 ms for 10,000 here); the others have few different cells.
        remember_sort_values((rows[key] for key in remade), 0)
        return TaskRows(rows, order, frozenset(remade), since(seen))


class TaskRowCache:
    """Rows of a list of tasks (a service's, a node's, or all) in the order shown: each slot's
    tasks together, newest first. The rows come from the snapshot's ``TaskRows``; the same
    tasks as last time keep their places, and only the rows made anew are put in."""

    def __init__(self) -> None:
        self._seen: Snapshot | None = None
        self._names: dict[str, str] = {}
        self._rows: list[Row] = []  # in the order shown
        self._place: dict[str, int] = {}  # where each task's row is shown, by task ID
        self._maker: TaskRowMaker | None = None  # for snapshots that come without rows

    def rows(
        self,
        snapshot: Snapshot,
        changes: ChangeSet | None,
        tasks: list[Task],
        made: TaskRows | None = None,
    ) -> list[Row]:
        if made is None:  # not from the feed: made here
            self._maker = self._maker or TaskRowMaker()
            made = self._maker.make(snapshot)
        names = snapshot.names
        if (
            changes is not None
            and self._seen is not None
            and made.before is self._seen
            and changes.before is self._seen
            and names == self._names
            and len(tasks) == len(self._rows)
            and self._place.keys().isdisjoint(changes.tasks.removed)
        ):
            rows, place = list(self._rows), self._place  # a new list: the table compares rows
            for key in made.remade:
                index = place.get(key)
                if index is not None:
                    rows[index] = made.rows[key]
            self._rows = rows
        else:
            order = made.order
            keys = sorted((task.id for task in tasks), key=order.__getitem__)
            self._place = {key: index for index, key in enumerate(keys)}
            self._rows = [made.rows[key] for key in keys]
        self._seen, self._names = snapshot, names
        return self._rows


def _renamed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """The IDs whose name is not what it was."""
    if before == after:
        return set()
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
