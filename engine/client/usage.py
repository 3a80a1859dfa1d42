"""What each task uses (CPU seconds, memory bytes), from wherever the cluster can tell.

A swarm manager's API has no usage figures: they live on each node. In order of preference:
a Prometheus or cAdvisor endpoint the user names; the endpoint's own ``/metrics`` (our engine
serves one, with cAdvisor's names and swarm labels); container stats from each node's engine,
when the user names the node engines. With none of these, ``Usage.note`` says so.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.api.usage import container_usage
from engine.client.client import EngineClient
from engine.client.errors import ClientError

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "MESH_FAMILY",
    "TASK_LABEL",
    "USAGE_FAMILIES",
    "Usage",
    "UsageReader",
    "parse_connections",
    "parse_usage",
    "read_engine_files",
]

TASK_LABEL = "com.docker.swarm.task.id"
# Connections our engine's routing mesh gave each task in the last minute; a Docker swarm's
# mesh (IPVS) counts none.
MESH_FAMILY = "swarmdeck_mesh_connections_last_minute"
# The families of /metrics that usage is read from; our engine then writes only these.
USAGE_FAMILIES = ("container_cpu_usage_seconds_total", "container_memory_usage_bytes", MESH_FAMILY)
NO_SOURCE = (
    "no usage figures: a swarm manager serves none; name the node engines "
    "(--node-engines FILE, or --node-engine NAME=URL) or a Prometheus/cAdvisor (--metrics-url)"
)

# A sample of CPU or memory of a swarm task: the metric, the task's ID, the value; one pass.
_SAMPLE = re.compile(
    r"^container_(cpu_usage_seconds_total|memory_usage_bytes)\{[^\n]*?"
    r'container_label_com_docker_swarm_task_id="([^"]+)"[^\n]*\} (\S+)$',
    re.M,
)


_CONNECTIONS = re.compile(rf'^{MESH_FAMILY}\{{[^\n]*?task_id="([^"]+)"[^\n]*\}} (\S+)$', re.M)


@dataclass(frozen=True)
class Usage:
    """CPU seconds and memory bytes by task ID; ``note`` says what could not be read.
    ``connections``: the routing mesh's connections to each task in the last minute, by task
    ID, where the source counts them (None: it does not)."""

    by_task: dict[str, tuple[float, int]] = field(default_factory=dict)
    source: str = ""
    note: str = ""
    connections: dict[str, int] | None = None


def parse_connections(metrics: str) -> dict[str, int] | None:
    """Connections by task ID in the last minute, from our engine's ``/metrics``; None where
    the text has no such family (a Docker swarm's, a Prometheus that does not scrape us)."""
    if f"# TYPE {MESH_FAMILY} " not in metrics:
        return None
    return {task: int(float(value)) for task, value in _CONNECTIONS.findall(metrics)}


def _read_metrics(metrics: str, source: str) -> Usage:
    return Usage(parse_usage(metrics), source, connections=parse_connections(metrics))


def parse_usage(metrics: str) -> dict[str, tuple[float, int]]:
    """CPU seconds and memory bytes by task ID, from Prometheus text with swarm labels."""
    cpu: dict[str, float] = {}
    memory: dict[str, int] = {}
    for metric, task, value in _SAMPLE.findall(metrics):
        if metric == "cpu_usage_seconds_total":
            cpu[task] = float(value)
        else:
            memory[task] = int(float(value))
    return {task: (cpu[task], memory.get(task, 0)) for task in cpu}


def read_engine_files(path: str) -> dict[str, str]:
    """A JSON object of node hostnames and engine URLs, as ``swarmdeck lab`` writes."""
    try:
        with open(path, encoding="utf-8") as file:
            engines = json.load(file)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read node engines from {path}: {error}") from None
    if not isinstance(engines, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in engines.items()
    ):
        raise ValueError(f"{path}: expected a JSON object of hostname to engine URL")
    return engines


class UsageReader:
    """Reads usage, when asked, from the best source the cluster has (see the module)."""

    def __init__(
        self,
        manager: EngineClient,
        engines: Mapping[str, EngineClient] | None = None,
        metrics_url: str | None = None,
    ) -> None:
        self._manager = manager
        self._engines = dict(engines or {})
        self._metrics_url = metrics_url
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.close()
        if self._session is not None:
            await self._session.close()

    async def read(self) -> Usage:
        if self._metrics_url:
            return await self._from_prometheus(self._metrics_url)
        metrics = await self._manager.metrics(USAGE_FAMILIES)
        if metrics is not None:  # read in a worker thread: a large cluster's is megabytes
            return await asyncio.to_thread(_read_metrics, metrics, "the endpoint's /metrics")
        if self._engines:
            return await self._from_engines()
        return Usage(note=NO_SOURCE)

    async def _from_prometheus(self, url: str) -> Usage:
        import aiohttp  # loaded when first needed, as by EngineClient

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        try:
            async with self._session.get(url) as response:
                if response.status != 200:
                    return Usage(note=f"{url} answered {response.status}")
                return await asyncio.to_thread(_read_metrics, await response.text(), url)
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            return Usage(note=f"cannot read {url}: {error}")

    async def _from_engines(self) -> Usage:
        names = list(self._engines)
        answers = await asyncio.gather(
            *(self._engine_usage(self._engines[name]) for name in names), return_exceptions=True
        )
        by_task: dict[str, tuple[float, int]] = {}
        failed = []
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, ClientError):
                failed.append(f"{name} ({answer.message})")
            elif isinstance(answer, BaseException):
                raise answer
            else:
                by_task.update(answer)
        note = f"no usage from {', '.join(failed)}" if failed else ""
        return Usage(by_task, "node engines", note)

    @staticmethod
    async def _engine_usage(engine: EngineClient) -> dict[str, tuple[float, int]]:
        containers = await engine.containers(label=TASK_LABEL)
        stats = await asyncio.gather(*(engine.container_stats(c["Id"]) for c in containers))
        return {
            container["Labels"][TASK_LABEL]: container_usage(one)
            for container, one in zip(containers, stats, strict=True)
            if one is not None
        }
