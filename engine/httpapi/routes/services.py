"""``/services``: list (filters, ``status``), create, inspect (``insertDefaults``), update
(``version``, ``rollback=previous``), remove, and logs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from aiohttp import web
from msgspec.structs import replace

from engine.api.objects import Service, ServiceStatus, Task
from engine.api.specs import ServiceSpec
from engine.api.types import TaskState
from engine.errors import InvalidArgument
from engine.httpapi.context import BACKEND, json_response
from engine.httpapi.logs import stream_logs
from engine.httpapi.params import (
    boolean,
    go_parse_bool,
    json_body,
    label_matches,
    object_version,
    parse_filters,
)
from engine.httpapi.stream import steps, stream_json
from engine.manager import defaults
from engine.store import by, find_services, find_tasks

SERVICE_FILTERS = ("id", "label", "mode", "name")


async def list_services(request: web.Request) -> web.StreamResponse:
    filters = parse_filters(request.query.get("filters"), SERVICE_FILTERS)
    for mode in filters.get("mode", ()):
        if mode not in ("replicated", "global"):
            raise InvalidArgument(f"Invalid filter: 'mode'='{mode}'", rpc=False)
    status = boolean(request.query, "status")
    services, tasks = request.app[BACKEND].control.view(
        lambda tx: (find_services(tx, by.all()), find_tasks(tx, by.all()) if status else [])
    )
    with_status = await _with_status(tasks) if status else None

    def shown(service: Service) -> Service | None:
        if not _matches(service, filters):
            return None
        return with_status(service) if with_status is not None else service

    return await stream_json(request, services, shown, _created)


def _created(service: Service) -> str:
    return service.created_at or ""


def _matches(service: Service, filters: dict[str, list[str]]) -> bool:
    name = service.spec.name or ""
    mode = defaults.mode_name(service.spec)
    checks = {
        "id": lambda values: any(service.id.startswith(v) for v in values),
        "name": lambda values: any(name.startswith(v) for v in values),
        "mode": lambda values: mode in values,
        "label": lambda values: label_matches(service.spec.labels, values),
    }
    return all(checks[key](values) for key, values in filters.items())


async def _with_status(tasks: list[Task]) -> Callable[[Service], Service]:
    """What adds ServiceStatus to a service, as API 1.41 does for ``status=true``; the tasks
    are counted in steps. A job counts the tasks of its current run only: those meant to
    complete, running, and completed."""
    running: Counter[tuple[str, int]] = Counter()
    completed: Counter[tuple[str, int]] = Counter()
    meant: Counter[tuple[str, int]] = Counter()
    async for batch in steps(tasks):
        for task in batch:
            key = (task.service_id, task.job_iteration.index if task.job_iteration else -1)
            if task.desired_state == TaskState.RUNNING or (
                task.job_iteration is not None and task.desired_state == TaskState.COMPLETE
            ):
                meant[key] += 1
                if task.status.state == TaskState.RUNNING:
                    running[key] += 1
            if task.status.state == TaskState.COMPLETE:
                completed[key] += 1

    def with_status(service: Service) -> Service:
        run = service.job_status.job_iteration.index if service.job_status else -1
        key = (service.id, run)
        mode = defaults.mode_name(service.spec)
        if mode == "global":
            desired = meant[key]
        elif mode == "global-job":  # the nodes still to complete theirs, as dockerd counts
            desired = max(0, meant[key] - completed[key])
        elif mode == "replicated-job":  # as many at once as it may run, as dockerd counts
            desired = min(defaults.job_concurrency(service.spec))
        else:
            desired = defaults.replicas(service.spec)
        status = ServiceStatus(
            running_tasks=running[key], desired_tasks=desired, completed_tasks=completed[key]
        )
        return replace(service, service_status=status)

    return with_status


async def create_service(request: web.Request) -> web.Response:
    spec = await json_body(request, ServiceSpec)
    service = request.app[BACKEND].control.create_service(spec)
    return json_response({"ID": service.id}, status=201)


async def inspect_service(request: web.Request) -> web.Response:
    """A service; with ``insertDefaults`` its spec shows the defaults the manager applies."""
    raw = request.query.get("insertDefaults", "")
    try:
        insert_defaults = go_parse_bool(raw) if raw else False
    except ValueError as error:
        raise InvalidArgument(
            f"invalid value for insertDefaults: {raw}: {error}", rpc=False
        ) from None
    service = request.app[BACKEND].control.get_service(request.match_info["id"])
    if insert_defaults:
        service = replace(service, spec=defaults.interpolate_service(service.spec))
    return json_response(service)


async def update_service(request: web.Request) -> web.Response:
    """As dockerd: the body is read first, then ``version``, then the options. dockerd
    answers 500 for an option it does not know; a client's mistake is a 400 here."""
    spec = await json_body(request, ServiceSpec)
    version = object_version(request.query, "service")
    if request.query.get("registryAuthFrom", "") not in ("", "spec", "previous-spec"):
        raise InvalidArgument("unsupported registryAuthFrom value", rpc=False)
    rollback = request.query.get("rollback", "")
    if rollback not in ("", "none", "previous"):
        raise InvalidArgument(f"unrecognized rollback option {rollback}", rpc=False)
    control = request.app[BACKEND].control
    if rollback == "previous":
        control.update_service(request.match_info["id"], version, None, rollback=True)
    else:
        control.update_service(request.match_info["id"], version, spec)
    return json_response({})


async def remove_service(request: web.Request) -> web.Response:
    request.app[BACKEND].control.remove_service(request.match_info["id"])
    return web.Response(status=200)


async def service_logs(request: web.Request) -> web.StreamResponse:
    backend = request.app[BACKEND]
    service = backend.control.get_service(request.match_info["id"])
    return await stream_logs(request, lambda: backend.control.list_tasks(service.id), _tty(service))


def _tty(service: Service) -> bool:
    template = service.spec.task_template
    container = template.container_spec if template else None
    return bool(container and container.tty)


ROUTES = [
    ("GET", "/services", list_services),
    ("POST", "/services/create", create_service),
    ("GET", "/services/{id}", inspect_service),
    ("POST", "/services/{id}/update", update_service),
    ("DELETE", "/services/{id}", remove_service),
    ("GET", "/services/{id}/logs", service_logs),
]
