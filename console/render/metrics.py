"""CPU and memory per node and per service, now and over time, from usage samples."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from console.model import Snapshot, UsageStep
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


def _series(steps: tuple[UsageStep, ...], group: str) -> dict[str, tuple[list[float], list[float]]]:
    """For each node or service (``group``), its CPU and memory at each step it was seen."""
    series: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for step in steps:
        for key, (cpu, memory) in step[group].items():
            series[key][0].append(cpu)
            series[key][1].append(memory)
    return series


def metric_rows(latest: Snapshot) -> list[Row]:
    """A row per node, then per service, with current values and sparklines."""
    if not latest.usage_steps:
        return []
    rows = []
    for group, name_of in (("node", latest.hostname), ("service", latest.service_name)):
        series = _series(latest.usage_steps, group)
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
