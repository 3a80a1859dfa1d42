"""Rows of the node, service and task tables, from a snapshot. Each row has a key, its cells
and a state (the table styles the row with the component class ``resource-table--<state>``, so
colours come from the theme). Rows kept between refreshes: ``console.rowcache``."""

from __future__ import annotations

import math

import msgspec

from console.model import Snapshot
from console.render.formatting import age_until, bar, cpus, short_age, size
from console.sanitize import sanitize_field
from engine.api import naming
from engine.api.durations import parse_timestamp
from engine.api.naming import SHORT_ID
from engine.api.objects import Node, Service, Task
from engine.api.specs import TaskSpec
from engine.api.types import Availability, NodeRole, NodeState, TaskState

__all__ = [
    "NODE_COLUMNS",
    "SERVICE_COLUMNS",
    "TASK_COLUMNS",
    "NodeFigures",
    "Row",
    "TaskOrder",
    "moment",
    "node_figures",
    "node_row",
    "service_rows",
    "spec_image",
    "task_name",
    "task_order",
    "task_row",
]


class Row(msgspec.Struct, gc=False):
    """One table row; not changed once made. Not tracked by the garbage collector: a tasks
    view holds tens of thousands of them, and collections would walk them all."""

    key: str
    cells: tuple[str, ...]
    state: str = ""  # "", "ok", "warn", "bad", "off", "busy"
    # The first cell's long form, shown where the table has room for it (a task's
    # ``web.1.<id>@node``, as docker names it in logs).
    long: str | None = None
    # The cells on lines of their own, as filters search them (``console.render.tables``):
    # made with the row (task rows in the feed's worker thread), so a filter only searches.
    joined: str = ""

    def __post_init__(self) -> None:
        if not self.joined:
            self.joined = "\n".join(self.cells)


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
    "CERT",
    "LABELS",
)
SERVICE_COLUMNS = (
    "NAME",
    "MODE",
    "REPLICAS",
    "",
    "RESTARTS",  # tasks that failed in the last hour
    "IMAGE",
    "PORTS",
    "UPDATE",
    "AGE",
    "ID",
)
CRASH_LOOP = 3  # failures in the last hour, the last one recent, that make a crash loop
TASK_COLUMNS = ("NAME", "IMAGE", "NODE", "DESIRED", "CURRENT", "ERROR", "EXIT")


def _manager(node: Node) -> str:
    if node.spec.role != NodeRole.MANAGER:
        return "worker"
    if node.manager_status is not None and node.manager_status.leader:
        return "leader"
    return "manager"


# CPU and memory reserved, memory in use (None: not known), tasks running
NodeFigures = tuple[tuple[int, int], int | None, int]


def node_figures(node: Node, snapshot: Snapshot) -> NodeFigures:
    """What a node's row shows of the tasks on it."""
    return (
        snapshot.reserved_by_node.get(node.id, (0, 0)),
        snapshot.memory_by_node.get(node.id, 0) if snapshot.usage else None,
        snapshot.running_by_node[node.id],
    )


def node_row(node: Node, figures: NodeFigures, snapshot: Snapshot) -> Row:
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
            certificate(node, snapshot),
            sanitize_field(labels, 40),
        ),
        state,
    )


def certificate(node: Node, snapshot: Snapshot) -> str:
    """How long the node's certificate has left (``89d``), and ``old root`` while it trusts a
    root the swarm rotated away from; ``-`` where the node does not say (a Docker swarm's)."""
    info = (node.description.tls_info if node.description else None) or {}
    expires = moment(info.get("CertNotAfter"))
    if expires is None:
        text = "-"
    elif expires <= snapshot.now:
        text = "expired"
    else:
        left = expires - snapshot.now
        text = f"{int(left // 86400)}d" if left >= 2 * 86400 else f"{int(left // 3600)}h"
    swarm = (snapshot.swarm.tls_info if snapshot.swarm else None) or {}
    if info.get("TrustRoot") and swarm.get("TrustRoot") and info["TrustRoot"] != swarm["TrustRoot"]:
        text += " old root"
    return text


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
    return spec_image(service.spec.task_template)


def spec_image(template: TaskSpec | None) -> str:
    """The image a task spec runs, without its digest (as ``docker service ls`` shows it)."""
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
        kind, shown = _mode(service, running, desired)
        update = service.update_status
        update_text = (update.state or "") if update else ""
        if update_text in ("updating", "rollback_started", "paused", "rollback_paused"):
            update_text += f" {updated(service, snapshot)}/{desired}"
        state = "ok" if running >= desired else ("bad" if running == 0 and desired else "warn")
        if kind.endswith("job"):  # a job is well while it runs what it may, or is done
            state = "ok"
        if update_text.startswith(("updating", "rollback_started")):
            state = "busy"
        elif update_text.startswith(("paused", "rollback_paused")):
            state = "bad"
        restarts = snapshot.restarts_by_service[service.id]
        failing = service.id in snapshot.failing_services
        if failing:  # however many run: its tasks keep failing
            state = "bad" if restarts >= CRASH_LOOP else "warn"
        rows.append(
            Row(
                service.id,
                (
                    sanitize_field(service.spec.name),
                    kind,
                    shown,
                    bar(running, desired),
                    f"{restarts} failing" if failing else str(restarts),
                    sanitize_field(image(service), 60),
                    ports(service),
                    update_text.replace("_", " "),
                    short_age(service.created_at, snapshot.now),
                    service.id[:SHORT_ID],
                ),
                state,
            )
        )
    return rows


def _mode(service: Service, running: int, desired: int) -> tuple[str, str]:
    """The service's mode and replicas as ``docker service ls`` shows them: a job's with its
    completions (``replicated job``, ``1/1 (2/3 completed)``)."""
    mode = service.spec.mode
    status = service.service_status
    completed = status.completed_tasks if status is not None else 0
    if mode is not None and mode.replicated_job is not None:
        most = mode.replicated_job.max_concurrent or 1
        total = mode.replicated_job.total_completions or most
        return "replicated job", f"{running}/{desired} ({completed}/{total} completed)"
    if mode is not None and mode.global_job is not None:
        return "global job", f"{running}/{desired} ({completed}/{desired + completed} completed)"
    kind = "global" if mode is not None and mode.global_ is not None else "replicated"
    return kind, f"{running}/{desired}"


def task_name(task: Task, snapshot: Snapshot) -> str:
    return naming.task_name(
        sanitize_field(snapshot.service_name(task.service_id)), task, short=True
    )


def moment(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    try:
        return parse_timestamp(timestamp)
    except ValueError:
        return None


TaskOrder = tuple[str, int, str, float, str]


def task_order(task: Task, snapshot: Snapshot) -> TaskOrder:
    """Sorts by service, slot (or node for global tasks), newest first (by creation, which
    never changes, so neither does a task's place), then by ID."""
    service = sanitize_field(snapshot.service_name(task.service_id))
    place = "" if task.slot else task.node_id or ""
    created = parse_timestamp(task.created_at) if task.created_at else 0.0
    return (service, task.slot, place, -created, task.id)


def task_row(
    task: Task, stamp: float | None, snapshot: Snapshot, named: tuple[str, str] | None = None
) -> tuple[Row, float]:
    """The task's row as of ``snapshot.now``, and until when its age text holds. ``named``: its
    name and node cells, when they are known to be the same as before."""
    when, until = age_until(stamp, snapshot.now) if stamp is not None else ("", math.inf)
    if named is None:
        host = sanitize_field(snapshot.hostname(task.node_id)) if task.node_id else ""
        named = (task_name(task, snapshot), host)
    name, host = named
    status = task.status
    state, desired = status.state, task.desired_state
    if state in _FAILED:
        row_state = "bad"
    elif desired > TaskState.RUNNING:
        row_state = "off"
    elif state < TaskState.RUNNING:
        row_state = "busy"
    else:
        row_state = "ok"
    container = status.container_status
    exit_code = container.exit_code if container is not None else None
    long = f"{name}.{task.id[:SHORT_ID]}" + (f"@{host}" if host else "")
    row = Row(
        task.id,
        (
            name,
            sanitize_field(spec_image(task.spec), 60),
            host,
            _LABELS[desired],
            f"{_LABELS[state]} {when}" if when else _LABELS[state],
            sanitize_field(status.err, 80) if status.err else "",
            "" if exit_code is None else str(exit_code),
        ),
        row_state,
        long,
    )
    return row, until


_LABELS = {state: state.value.capitalize() for state in TaskState}  # as the tasks table shows
_FAILED = frozenset((TaskState.FAILED, TaskState.REJECTED, TaskState.ORPHANED))
