"""What a container uses, from the Docker Engine's stats of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["container_usage"]


def container_usage(stats: Mapping[str, Any]) -> tuple[float, int]:
    """CPU seconds and memory bytes from one sample of ``GET /containers/{id}/stats``, counting
    memory as ``docker stats`` does: usage less the inactive page cache (cgroup v1 and v2 name
    it differently)."""
    cpu = stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage", 0) / 1e9
    memory = stats.get("memory_stats", {})
    detail = memory.get("stats", {})
    cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    return cpu, max(0, int(memory.get("usage", 0)) - int(cache))
