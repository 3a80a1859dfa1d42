"""The one place that polls the cluster: a snapshot every few seconds, at once after an event."""

from __future__ import annotations

import asyncio
import re
import time

from console.model import Snapshot
from engine.client import ClientError, EngineClient

__all__ = ["Feed", "parse_usage"]

REFRESH = 2.0  # seconds between polls, k9s's default refresh
EVENT_DEBOUNCE = 0.2  # seconds to gather a burst of events into one poll

_CPU = re.compile(r"^container_cpu_usage_seconds_total\{(.*)\} (\S+)$", re.M)
_MEMORY = re.compile(r"^container_memory_usage_bytes\{(.*)\} (\S+)$", re.M)
_TASK = re.compile(r'container_label_com_docker_swarm_task_id="([^"]+)"')


def parse_usage(metrics: str) -> dict[str, tuple[float, int]]:
    """CPU seconds and memory bytes by task ID, from Prometheus text with swarm labels."""
    cpu: dict[str, float] = {}
    memory: dict[str, int] = {}
    for pattern, into, convert in ((_CPU, cpu, float), (_MEMORY, memory, _int)):
        for labels, value in pattern.findall(metrics):
            task = _TASK.search(labels)
            if task is not None:
                into[task.group(1)] = convert(value)  # type: ignore[operator]
    return {task: (cpu[task], memory.get(task, 0)) for task in cpu}


def _int(text: str) -> int:
    return int(float(text))


class Feed:
    """Reads the cluster through ``client``; ``poke()`` asks for a poll now."""

    def __init__(self, client: EngineClient, interval: float = REFRESH) -> None:
        self.client = client
        self.interval = interval
        self._poke = asyncio.Event()

    def poke(self) -> None:
        self._poke.set()

    async def snapshot(self) -> Snapshot:
        nodes, services, tasks, metrics = await asyncio.gather(
            self.client.nodes(),
            self.client.services(),
            self.client.tasks(),
            self.client.metrics(),
        )
        return Snapshot(
            nodes=tuple(nodes),
            services=tuple(services),
            tasks=tuple(tasks),
            now=time.time(),
            usage=parse_usage(metrics) if metrics else {},
        )

    async def wait(self) -> None:
        """Until the next poll is due: the interval, or sooner after an event."""
        try:
            await asyncio.wait_for(self._poke.wait(), self.interval)
            await asyncio.sleep(EVENT_DEBOUNCE)
        except TimeoutError:
            pass
        self._poke.clear()

    async def follow_events(self) -> None:
        """Pokes the poller on each swarm event; returns when the stream ends."""
        try:
            async for _ in self.client.events(since=time.time()):
                self.poke()
        except ClientError:
            return
