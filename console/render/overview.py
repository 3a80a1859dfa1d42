"""The overview's panels: cluster health at a glance, as text."""

from __future__ import annotations

from collections import Counter

from console.model import Snapshot
from console.render.formatting import age, cpus, size
from console.render.rows import replicas, task_name
from console.sanitize import sanitize_field

__all__ = ["PANELS", "overview_panels"]

PANELS = ("nodes", "services", "tasks", "updates", "failures", "capacity")


def overview_panels(snapshot: Snapshot) -> dict[str, str]:
    """The text of each overview panel."""
    nodes = Counter(
        f"{n.status.state.value}/{(n.spec.availability.value if n.spec.availability else 'active')}"
        for n in snapshot.nodes
    )
    converged = sum(1 for s in snapshot.services if (r := replicas(s, snapshot))[0] >= r[1])
    tasks = {state.value: count for state, count in snapshot.tasks_by_state.items()}
    updating = [
        f"{sanitize_field(s.spec.name)}: {s.update_status.state}"
        for s in snapshot.services
        if s.update_status is not None
        and s.update_status.state in ("updating", "rollback_started", "paused", "rollback_paused")
    ]
    total_cpu = total_mem = 0
    for node in snapshot.nodes:
        resources = node.description.resources if node.description else None
        if resources:
            total_cpu += resources.nano_cpus or 0
            total_mem += resources.memory_bytes or 0
    used_cpu = sum(cpu for cpu, _ in snapshot.reserved_by_node.values())
    used_mem = sum(memory for _, memory in snapshot.reserved_by_node.values())
    usage_cpu, usage_mem = snapshot.usage_total
    return {
        "nodes": "\n".join(f"{count} {state}" for state, count in sorted(nodes.items()))
        or "no nodes",
        "services": f"{converged}/{len(snapshot.services)} converged",
        "tasks": "\n".join(f"{count} {state}" for state, count in sorted(tasks.items()))
        or "no tasks",
        "updates": "\n".join(updating) or "none in progress",
        "failures": "\n".join(
            f"{task_name(t, snapshot)}: {sanitize_field(t.status.err, 40)} "
            f"{age(t.status.timestamp, snapshot.now)}"
            for t in snapshot.recent_failures
        )
        or "none",
        "capacity": (
            f"CPU reserved {cpus(used_cpu)}/{cpus(total_cpu)}\n"
            f"memory reserved {size(used_mem)}/{size(total_mem)}\n"
            + (
                f"memory in use {size(usage_mem)}; CPU time {usage_cpu:.0f}s"
                if snapshot.usage
                else "usage unknown: see :metrics"
            )
        ),
    }
