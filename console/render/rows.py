"""Rows of the node, service and task tables, from a snapshot. Each row has a key, its cells
and a state (a CSS class the table gives the row, so colours come from the theme)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import compress, repeat
from operator import is_not, le

import msgspec

from console.model import Snapshot
from console.render.formatting import age_until, bar, cpus, size
from console.sanitize import sanitize_field
from engine.api import naming
from engine.api.durations import parse_timestamp
from engine.api.objects import Node, Service, Task
from engine.api.types import Availability, NodeRole, NodeState, TaskState

__all__ = [
    "NODE_COLUMNS",
    "SERVICE_COLUMNS",
    "TASK_COLUMNS",
    "NodeRowCache",
    "Row",
    "TaskRowCache",
    "service_rows",
]


class Row(msgspec.Struct, gc=False):
    """One table row; not changed once made. Not tracked by the garbage collector: a tasks
    view holds tens of thousands of them, and collections would walk them all."""

    key: str
    cells: tuple[str, ...]
    state: str = ""  # "", "ok", "warn", "bad", "off", "busy"

    def matches(self, needle: str) -> bool:
        lowered = needle.lower()
        return any(lowered in cell.lower() for cell in self.cells)


NODE_COLUMNS = (
    "HOSTNAME",
    "ROLE",
    "STATE",
    "AVAIL",
    "CPU RES",
    "MEM RES",
    "MEM USED",
    "TASKS",
    "ENGINE",
    "LABELS",
)
SERVICE_COLUMNS = ("NAME", "MODE", "REPLICAS", "", "IMAGE", "PORTS", "UPDATE")
TASK_COLUMNS = ("NAME", "NODE", "DESIRED", "CURRENT", "ERROR", "EXIT")


def _manager(node: Node) -> str:
    if node.spec.role != NodeRole.MANAGER:
        return "worker"
    if node.manager_status is not None and node.manager_status.leader:
        return "leader"
    return "manager"


class NodeRowCache:
    """Rows of nodes by hostname, each kept while its node is the same object (polls keep the
    objects of nodes that did not change) and its task figures are the same."""

    def __init__(self) -> None:
        self._made: dict[str, tuple[Node, _NodeFigures, Row]] = {}

    def rows(self, snapshot: Snapshot) -> list[Row]:
        made: dict[str, tuple[Node, _NodeFigures, Row]] = {}
        for node in snapshot.nodes:
            figures = (
                snapshot.reserved_by_node.get(node.id, (0, 0)),
                snapshot.memory_by_node.get(node.id, 0) if snapshot.usage else None,
                snapshot.running_by_node[node.id],
            )
            known = self._made.get(node.id)
            if known is not None and known[0] is node and known[1] == figures:
                made[node.id] = known
            else:
                made[node.id] = (node, figures, _node_row(node, figures, snapshot))
        self._made = made
        ordered = sorted(snapshot.nodes, key=lambda n: snapshot.hostname(n.id))
        return [made[node.id][2] for node in ordered]


# CPU and memory reserved, memory in use (None: not known), tasks running
_NodeFigures = tuple[tuple[int, int], int | None, int]


def _node_row(node: Node, figures: _NodeFigures, snapshot: Snapshot) -> Row:
    (reserved_cpu, reserved_mem), used_mem, running = figures
    description = node.description
    resources = description.resources if description else None
    total_cpu = (resources.nano_cpus or 0) if resources else 0
    total_mem = (resources.memory_bytes or 0) if resources else 0
    availability = node.spec.availability or Availability.ACTIVE
    labels = ",".join(f"{k}={v}" for k, v in sorted((node.spec.labels or {}).items()))
    state = "ok"
    if node.status.state != NodeState.READY:
        state = "bad"
    elif availability != Availability.ACTIVE:
        state = "off"
    engine = description.engine if description else None
    return Row(
        node.id,
        (
            sanitize_field(snapshot.hostname(node.id)),
            _manager(node),
            node.status.state.value,
            availability.value,
            f"{cpus(reserved_cpu)}/{cpus(total_cpu)}",
            f"{size(reserved_mem)}/{size(total_mem)}",
            "-" if used_mem is None else size(used_mem),
            str(running),
            sanitize_field(engine.engine_version if engine else ""),
            sanitize_field(labels, 40),
        ),
        state,
    )


def replicas(service: Service, snapshot: Snapshot) -> tuple[int, int]:
    """Running and desired tasks: from ServiceStatus when the endpoint gives it."""
    status = service.service_status
    if status is not None:
        return status.running_tasks, status.desired_tasks
    tasks = snapshot.tasks_by_service.get(service.id, [])
    running = sum(
        1
        for t in tasks
        if t.status.state == TaskState.RUNNING and t.desired_state == TaskState.RUNNING
    )
    mode = service.spec.mode
    if mode is not None and mode.global_ is not None:
        return running, sum(1 for t in tasks if t.desired_state == TaskState.RUNNING)
    wanted = (mode.replicated.replicas or 0) if mode and mode.replicated else 1
    return running, wanted


def image(service: Service) -> str:
    template = service.spec.task_template
    container = template.container_spec if template else None
    return ((container.image if container else None) or "").split("@", 1)[0]


def ports(service: Service) -> str:
    endpoint = service.endpoint
    items = (endpoint.ports if endpoint else None) or []
    return ",".join(
        f"*:{p.published_port}->{p.target_port}/{p.protocol or 'tcp'}"
        for p in items
        if p.published_port
    )


def updated(service: Service, snapshot: Snapshot) -> int:
    """Running tasks that already run the service's current spec: an update's progress."""
    template = service.spec.task_template
    return sum(
        1
        for t in snapshot.tasks_by_service.get(service.id, [])
        if t.status.state == TaskState.RUNNING
        and t.desired_state == TaskState.RUNNING
        and t.spec == template
    )


def service_rows(snapshot: Snapshot) -> list[Row]:
    rows = []
    for service in sorted(snapshot.services, key=lambda s: s.spec.name or ""):
        running, desired = replicas(service, snapshot)
        mode = service.spec.mode
        kind = "global" if mode is not None and mode.global_ is not None else "replicated"
        update = service.update_status
        update_text = (update.state or "") if update else ""
        if update_text in ("updating", "rollback_started", "paused", "rollback_paused"):
            update_text += f" {updated(service, snapshot)}/{desired}"
        state = "ok" if running >= desired else ("bad" if running == 0 and desired else "warn")
        if update_text.startswith(("updating", "rollback_started")):
            state = "busy"
        elif update_text.startswith(("paused", "rollback_paused")):
            state = "bad"
        rows.append(
            Row(
                service.id,
                (
                    sanitize_field(service.spec.name),
                    kind,
                    f"{running}/{desired}",
                    bar(running, desired),
                    sanitize_field(image(service), 60),
                    ports(service),
                    update_text.replace("_", " "),
                ),
                state,
            )
        )
    return rows


def task_name(task: Task, snapshot: Snapshot) -> str:
    return naming.task_name(
        sanitize_field(snapshot.service_name(task.service_id)), task, short=True
    )


class TaskRowCache:
    """Rows of tasks from earlier snapshots, kept while a task is the same object and its age
    text still holds.

    Polls reuse the objects of tasks that did not change (``engine.client.ListDecoder``), so a
    changed task is found by identity, in one pass in C. When the poll lists the same tasks in
    the same order, which is usual, only the changed tasks and those whose age text ran out are
    drawn again, and they keep their places: a task's sort key (service, slot or node, creation,
    ID) never changes. What is kept per task is kept in flat lists, in the poll's order.
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._names: dict[str, str] = {}  # service and node names by ID, for renames
        self._tasks: list[Task] = []
        self._stamps: list[float | None] = []  # status timestamps, as Unix times
        self._until: list[float] = []  # until when each row's age text holds
        self._keys: list[str] = []  # sort keys
        self._made: list[Row] = []
        self._place: list[int] = []  # where each task's row is shown
        self._rows: list[Row] = []  # in the order shown

    def rows(self, snapshot: Snapshot, tasks: list[Task]) -> list[Row]:
        """Rows of ``tasks``: each slot's tasks together, newest first."""
        names = snapshot.names
        renamed = (
            {
                key
                for key in names.keys() | self._names.keys()
                if names.get(key) != self._names.get(key)
            }
            if names != self._names
            else set()
        )
        now, before = snapshot.now, self._tasks
        if len(tasks) == len(before) and not renamed and now >= self._now:
            indices = range(len(tasks))
            changed = list(compress(indices, map(is_not, tasks, before)))
            if all(tasks[index].id == before[index].id for index in changed):
                aged = compress(indices, map(le, self._until, repeat(now)))
                self._redraw(snapshot, tasks, changed, aged, before)
            else:
                self._rebuild(snapshot, tasks, renamed)
        else:
            self._rebuild(snapshot, tasks, renamed)
        self._now, self._names, self._tasks = now, names, tasks
        return self._rows

    def _redraw(
        self,
        snapshot: Snapshot,
        tasks: list[Task],
        changed: list[int],
        aged: Iterable[int],
        before: list[Task],
    ) -> None:
        """The same tasks as last time: rows of changed tasks and of those whose age text ran
        out are drawn again, each put back in its place, with the name and node cells it had
        when the task stayed on its node."""
        stale = {*changed, *aged}
        if not stale:
            return
        for index in changed:
            self._stamps[index] = _moment(tasks[index].status.timestamp)
        shown, place, made = list(self._rows), self._place, self._made
        for index in stale:
            task = tasks[index]
            named = made[index].cells[:2] if task.node_id == before[index].node_id else None
            row, self._until[index] = _task_row(task, self._stamps[index], snapshot, named)
            made[index] = shown[place[index]] = row
        self._rows = shown

    def _rebuild(self, snapshot: Snapshot, tasks: list[Task], renamed: set[str]) -> None:
        """Tasks came, went or moved: rows of unchanged tasks whose age text holds are kept,
        the others made, and all sorted."""
        now = snapshot.now
        known = {task.id: index for index, task in enumerate(self._tasks)}
        if now < self._now:  # the clock went back: every age text is recomputed
            known = {}
        stamps: list[float | None] = []
        until: list[float] = []
        keys: list[str] = []
        made: list[Row] = []
        for task in tasks:
            index = known.get(task.id)
            if (
                index is not None
                and self._tasks[index] is task
                and self._until[index] > now
                and task.service_id not in renamed
                and task.node_id not in renamed
            ):
                stamps.append(self._stamps[index])
                until.append(self._until[index])
                keys.append(self._keys[index])
                made.append(self._made[index])
                continue
            stamp = _moment(task.status.timestamp)
            row, holds = _task_row(task, stamp, snapshot)
            stamps.append(stamp)
            until.append(holds)
            keys.append(_order(task, snapshot))
            made.append(row)
        order = sorted(range(len(tasks)), key=keys.__getitem__)
        place = [0] * len(order)
        for shown, index in enumerate(order):
            place[index] = shown
        self._stamps, self._until, self._keys, self._made = stamps, until, keys, made
        self._place, self._rows = place, list(map(made.__getitem__, order))


def _moment(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    try:
        return parse_timestamp(timestamp)
    except ValueError:
        return None


def _order(task: Task, snapshot: Snapshot) -> str:
    """Sorts by service, slot (or node for global tasks), newest first (by creation, which
    never changes), then by ID; one string compares faster than a tuple, and sanitized names
    hold no NUL."""
    service = sanitize_field(snapshot.service_name(task.service_id))
    place = "" if task.slot else task.node_id or ""
    created = parse_timestamp(task.created_at) if task.created_at else 0.0
    return f"{service}\0{task.slot:09d}\0{place}\0{10**13 - round(created * 1000):014d}\0{task.id}"


def _task_row(
    task: Task, stamp: float | None, snapshot: Snapshot, named: tuple[str, ...] | None = None
) -> tuple[Row, float]:
    """The task's row as of ``snapshot.now``, and until when its age text holds. ``named``: its
    name and node cells, when they are known to be the same as before."""
    when, until = age_until(stamp, snapshot.now) if stamp is not None else ("", math.inf)
    if named is None:
        host = sanitize_field(snapshot.hostname(task.node_id)) if task.node_id else ""
        named = (task_name(task, snapshot), host)
    status = task.status
    state, desired = status.state.rank, task.desired_state.rank
    if state in _FAILED:
        row_state = "bad"
    elif desired > _RUNNING:
        row_state = "off"
    elif state < _RUNNING:
        row_state = "busy"
    else:
        row_state = "ok"
    container = status.container_status
    exit_code = container.exit_code if container is not None else None
    row = Row(
        task.id,
        (
            *named,
            _LABELS[desired],
            f"{_LABELS[state]} {when}" if when else _LABELS[state],
            sanitize_field(status.err, 80) if status.err else "",
            "" if exit_code is None else str(exit_code),
        ),
        row_state,
    )
    return row, until


# By a state's rank (a plain int): what the tasks table shows, and which states are failures.
_LABELS = {state.rank: state.value.capitalize() for state in TaskState}
_FAILED = frozenset(s.rank for s in (TaskState.FAILED, TaskState.REJECTED, TaskState.ORPHANED))
_RUNNING = TaskState.RUNNING.rank
