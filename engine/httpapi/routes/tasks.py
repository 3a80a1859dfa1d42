"""``/tasks``: list with filters (including the CLI's hidden ``_up-to-date``), inspect, logs."""

from __future__ import annotations

import functools
from collections.abc import Callable

from aiohttp import web

from engine.api import naming
from engine.api.objects import Object, Service, Task
from engine.api.types import TaskState
from engine.errors import EngineError, InvalidArgument
from engine.httpapi.context import BACKEND, json_response
from engine.httpapi.logs import stream_logs
from engine.httpapi.params import label_matches, parse_filters
from engine.httpapi.stream import stream_json
from engine.manager.orchestrator import is_task_dirty
from engine.store import ReadTx, by, find_services, get_task, task_service_ids

TASK_FILTERS = ("desired-state", "id", "label", "name", "node", "service", "_up-to-date")
DESIRED_STATES = {
    "running": TaskState.RUNNING,
    "shutdown": TaskState.SHUTDOWN,
    "accepted": TaskState.ACCEPTED,
}


async def list_tasks(request: web.Request) -> web.StreamResponse:
    """The tasks the filters keep. A filter on services or labels reads only the tasks of the
    services it names, through the store's index: ``docker stack rm`` asks for a stack's tasks
    again and again, in a loop with no pause, while the cluster may hold many others.

    The IDs of the tasks are read at once, the tasks a step at a time as the answer is made:
    reading 100,000 tasks in one go held the event loop for tens of milliseconds, and ``docker
    service create`` asks for them every second until its tasks run. A task removed meanwhile
    is left out."""
    filters = parse_filters(request.query.get("filters"), TASK_FILTERS)
    backend = request.app[BACKEND]
    desired = set()
    for value in filters.get("desired-state", ()):
        if value not in DESIRED_STATES:
            raise InvalidArgument(f"Invalid desired-state filter: '{value}'", rpc=False)
        desired.add(DESIRED_STATES[value])
    service_ids = _resolve_all(filters.get("service"), backend.control.get_service)
    node_ids = _resolve_all(filters.get("node"), backend.control.get_node)
    up_to_date = any(v.lower() in ("true", "1") for v in filters.get("_up-to-date", ()))
    labels = filters.get("label")
    services, task_ids = backend.control.view(
        functools.partial(_candidates, service_ids=service_ids, labels=labels)
    )

    def kept(task_id: str) -> Task | None:
        task = backend.control.view(functools.partial(get_task, task_id=task_id))
        if task is None:
            return None
        service = services.get(task.service_id)
        if service_ids is not None and task.service_id not in service_ids:
            return None
        if node_ids is not None and task.node_id not in node_ids:
            return None
        if desired and task.desired_state not in desired:
            return None
        if "id" in filters and not any(task.id.startswith(v) for v in filters["id"]):
            return None
        if labels is not None and not label_matches(_service_labels(task, service), labels):
            return None
        if "name" in filters and not any(
            task_name(task, service).startswith(v) for v in filters["name"]
        ):
            return None
        if up_to_date and (service is None or is_task_dirty(service, task)):
            return None
        return task

    return await stream_json(request, task_ids, kept, _task_order)


def _candidates(
    tx: ReadTx, *, service_ids: set[str] | None, labels: list[str] | None
) -> tuple[dict[str, Service], dict[str, None]]:
    """The services, by ID, and the IDs of the tasks the filters may keep: those of the
    services named or labelled (and of removed services, whose tasks are still shutting down),
    else all."""
    services = {s.id: s for s in find_services(tx, by.all())}
    if service_ids is None and labels is None:
        return services, tx.ids(Task, by.all())
    chosen = set(services) if service_ids is None else service_ids & set(services)
    if labels is not None:
        chosen = {i for i in chosen if label_matches(services[i].spec.labels, labels)}
        if service_ids is None:
            chosen.update(i for i in task_service_ids(tx) if i not in services)
    if len(chosen) == 1:
        return services, tx.ids(Task, by.service_id(*chosen))
    task_ids: dict[str, None] = {}
    for service_id in sorted(chosen):
        task_ids.update(tx.ids(Task, by.service_id(service_id)))
    return services, task_ids


def _service_labels(task: Task, service: Service | None) -> dict[str, str] | None:
    """The labels a task's label filter reads: its service's, as SwarmKit reads the service
    annotations a task carries; once the service is removed, its container's (where a stack's
    namespace is too, so ``docker stack rm`` sees the stack's tasks until they are down)."""
    if service is not None:
        return service.spec.labels
    container = task.spec.container_spec
    return container.labels if container else None


def _task_order(task: Task) -> tuple[str, int, str, str]:
    return (task.service_id, task.slot, task.node_id, task.created_at or "")


def _resolve_all(references: list[str] | None, resolve: Callable[[str], Object]) -> set[str] | None:
    """IDs of the objects named by ID, name or prefix; unknown names match nothing, as Docker."""
    if references is None:
        return None
    found = set()
    for reference in references:
        try:
            found.add(resolve(reference).id)
        except EngineError:
            continue
    return found


def task_name(task: Task, service: Service | None) -> str:
    """The CLI's name of ``task``, from its service's name (its ID while the service is gone)."""
    return naming.task_name((service.spec.name if service else None) or task.service_id, task)


async def inspect_task(request: web.Request) -> web.Response:
    return json_response(request.app[BACKEND].control.get_task(request.match_info["id"]))


async def task_logs(request: web.Request) -> web.StreamResponse:
    backend = request.app[BACKEND]
    task = backend.control.get_task(request.match_info["id"])
    container = task.spec.container_spec
    return await stream_logs(
        request,
        lambda: [t for t in backend.control.list_tasks(task.service_id) if t.id == task.id],
        bool(container and container.tty),
    )


ROUTES = [
    ("GET", "/tasks", list_tasks),
    ("GET", "/tasks/{id}", inspect_task),
    ("GET", "/tasks/{id}/logs", task_logs),
]
