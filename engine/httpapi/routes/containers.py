"""``/containers/json`` (the containers of tasks on this manager's node, so ``docker ps`` shows
them) and ``/metrics`` (Prometheus text: cAdvisor-style container metrics with swarm labels)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp import web

from engine.api.durations import human_duration
from engine.api.objects import Node, Service, Task
from engine.api.types import TaskState
from engine.httpapi.backend import Backend, Container
from engine.httpapi.context import BACKEND, OPEN_STREAMS, json_response
from engine.httpapi.params import boolean, label_matches, parse_filters
from engine.httpapi.routes.tasks import task_name

CONTAINER_FILTERS = ("id", "label", "name", "status")


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
        "Mounts": [],
    }


async def list_containers(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    every = boolean(request.query, "all")
    filters = parse_filters(request.query.get("filters"), CONTAINER_FILTERS)
    services = {s.id: s for s in backend.control.list_services()}
    local = backend.local_node_id
    result = []
    for task in backend.control.list_tasks():
        box = backend.container(task) if task.node_id == local else None
        if box is None:
            continue
        entry = _container_json(backend, task, services.get(task.service_id), box)
        if not every and entry["State"] != "running":
            continue
        if "status" in filters and entry["State"] not in filters["status"]:
            continue
        if "id" in filters and not any(box.id.startswith(v) for v in filters["id"]):
            continue
        if "name" in filters and not any(v in entry["Names"][0] for v in filters["name"]):
            continue
        if "label" in filters and not label_matches(entry["Labels"], filters["label"]):
            continue
        result.append(entry)
    result.sort(key=lambda entry: -entry["Created"])
    return json_response(result)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _series(name: str, labels: dict[str, str], value: float) -> str:
    number = str(value) if isinstance(value, int) or not value.is_integer() else str(int(value))
    text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
    return f"{name}{{{text}}} {number}" if labels else f"{name} {number}"


async def metrics(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    now = backend.clock.time()
    nodes = {node.id: node for node in backend.control.list_nodes()}
    services = {s.id: s for s in backend.control.list_services()}
    tasks = backend.control.list_tasks()
    cpu: list[str] = []
    memory: list[str] = []
    for task in tasks:
        box = backend.container(task)
        usage = (
            box.usage(now) if box is not None and task.status.state == TaskState.RUNNING else None
        )
        if box is None or usage is None:
            continue
        service = services.get(task.service_id)
        labels = {
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
        cpu.append(_series("container_cpu_usage_seconds_total", labels, round(usage[0], 6)))
        memory.append(_series("container_memory_usage_bytes", labels, usage[1]))
    lines = [
        "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.",
        "# TYPE container_cpu_usage_seconds_total counter",
        *cpu,
        "# HELP container_memory_usage_bytes Current memory usage in bytes.",
        "# TYPE container_memory_usage_bytes gauge",
        *memory,
        *_node_metrics(list(nodes.values())),
        *_swarm_metrics(list(nodes.values()), list(services.values()), tasks),
        "# HELP swarmdeck_api_streams_open Followed streams (logs) the API is serving now.",
        "# TYPE swarmdeck_api_streams_open gauge",
        *(
            _series("swarmdeck_api_streams_open", {"kind": kind}, count)
            for kind, count in sorted(request.app[OPEN_STREAMS].items())
        ),
    ]
    return web.Response(
        text="\n".join(lines) + "\n",
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def _node_metrics(nodes: list[Node]) -> list[str]:
    cores = [
        "# HELP machine_cpu_cores Number of CPU cores on the node.",
        "# TYPE machine_cpu_cores gauge",
    ]
    memory = [
        "# HELP machine_memory_bytes Amount of memory on the node.",
        "# TYPE machine_memory_bytes gauge",
    ]
    info = [
        "# HELP swarm_node_info The node's role, availability and state.",
        "# TYPE swarm_node_info gauge",
    ]
    for node in nodes:
        resources = node.description.resources if node.description else None
        label = {"node": node.hostname, "node_id": node.id}
        cores.append(
            _series(
                "machine_cpu_cores", label, ((resources.nano_cpus or 0) / 1e9) if resources else 0
            )
        )
        memory.append(
            _series(
                "machine_memory_bytes", label, (resources.memory_bytes or 0) if resources else 0
            )
        )
        info.append(
            _series(
                "swarm_node_info",
                {
                    **label,
                    "role": node.spec.role.value if node.spec.role else "",
                    "availability": node.spec.availability.value if node.spec.availability else "",
                    "state": node.status.state.value,
                },
                1,
            )
        )
    return cores + memory + info


def _swarm_metrics(nodes: list[Node], services: list[Service], tasks: list[Task]) -> list[str]:
    node_states = Counter(node.status.state.value for node in nodes)
    task_states = Counter(task.status.state.value for task in tasks)
    lines = [
        "# HELP swarm_manager_nodes The number of nodes in each state.",
        "# TYPE swarm_manager_nodes gauge",
    ]
    lines += [
        _series("swarm_manager_nodes", {"state": s}, n) for s, n in sorted(node_states.items())
    ]
    lines += [
        "# HELP swarm_manager_tasks_total The number of tasks in each state.",
        "# TYPE swarm_manager_tasks_total gauge",
    ]
    lines += [
        _series("swarm_manager_tasks_total", {"state": s}, n)
        for s, n in sorted(task_states.items())
    ]
    lines += [
        "# HELP swarm_manager_services_total The number of services.",
        "# TYPE swarm_manager_services_total gauge",
        _series("swarm_manager_services_total", {}, len(services)),
    ]
    return lines


ROUTES = [
    ("GET", "/containers/json", list_containers),
    ("GET", "/metrics", metrics),
]
