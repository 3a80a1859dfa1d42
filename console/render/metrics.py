"""CPU and memory per node and per service, now and over time, from usage samples.

Rows follow the cluster: a node or service is shown while the snapshot has it, and one that
runs nothing says so rather than keep its last figures. Each history column shares one scale
(the highest value in it), so a flat series looks flat and rows compare at a glance; a poll in
which a node or service ran nothing counts as zero.
"""

from __future__ import annotations

from collections.abc import Sequence

from console.model import Snapshot
from console.render.formatting import size
from console.render.rows import Row
from console.sanitize import sanitize_field
from engine.api.types import TaskState

__all__ = ["METRIC_COLUMNS", "NOT_READ", "NO_TASKS", "cores", "metric_rows", "sparkline"]

METRIC_COLUMNS = ("KIND", "NAME", "CPU", "CPU HISTORY", "MEMORY", "MEMORY HISTORY")
NO_TASKS = "no tasks"  # what a node or service running nothing shows for its figures
NOT_READ = "not read"  # what one shows whose tasks run but whose usage could not be read
WIDTH = 20  # polls of history a sparkline shows
_TICKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], top: float | None = None, width: int = WIDTH) -> str:
    """The last ``width`` values as a line of bars, scaled to ``top`` (default: their
    highest); zero is the lowest bar."""
    values = list(values)[-width:]
    if not values:
        return ""
    top = (max(values) if top is None else top) or 1.0
    last = len(_TICKS) - 1
    return "".join(_TICKS[max(0, min(last, round(v / top * last)))] for v in values)


def cores(cpu: float) -> str:
    """CPU in use, with its unit: ``0.25 cores``."""
    return f"{cpu:.2f} cores"


def metric_rows(snapshot: Snapshot) -> list[Row]:
    """A row per node, then per service, of the snapshot, with their figures from the last
    usage read and their history."""
    steps = snapshot.usage_steps
    if not steps:
        return []
    groups = (
        ("node", sorted(snapshot.nodes, key=lambda n: snapshot.hostname(n.id))),
        ("service", sorted(snapshot.services, key=lambda s: s.spec.name or "")),
    )
    series: list[tuple[str, str, str, list[float], list[float], str]] = []
    for group, objects in groups:
        for obj in objects:
            none = NOT_READ if _runs(snapshot, group, obj.id) else NO_TASKS
            history = [step[group].get(obj.id, (0.0, 0.0)) for step in steps]
            name = snapshot.hostname(obj.id) if group == "node" else snapshot.service_name(obj.id)
            series.append(
                (
                    group,
                    obj.id,
                    sanitize_field(name),
                    [cpu for cpu, _ in history[-WIDTH:]],
                    [memory for _, memory in history[-WIDTH:]],
                    "" if obj.id in steps[-1][group] else none,
                )
            )
    cpu_top = max((max(cpu, default=0.0) for *_, cpu, _, _ in series), default=0.0)
    memory_top = max((max(memory, default=0.0) for *_, memory, _ in series), default=0.0)
    rows = []
    for group, key, name, cpu, memory, none in series:
        rows.append(
            Row(
                f"{group}:{key}",
                (
                    group,
                    name,
                    none or cores(cpu[-1]),
                    sparkline(cpu, cpu_top),
                    none or size(memory[-1]),
                    sparkline(memory, memory_top),
                ),
                "off" if none else "",
            )
        )
    return rows


def _runs(snapshot: Snapshot, group: str, key: str) -> bool:
    """Whether the node or service runs a task now."""
    if group == "node":
        return snapshot.running_by_node[key] > 0
    return any(t.status.state == TaskState.RUNNING for t in snapshot.tasks_by_service.get(key, ()))
