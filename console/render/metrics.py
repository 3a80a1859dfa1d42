"""CPU and memory per node and per service, now and over time, from usage samples."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence

from console.model import Snapshot
from console.render.formatting import size
from console.render.rows import Row

__all__ = ["METRIC_COLUMNS", "metric_rows", "sparkline"]

METRIC_COLUMNS = ("", "NAME", "CPU", "CPU HISTORY", "MEMORY", "MEMORY HISTORY")
_TICKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 20) -> str:
    """The last ``width`` values as a line of bars, scaled to their maximum."""
    values = list(values)[-width:]
    if not values:
        return ""
    top = max(values) or 1.0
    return "".join(_TICKS[min(len(_TICKS) - 1, int(v / top * (len(_TICKS) - 1)))] for v in values)


def _series(history: Sequence[Snapshot], group: str) -> dict[str, tuple[list[float], list[float]]]:
    """CPU cores and memory bytes per node or service, for each step of ``history``."""
    series: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for before, after in itertools.pairwise(history):
        elapsed = max(after.now - before.now, 1e-6)
        cpu: dict[str, float] = defaultdict(float)
        memory: dict[str, float] = defaultdict(float)
        tasks = {t.id: t for t in after.tasks}
        for task_id, (cpu_seconds, mem) in after.usage.items():
            task = tasks.get(task_id)
            if task is None:
                continue
            key = task.node_id if group == "node" else task.service_id
            previous = before.usage.get(task_id)
            if previous is not None:
                cpu[key] += max(0.0, cpu_seconds - previous[0]) / elapsed
            memory[key] += mem
        for key in set(cpu) | set(memory):
            series[key][0].append(cpu[key])
            series[key][1].append(memory[key])
    return series


def metric_rows(history: Sequence[Snapshot]) -> list[Row]:
    """A row per node, then per service, with current values and sparklines."""
    if len(history) < 2:
        return []
    latest = history[-1]
    rows = []
    for group, name_of in (("node", latest.hostname), ("service", latest.service_name)):
        series = _series(history, group)
        for key in sorted(series, key=name_of):
            cpu, memory = series[key]
            rows.append(
                Row(
                    f"{group}:{key}",
                    (
                        group,
                        name_of(key),
                        f"{cpu[-1]:.2f}",
                        sparkline(cpu),
                        size(memory[-1]),
                        sparkline(memory),
                    ),
                )
            )
    return rows
