"""Rows of the node, service and task tables, from a snapshot. Each row has a key, its cells
and a state (a CSS class the table gives the row, so colours come from the theme)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter, itemgetter, ne
from typing import cast

from rich.cells import cell_len

from console.model import Snapshot
from console.render.formatting import age, bar, cpus, size
from console.sanitize import sanitize_field
from engine.api import naming
from engine.api.durations import parse_timestamp
from engine.api.objects import Node, Service, Task
from engine.api.types import Availability, NodeRole, NodeState, TaskState

__all__ = [
    "NODE_COLUMNS",
    "SERVICE_COLUMNS",
    "TASK_COLUMNS",
    "Row",
    "TaskRowCache",
    "node_rows",
    "service_rows",
]


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    cells: tuple[str, ...]
    state: str = ""  # "", "ok", "warn", "bad", "off", "busy"
    widths: tuple[int, ...] = field(init=False, compare=False, repr=False)  # terminal cells

    def __post_init__(self) -> None:
        measure = len if "".join(self.cells).isascii() else cell_len
        object.__setattr__(self, "widths", tuple(map(measure, self.cells)))

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


def node_rows(snapshot: Snapshot) -> list[Row]:
    rows = []
    for node in sorted(snapshot.nodes, key=lambda n: snapshot.hostname(n.id)):
        description = node.description
        resources = description.resources if description else None
        reserved_cpu = reserved_mem = used_mem = 0
        for task in snapshot.tasks_by_node.get(node.id, ()):
            usage = snapshot.usage.get(task.id)
            if usage is not None:
                used_mem += usage[1]
            if task.desired_state <= TaskState.RUNNING and task.status.state <= TaskState.RUNNING:
                reservation = task.spec.resources.reservations if task.spec.resources else None
                if reservation:
                    reserved_cpu += reservation.nano_cpus or 0
                    reserved_mem += reservation.memory_bytes or 0
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
        rows.append(
            Row(
                node.id,
                (
                    sanitize_field(snapshot.hostname(node.id)),
                    _manager(node),
                    node.status.state.value,
                    availability.value,
                    f"{cpus(reserved_cpu)}/{cpus(total_cpu)}",
                    f"{size(reserved_mem)}/{size(total_mem)}",
                    size(used_mem) if snapshot.usage else "-",
                    str(snapshot.running_by_node[node.id]),
                    sanitize_field(engine.engine_version if engine else ""),
                    sanitize_field(labels, 40),
                ),
                state,
            )
        )
    return rows


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
    return naming.task_name(snapshot.service_name(task.service_id), task, short=True)


class TaskRowCache:
    """Rows of tasks from earlier snapshots, reused while a task and its age text are the same.

    Between two polls most tasks do not change. When the poll lists the same tasks in the same
    order, which is usual, only those whose version or age text changed are drawn again, and
    they keep their places: a task's sort key (service, slot or node, creation, ID) never
    changes. This runs over every task on every poll, so each pass over the tasks is a ``map``,
    a comparison of lists or a comprehension.
    """

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._versions: list[int] = []
        self._whens: list[str] = []
        self._entries: list[_TaskEntry] = []  # one per task, in the order of ``_ids``
        self._names: dict[str, str] = {}
        self._order: list[int] = []  # indices of ``_entries``, in the order shown
        self._place: list[int] = []  # where each of ``_entries`` is shown
        self._rows: list[Row] = []

    def rows(self, snapshot: Snapshot, tasks: list[Task]) -> list[Row]:
        """Rows of ``tasks``: each slot's tasks together, newest first."""
        names = {
            sid: sanitize_field(snapshot.service_name(sid)) for sid in set(map(_service_id, tasks))
        }
        ids = list(map(_task_id, tasks))
        versions = list(map(_version, tasks))
        stamps = list(map(_stamp, tasks))
        ages = {stamp: age(stamp, snapshot.now) for stamp in set(stamps)}
        whens = list(map(ages.__getitem__, stamps))
        aligned = ids == self._ids and names == self._names
        if aligned and versions == self._versions and whens == self._whens:
            return self._rows
        if aligned:  # only where a version or an age text differs; compared in C
            indices = range(len(ids))
            stale = sorted(
                {
                    *compress(indices, map(ne, versions, self._versions)),
                    *compress(indices, map(ne, whens, self._whens)),
                }
            )
            entries: list[_TaskEntry | None] = list(self._entries)
        else:
            known = dict(zip(self._ids, self._entries, strict=True)) if names == self._names else {}
            entries = [
                entry if entry is not None and entry[0] == version and entry[1] == when else None
                for entry, version, when in zip(map(known.get, ids), versions, whens, strict=True)
            ]
            stale = [index for index, entry in enumerate(entries) if entry is None]
        for index in stale:
            task, when = tasks[index], whens[index]
            name = names[task.service_id]
            host = sanitize_field(snapshot.hostname(task.node_id)) if task.node_id else ""
            order = self._entries[index][2] if aligned else _order(name, task)
            entries[index] = (task.version.index, when, order, _task_row(task, name, host, when))
        done = cast(list[_TaskEntry], entries)
        if not aligned:
            self._order = sorted(range(len(done)), key=list(map(_sort_key, done)).__getitem__)
            self._place = [0] * len(done)
            for place, index in enumerate(self._order):
                self._place[index] = place
            self._rows = list(map(list(map(_row, done)).__getitem__, self._order))
        else:  # the same order: only the changed rows are put in their places
            self._rows = list(self._rows)
            for index in stale:
                self._rows[self._place[index]] = done[index][3]
        self._ids, self._versions, self._whens = ids, versions, whens
        self._entries, self._names = done, names
        return self._rows


# version, age text, sort key, row
_TaskEntry = tuple[int, str, str, Row]
_sort_key = itemgetter(2)
_row = itemgetter(3)
_service_id = attrgetter("service_id")
_stamp = attrgetter("status.timestamp")
_task_id = attrgetter("id")
_version = attrgetter("version.index")


def _order(service: str, task: Task) -> str:
    """Sorts by service, slot (or node for global tasks), newest first (by creation, which
    never changes), then by ID; one string compares faster than a tuple, and sanitized names
    hold no NUL."""
    place = "" if task.slot else task.node_id or ""
    created = parse_timestamp(task.created_at) if task.created_at else 0.0
    return f"{service}\0{task.slot:09d}\0{place}\0{10**13 - round(created * 1000):014d}\0{task.id}"


def _task_row(task: Task, service: str, host: str, when: str) -> Row:
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
    return Row(
        task.id,
        (
            naming.task_name(service, task, short=True),
            host if task.node_id else "",
            _LABELS[desired],
            f"{_LABELS[state]} {when}" if when else _LABELS[state],
            sanitize_field(status.err, 80) if status.err else "",
            "" if exit_code is None else str(exit_code),
        ),
        row_state,
    )


# By a state's rank (a plain int): what the tasks table shows, and which states are failures.
_LABELS = {state.rank: state.value.capitalize() for state in TaskState}
_FAILED = frozenset(s.rank for s in (TaskState.FAILED, TaskState.REJECTED, TaskState.ORPHANED))
_RUNNING = TaskState.RUNNING.rank
