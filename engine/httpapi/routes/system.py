"""``/_ping``, ``/version``, ``/info``, ``/events``, and ``/distribution`` (no registry here)."""

from __future__ import annotations

import asyncio
import os
import platform

import msgspec
from aiohttp import web

from engine.api.codec import to_builtins
from engine.api.durations import format_timestamp
from engine.api.swarm import LocalNode
from engine.api.types import NodeRole, TaskState
from engine.errors import NotFound
from engine.httpapi.context import (
    API_VERSION,
    BACKEND,
    ENGINE_VERSION,
    EVENTS,
    MIN_API_VERSION,
    json_response,
)
from engine.httpapi.events import SwarmEvent
from engine.httpapi.params import parse_filters, timestamp

EVENT_FILTERS = (
    "type",
    "action",
    "event",
    "service",
    "node",
    "network",
    "secret",
    "config",
    "scope",
    "label",
)


async def ping(request: web.Request) -> web.Response:
    return web.Response(
        text="OK" if request.method == "GET" else None,
        content_type="text/plain",
        headers={
            "Cache-Control": "no-cache, no-store, must-revalidate",
            "Pragma": "no-cache",
            "Swarm": _swarm_header(request.app[BACKEND].local_node()),
        },
    )


def _swarm_header(local: LocalNode) -> str:
    if local.local_node_state != "active":
        return local.local_node_state
    return "active/manager" if local.control_available else "active/worker"


async def version(request: web.Request) -> web.Response:
    details = {
        "ApiVersion": API_VERSION,
        "Arch": "amd64",
        "Experimental": "false",
        "GitCommit": "swarmdeck",
        "GoVersion": platform.python_version(),
        "KernelVersion": platform.release(),
        "MinAPIVersion": MIN_API_VERSION,
        "Os": "linux",
    }
    return json_response(
        {
            "Platform": {"Name": "swarmdeck"},
            "Components": [{"Name": "Engine", "Version": ENGINE_VERSION, "Details": details}],
            "Version": ENGINE_VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "swarmdeck",
            "GoVersion": platform.python_version(),
            "Os": "linux",
            "Arch": "amd64",
            "KernelVersion": platform.release(),
        }
    )


async def info(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    local = backend.local_node()
    swarm = to_builtins(local)
    swarm.setdefault("LocalNodeState", local.local_node_state)
    for key in ("NodeID", "NodeAddr", "Error"):
        swarm.setdefault(key, "")
    swarm.setdefault("ControlAvailable", False)
    swarm.setdefault("RemoteManagers", None)
    node, on_local = None, []
    if local.control_available:
        control = backend.control
        nodes = control.list_nodes()
        node = next((n for n in nodes if n.id == local.node_id), None)
        on_local = [t for t in control.list_tasks() if t.node_id == local.node_id]
        cluster = to_builtins(control.get_cluster())
        cluster.pop("JoinTokens", None)
        swarm["Nodes"] = len(nodes)
        swarm["Managers"] = sum(1 for n in nodes if n.spec.role == NodeRole.MANAGER)
        swarm["Cluster"] = cluster
    running = sum(1 for t in on_local if t.status.state == TaskState.RUNNING)
    resources = node.description.resources if node and node.description else None
    return json_response(
        {
            "ID": local.node_id,
            "Containers": len(on_local),
            "ContainersRunning": running,
            "ContainersPaused": 0,
            "ContainersStopped": len(on_local) - running,
            "Images": 0,
            "Driver": "swarmdeck-sim",
            "DockerRootDir": "",
            "Debug": False,
            "SystemTime": format_timestamp(backend.clock.time()),
            "LoggingDriver": "json-file",
            "CgroupDriver": "none",
            "KernelVersion": platform.release(),
            "OperatingSystem": "swarmdeck (simulated nodes)",
            "OSType": "linux",
            "Architecture": "x86_64",
            "NCPU": ((resources.nano_cpus or 0) // 1_000_000_000) if resources else os.cpu_count(),
            "MemTotal": (resources.memory_bytes or 0) if resources else 0,
            "Name": node.hostname if node else platform.node(),
            "Labels": [],
            "ExperimentalBuild": False,
            "ServerVersion": ENGINE_VERSION,
            "Swarm": swarm,
            "Warnings": [],
            **_daemon_info(request),
        }
    )


def _daemon_info(request: web.Request) -> dict[str, object]:
    """What dockerd 20.10 reports beside the swarm, with this engine's values: no local
    volumes, images or runtimes of its own (its containers are simulated, or a node's
    engine's), the swarm's network drivers, the API's logs."""
    return {
        "DriverStatus": [],
        "Plugins": {
            "Volume": [],
            "Network": ["bridge", "host", "null", "overlay"],
            "Authorization": [],
            "Log": ["json-file"],
        },
        "MemoryLimit": True,
        "SwapLimit": False,
        "KernelMemory": False,
        "KernelMemoryTCP": False,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": False,
        "PidsLimit": False,
        "IPv4Forwarding": True,
        "BridgeNfIptables": False,
        "BridgeNfIp6tables": False,
        "OomKillDisable": False,
        "NFd": _open_files(),
        "NGoroutines": len(asyncio.all_tasks()),
        "NEventsListener": request.app[EVENTS].listeners,
        "CgroupVersion": "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1",
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {
                "docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True}
            },
            "Mirrors": [],
        },
        "GenericResources": [],
        "HttpProxy": os.environ.get("HTTP_PROXY", os.environ.get("http_proxy", "")),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", os.environ.get("https_proxy", "")),
        "NoProxy": os.environ.get("NO_PROXY", os.environ.get("no_proxy", "")),
        "Runtimes": {"swarmdeck": {"path": "swarmdeck"}},
        "DefaultRuntime": "swarmdeck",
        "LiveRestoreEnabled": False,
        "Isolation": "default",
        "InitBinary": "",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": [],
        "ProductLicense": "Apache License 2.0",
        "DefaultAddressPools": [],
        "ClusterStore": "",
        "ClusterAdvertise": "",
        "OSVersion": "",
    }


def _open_files() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


async def events(request: web.Request) -> web.StreamResponse:
    filters = parse_filters(request.query.get("filters"), EVENT_FILTERS)
    since = timestamp(request.query, "since")
    until = timestamp(request.query, "until")

    def accepts(event: SwarmEvent) -> bool:
        actor = event["Actor"]
        name = actor["Attributes"]["name"]  # the event log names every object it tells of
        for key, values in filters.items():
            if key == "type" and event["Type"] not in values:
                return False
            if key in ("action", "event") and event["Action"] not in values:
                return False
            if key == "scope" and event["scope"] not in values:
                return False
            if key in ("service", "node", "network", "secret", "config") and (
                event["Type"] != key
                or not any(actor["ID"].startswith(v) or name == v for v in values)
            ):
                return False
            if key == "label":
                return False  # swarm events carry no labels
        return True

    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    encoder = msgspec.json.Encoder()
    try:
        async for event in request.app[EVENTS].stream(since, until, accepts):
            await response.write(encoder.encode(event) + b"\n")
        await response.write_eof()
    except ConnectionError:  # the client left, or its connection was lost
        pass
    return response


async def distribution(request: web.Request) -> web.Response:
    raise NotFound(
        f"no registry is reachable to resolve {request.match_info['name']}: "
        "images run as named, unpinned",
        rpc=False,
    )


ROUTES = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/events", events),
    ("GET", "/distribution/{name:.+}/json", distribution),
]
