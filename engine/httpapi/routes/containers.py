"""``/containers/json`` (the containers of tasks on this node, so ``docker ps`` shows them) and
``/metrics`` (Prometheus text: cAdvisor-style container metrics with swarm labels).

``/metrics?name=container_cpu_usage_seconds_total,container_memory_usage_bytes`` writes only
the families named (``name`` may also be given once per family); without ``name``, all of them.
A console that shows usage asks for those two and is spared the rest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web

from engine.api.durations import human_duration
from engine.api.objects import Node, Service, Task
from engine.api.secrets import TaskFile
from engine.api.types import TaskState
from engine.httpapi.backend import Backend, Container
from engine.httpapi.context import BACKEND, OPEN_STREAMS
from engine.httpapi.params import boolean, label_matches, parse_filters
from engine.httpapi.routes.tasks import task_name
from engine.httpapi.stream import steps, stream_json, stream_lines
from engine.store import by, find_nodes, find_services, find_tasks

CONTAINER_FILTERS = ("id", "label", "name", "status")
CPU = "container_cpu_usage_seconds_total"
MEMORY = "container_memory_usage_bytes"
TASK_STATES = "swarm_manager_tasks_total"
MESH = "swarmdeck_mesh_connections_last_minute"
# Each family /metrics serves, in the order it writes them: its type and help text.
FAMILIES = {
    CPU: ("counter", "Cumulative cpu time consumed in seconds."),
    MEMORY: ("gauge", "Current memory usage in bytes."),
    "machine_cpu_cores": ("gauge", "Number of CPU cores on the node."),
    "machine_memory_bytes": ("gauge", "Amount of memory on the node."),
    "swarm_node_info": ("gauge", "The node's role, availability and state."),
    "swarm_manager_nodes": ("gauge", "The number of nodes in each state."),
    TASK_STATES: ("gauge", "The number of tasks in each state."),
    "swarm_manager_services_total": ("gauge", "The number of services."),
    "swarmdeck_api_streams_open": ("gauge", "Followed streams (logs) the API is serving now."),
    MESH: ("gauge", "Connections the routing mesh gave each task in the last minute."),
}

# A running task's container and its usage (CPU seconds, memory bytes), as /metrics shows it.
Sample = tuple[Task, Container, tuple[float, int]]


def _labels(task: Task, service: Service | None, node_id: str) -> dict[str, str]:
    container = task.spec.container_spec
    name = (service.spec.name if service else None) or task.service_id
    return {
        **((container.labels if container else None) or {}),
        "com.docker.swarm.node.id": node_id,
        "com.docker.swarm.service.id": task.service_id,
        "com.docker.swarm.service.name": name,
        "com.docker.swarm.task": "",
        "com.docker.swarm.task.id": task.id,
        "com.docker.swarm.task.name": f"{task_name(task, service)}.{task.id}",
    }


def _container_json(backend: Backend, task: Task, service: Service | None, box: Container) -> Any:
    now = backend.clock.time()
    started = box.started or now
    running = box.exit_code is None and box.started is not None
    if running:
        status = f"Up {human_duration(now - started)}"
        if box.health:
            status += f" ({'health: starting' if box.health == 'starting' else box.health})"
    else:
        status = f"Exited ({box.exit_code or 0}) {human_duration(now - started)} ago"
    return {
        "Id": box.id,
        "Names": [f"/{task_name(task, service)}.{task.id}"],
        "Image": box.image,
        "ImageID": "",
        "Command": "",
        "Created": int(started),
        "Ports": [],
        "Labels": _labels(task, service, task.node_id),
        "State": "running" if running else "exited",
        "Status": status,
        "HostConfig": {"NetworkMode": "default"},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [_mount(box.id, file) for file in box.files],
    }


def _mount(container_id: str, file: TaskFile) -> dict[str, Any]:
    """A secret or config file as dockerd lists a container's mounts: a read-only bind from
    the container's own folder (never the data)."""
    return {
        "Type": "bind",
        "Source": f"/var/lib/docker/containers/{container_id}/mounts/{file.kind}s/{file.source_id}",
        "Destination": file.path,
        "Mode": "",
        "RW": False,
        "Propagation": "rprivate",
    }


async def list_containers(request: web.Request) -> web.StreamResponse:
    backend = request.app[BACKEND]
    every = boolean(request.query, "all")
    filters = parse_filters(request.query.get("filters"), CONTAINER_FILTERS)
    services, tasks = backend.local_tasks()

    def shown(task: Task) -> Any:
        box = backend.container(task)
        if box is None:
            return None
        entry = _container_json(backend, task, services.get(task.service_id), box)
        if not every and entry["State"] != "running":
            return None
        if "status" in filters and entry["State"] not in filters["status"]:
            return None
        if "id" in filters and not any(box.id.startswith(v) for v in filters["id"]):
            return None
        if "name" in filters and not any(v in entry["Names"][0] for v in filters["name"]):
            return None
        if "label" in filters and not label_matches(entry["Labels"], filters["label"]):
            return None
        return entry

    return await stream_json(request, tasks, shown, lambda entry: -entry["Created"])


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _label_text(labels: Mapping[str, str]) -> str:
    return ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())


def _line(name: str, label_text: str, value: float) -> str:
    number = str(value) if isinstance(value, int) or not value.is_integer() else str(int(value))
    return f"{name}{{{label_text}}} {number}" if label_text else f"{name} {number}"


def _series(name: str, labels: Mapping[str, str], value: float) -> str:
    return _line(name, _label_text(labels), value)


def _families(request: web.Request) -> list[str]:
    """The families ``name`` asks for (comma-separated, or given again); all without it."""
    asked = {name for value in request.query.getall("name", []) for name in value.split(",")}
    asked.discard("")
    return [family for family in FAMILIES if not asked or family in asked]


async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus text: the tasks are looked at in steps, then each line is made as it is
    written (a container's labels are the costly part)."""
    families = _families(request)
    backend = request.app[BACKEND]
    now = backend.clock.time()
    nodes, services, tasks = backend.store.view(
        lambda tx: (
            find_nodes(tx, by.all()),
            {s.id: s for s in find_services(tx, by.all())},
            find_tasks(tx, by.all()),
        )
    )
    sampled = CPU in families or MEMORY in families
    samples: list[Sample] = []
    task_states: Counter[str] = Counter()
    if sampled or TASK_STATES in families:
        async for batch in steps(tasks):
            for task in batch:
                task_states[task.status.state.value] += 1
                if not sampled or task.status.state != TaskState.RUNNING:
                    continue
                box = backend.container(task)
                usage = box.usage(now) if box is not None else None
                if box is not None and usage is not None:
                    samples.append((task, box, usage))
    lines = _metric_lines(
        families,
        samples,
        nodes,
        services,
        task_states,
        request.app[OPEN_STREAMS].copy(),
        backend.mesh_connections() if MESH in families else {},
    )
    return await stream_lines(request, lines, headers={"X-Content-Type-Options": "nosniff"})


def _metric_lines(
    families: list[str],
    samples: list[Sample],
    nodes: list[Node],
    services: dict[str, Service],
    task_states: Counter[str],
    streams: Counter[str],
    mesh: dict[str, dict[str, int]],
) -> Iterator[str]:
    """Each family's help, type and samples; a line is made when it is asked for."""
    node_by_id = {node.id: node for node in nodes}
    labels: list[str] = []  # each sample's labels, made for the first container family written
    for family in families:
        kind, text = FAMILIES[family]
        yield f"# HELP {family} {text}"
        yield f"# TYPE {family} {kind}"
        match family:
            case "container_cpu_usage_seconds_total" | "container_memory_usage_bytes":
                yield from _container_lines(family, samples, labels, node_by_id, services)
            case "machine_cpu_cores" | "machine_memory_bytes" | "swarm_node_info":
                yield from (_node_line(family, node) for node in nodes)
            case "swarm_manager_nodes":
                states = Counter(node.status.state.value for node in nodes)
                yield from (_series(family, {"state": s}, n) for s, n in sorted(states.items()))
            case "swarm_manager_tasks_total":
                yield from (
                    _series(family, {"state": s}, n) for s, n in sorted(task_states.items())
                )
            case "swarm_manager_services_total":
                yield _series(family, {}, len(services))
            case "swarmdeck_api_streams_open":
                yield from (_series(family, {"kind": k}, n) for k, n in sorted(streams.items()))
            case "swarmdeck_mesh_connections_last_minute":
                for service_id, spread in sorted(mesh.items()):
                    service = services.get(service_id)
                    name = (service.spec.name if service else None) or service_id
                    for task_id, count in sorted(spread.items()):
                        which = {"service_id": service_id, "service_name": name}
                        yield _series(family, {**which, "task_id": task_id}, count)


def _container_lines(
    family: str,
    samples: list[Sample],
    labels: list[str],
    nodes: dict[str, Node],
    services: dict[str, Service],
) -> Iterator[str]:
    """The family's line for each sample. A sample's labels are made once, by the first
    family that writes it, and kept in ``labels`` for the other."""
    for index, (task, box, (cpu, memory)) in enumerate(samples):
        if index == len(labels):
            labels.append(_label_text(_sample_labels(task, box, nodes, services)))
        yield _line(family, labels[index], round(cpu, 6) if family == CPU else memory)


def _sample_labels(
    task: Task, box: Container, nodes: dict[str, Node], services: dict[str, Service]
) -> dict[str, str]:
    service = services.get(task.service_id)
    return {
        "id": f"/docker/{box.id}",
        "name": f"{task_name(task, service)}.{task.id}",
        "image": box.image,
        **{
            "container_label_" + key.replace(".", "_").replace("-", "_"): value
            for key, value in _labels(task, service, task.node_id).items()
            if key.startswith("com.docker.swarm.")
        },
        "node": node.hostname if (node := nodes.get(task.node_id)) else "",
    }


def _node_line(family: str, node: Node) -> str:
    resources = node.description.resources if node.description else None
    label = {"node": node.hostname, "node_id": node.id}
    if family == "machine_cpu_cores":
        return _series(family, label, ((resources.nano_cpus or 0) / 1e9) if resources else 0)
    if family == "machine_memory_bytes":
        return _series(family, label, (resources.memory_bytes or 0) if resources else 0)
    return _series(
        family,
        {
            **label,
            "role": node.spec.role.value if node.spec.role else "",
            "availability": node.spec.availability.value if node.spec.availability else "",
            "state": node.status.state.value,
        },
        1,
    )


ROUTES = [
    ("GET", "/containers/json", list_containers),
    ("GET", "/metrics", metrics),
]
