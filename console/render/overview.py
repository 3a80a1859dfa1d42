"""The overview's panels: cluster health at a glance, as text."""

from __future__ import annotations

from collections import Counter

from console.model import Snapshot
from console.render.formatting import ago, cpus, size
from console.render.rows import replicas
from console.sanitize import sanitize_field
from engine.api.objects import Service

__all__ = ["PANELS", "health", "overview_panels"]

PANELS = ("nodes", "services", "tasks", "updates", "failures", "capacity")
_STUCK = ("paused", "rollback_paused")  # an update that waits for someone


def health(service: Service, snapshot: Snapshot) -> str:
    """ "" for a healthy service, else why not: "failing" (its tasks keep failing, however many
    run), "1/2 running", "update paused"."""
    if service.id in snapshot.failing_services:
        return "failing"
    running, desired = replicas(service, snapshot)
    if running < desired:
        return f"{running}/{desired} running"
    update = service.update_status
    if update is not None and update.state in _STUCK:
        return (update.state or "").replace("_", " ").replace("paused", "update paused")
    return ""


def overview_panels(snapshot: Snapshot) -> dict[str, str]:
    """The text of each overview panel."""
    nodes = Counter(
        f"{n.status.state.value}/{(n.spec.availability.value if n.spec.availability else 'active')}"
        for n in snapshot.nodes
    )
    unhealthy = [
        (sanitize_field(s.spec.name or s.id[:12]), why)
        for s in sorted(snapshot.services, key=lambda s: s.spec.name or "")
        if (why := health(s, snapshot))
    ]
    healthy = len(snapshot.services) - len(unhealthy)
    tasks = {state.value: count for state, count in snapshot.tasks_by_state.items()}
    updating = [
        f"{sanitize_field(s.spec.name)}: {s.update_status.state}"
        for s in snapshot.services
        if s.update_status is not None
        and s.update_status.state in ("updating", "rollback_started", "paused", "rollback_paused")
    ]
    return {
        "nodes": "\n".join(f"{count} {state}" for state, count in sorted(nodes.items()))
        or "no nodes",
        "services": "\n".join(
            [f"{healthy}/{len(snapshot.services)} healthy"]
            + [f"{name}: {why}" for name, why in unhealthy]
        ),
        "tasks": "\n".join(f"{count} {state}" for state, count in sorted(tasks.items()))
        or "no tasks",
        "updates": "\n".join(updating) or "none in progress",
        "failures": _failures(snapshot),
        "capacity": _capacity(snapshot),
    }


def _failures(snapshot: Snapshot) -> str:
    """Each service with failed tasks in the last hour: how many, when the last, and why."""
    latest: dict[str, float] = {}  # the time of each service's last failure
    for service, when in snapshot.failures.values():
        latest[service] = max(when, latest.get(service, 0.0))
    errors = snapshot.last_errors
    lines = []
    for service, when in sorted(latest.items(), key=lambda item: -item[1]):
        count = snapshot.restarts_by_service[service]
        if not count:
            continue
        name = sanitize_field(snapshot.service_name(service))
        stamp = ago(snapshot.now - when)
        stamp = stamp[:1].lower() + stamp[1:]  # "About a minute ago", mid-sentence
        error = sanitize_field(errors.get(service, ""), 60)
        lines.append(f"{name}: {count} in the last hour, last {stamp}: {error}".rstrip(": "))
    return "\n".join(lines) or "none in the last hour"


def _capacity(snapshot: Snapshot) -> str:
    """Reserved CPU and memory of the tasks on nodes against the nodes' total; what pending
    tasks ask for besides; what is in use."""
    total_cpu = total_mem = 0
    for node in snapshot.nodes:
        resources = node.description.resources if node.description else None
        if resources:
            total_cpu += resources.nano_cpus or 0
            total_mem += resources.memory_bytes or 0
    used_cpu = sum(cpu for cpu, _ in snapshot.reserved_by_node.values())
    used_mem = sum(memory for _, memory in snapshot.reserved_by_node.values())
    lines = [
        f"CPU reserved {cpus(used_cpu)}/{cpus(total_cpu)} cores",
        f"memory reserved {size(used_mem)}/{size(total_mem)}",
    ]
    waiting, wanted_cpu, wanted_mem = snapshot.pending
    if waiting:
        lines.append(
            f"pending: {waiting} task(s) on no node, asking {cpus(wanted_cpu)} cores, "
            f"{size(wanted_mem)}"
        )
    usage_cpu, usage_mem = snapshot.usage_total
    if snapshot.usage:
        lines.append(f"memory in use {size(usage_mem)}; CPU time {usage_cpu:.0f}s")
    else:
        lines.append("usage unknown: see :metrics")
    return "\n".join(lines)
