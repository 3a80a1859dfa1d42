"""What a task becomes on a Docker Engine: its container's name, labels and create config.

As swarm's container adapter does: ``command`` replaces the image's entrypoint and ``args``
its command; limits, health check, stop signal and grace period carry over; secret and config
files are bound in read-only.

Ports go through the engine's bridge network, when it has one. A port published in host mode is
bound on the node's own port, as swarm binds it. Any other port of the service (published through
the routing mesh) has its target port bound on a port the engine picks: the mesh reaches the task
at the node's address and that port (swarm's overlay network, without one). Names are looked up
at the node's resolver (``dns``), the swarm's embedded DNS, with ``ndots:0`` as Docker's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.api.durations import SECOND
from engine.api.naming import task_name
from engine.api.objects import Service, Task

__all__ = ["LABELS", "container_config", "container_name", "grace_seconds", "port_key"]

LABELS = {
    "node": "swarmdeck.node.id",
    "service": "swarmdeck.service.id",
    "service_name": "swarmdeck.service.name",
    "task": "swarmdeck.task.id",
    "task_name": "swarmdeck.task.name",
}
DEFAULT_GRACE = 10  # seconds, swarm's default stop grace period


def container_name(service_name: str, task: Task) -> str:
    """Swarm's container name: ``<service>.<slot or node>.<task id>``."""
    return f"{task_name(service_name, task)}.{task.id}"


def grace_seconds(nanoseconds: int | None) -> int:
    return DEFAULT_GRACE if nanoseconds is None else max(0, round(nanoseconds / SECOND))


def port_key(target_port: int, protocol: str) -> str:
    """Docker's name of a container port: ``80/tcp``."""
    return f"{target_port}/{protocol or 'tcp'}"


def _ports(service: Service | None) -> dict[str, list[dict[str, str]]]:
    """The service's ports as Docker's port bindings: a host-mode port on its published port,
    any other on a port the engine picks (an empty HostPort)."""
    ports = (service.endpoint.ports if service and service.endpoint else None) or []
    bindings: dict[str, list[dict[str, str]]] = {}
    for port in ports:
        if not port.target_port:
            continue
        key = port_key(port.target_port, port.protocol or "tcp")
        host = port.publish_mode == "host" and port.published_port
        binding = {"HostPort": str(port.published_port) if host else ""}
        if binding not in bindings.setdefault(key, []):
            bindings[key].append(binding)
    return bindings


def container_config(
    task: Task,
    image: str,
    name: str,
    node_id: str,
    service: Service | None,
    bridge: bool,
    files: Sequence[tuple[str, str]] = (),
    dns: Sequence[str] = (),
) -> dict[str, Any]:
    """``POST /containers/create``'s body for ``task`` on the node ``node_id``; ``bridge``
    says whether the engine has a bridge network to publish ports through; ``files`` are the
    task's secret and config files, each as (path in the container, path on the host);
    ``dns`` the name servers its container asks (none: the engine's own choice)."""
    spec = task.spec.container_spec
    assert spec is not None
    labels = {
        **(spec.labels or {}),
        LABELS["node"]: node_id,
        LABELS["service"]: task.service_id,
        LABELS["service_name"]: (service.spec.name if service else None) or task.service_id,
        LABELS["task"]: task.id,
        LABELS["task_name"]: name,
    }
    config: dict[str, Any] = {
        "Image": image,
        "Labels": labels,
        "Env": spec.env or [],
        "Tty": bool(spec.tty),
        "OpenStdin": bool(spec.open_stdin),
        "StopTimeout": grace_seconds(spec.stop_grace_period),
        "HostConfig": {
            "NetworkMode": "bridge" if bridge else "none",
            "ReadonlyRootfs": bool(spec.read_only),
            "Init": spec.init,
            "CapAdd": spec.capability_add,
            "CapDrop": spec.capability_drop,
            "Sysctls": spec.sysctls,
        },
    }
    if files:
        config["HostConfig"]["Mounts"] = [
            {"Type": "bind", "Source": source, "Target": target, "ReadOnly": True}
            for target, source in files
        ]
    if dns and bridge:
        config["HostConfig"]["Dns"] = list(dns)
        config["HostConfig"]["DnsOptions"] = ["ndots:0"]
    bindings = _ports(service) if bridge else {}
    if bindings:
        config["ExposedPorts"] = {key: {} for key in bindings}
        config["HostConfig"]["PortBindings"] = bindings
    if spec.command:
        config["Entrypoint"] = spec.command
    if spec.args:
        config["Cmd"] = spec.args
    for field, key in (("hostname", "Hostname"), ("dir", "WorkingDir"), ("user", "User")):
        if getattr(spec, field):
            config[key] = getattr(spec, field)
    if spec.stop_signal:
        config["StopSignal"] = spec.stop_signal
    limits = task.spec.resources.limits if task.spec.resources else None
    if limits is not None:
        config["HostConfig"]["NanoCpus"] = limits.nano_cpus or 0
        config["HostConfig"]["Memory"] = limits.memory_bytes or 0
    check = spec.healthcheck
    if check is not None:
        config["Healthcheck"] = {
            "Test": check.test,
            "Interval": check.interval or 0,
            "Timeout": check.timeout or 0,
            "Retries": check.retries or 0,
            "StartPeriod": check.start_period or 0,
        }
    return config
