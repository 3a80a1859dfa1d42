"""CPU and memory per node and per service, now and over time, from usage samples."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence

from console.model import Snapshot
from console.render.formatting import size
from console.render.rows import Row

__all__ = ["METRIC_COLUMNS", "UsageHistory", "metric_rows", "sparkline"]

METRIC_COLUMNS = ("", "NAME", "CPU", "CPU HISTORY", "MEMORY", "MEMORY HISTORY")
_TICKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 20) -> str:
    """The last ``width`` values as a line of bars, scaled to their maximum."""
    values = list(values)[-width:]
    if not values:
        return ""
    top = max(values) or 1.0
    return "".join(_TICKS[min(len(_TICKS) - 1, int(v / top * (len(_TICKS) - 1)))] for v in values)


class UsageHistory:
    """CPU cores and memory bytes per node and per service at each of the last ``length`` polls.

    Only these sums are kept, not the snapshots they come from, so what it holds grows with the
    cluster's nodes and services, never with its tasks.
    """

    def __init__(self, length: int) -> None:
        self.steps: deque[dict[str, dict[str, tuple[float, float]]]] = deque(maxlen=length)
        self._before: tuple[float, dict[str, tuple[float, int]]] | None = None  # now, usage

    def add(self, snapshot: Snapshot) -> None:
        before, self._before = self._before, (snapshot.now, snapshot.usage)
        if before is not None:
            self.steps.append(_step(*before, snapshot))

    def clear(self) -> None:
        self.steps.clear()
        self._before = None

    def series(self, group: str) -> dict[str, tuple[list[float], list[float]]]:
        """For each node or service (``group``), its CPU and memory at each step it was seen."""
        series: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        for step in self.steps:
            for key, (cpu, memory) in step[group].items():
                series[key][0].append(cpu)
                series[key][1].append(memory)
        return series


def _step(
    before_now: float, before: dict[str, tuple[float, int]], after: Snapshot
) -> dict[str, dict[str, tuple[float, float]]]:
    """CPU cores (from the growth of each task's CPU seconds) and memory bytes, per node and
    per service, between the poll at ``before_now`` and ``after``."""
    sums: dict[str, dict[str, tuple[float, float]]] = {"node": {}, "service": {}}
    if not after.usage:
        return sums
    elapsed = max(after.now - before_now, 1e-6)
    for task in after.tasks:
        sample = after.usage.get(task.id)
        if sample is None:
            continue
        cpu_seconds, memory = sample
        previous = before.get(task.id)
        cpu = max(0.0, cpu_seconds - previous[0]) / elapsed if previous is not None else 0.0
        for group, key in (("node", task.node_id), ("service", task.service_id)):
            total_cpu, total_memory = sums[group].get(key, (0.0, 0.0))
            sums[group][key] = (total_cpu + cpu, total_memory + memory)
    return sums


def metric_rows(history: UsageHistory, latest: Snapshot) -> list[Row]:
    """A row per node, then per service, with current values and sparklines."""
    if not history.steps:
        return []
    rows = []
    for group, name_of in (("node", latest.hostname), ("service", latest.service_name)):
        series = history.series(group)
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
