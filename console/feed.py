"""The one place that polls the cluster: a snapshot every few seconds, at once after an event."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque

from console.model import Snapshot, usage_step
from engine.client import ClientError, EngineClient, UsageReader

__all__ = ["Feed"]

HISTORY = 60  # polls of usage a snapshot carries, for sparklines (two minutes at 2 s)
REFRESH = 2.0  # seconds between polls, k9s's default refresh
EVENT_DEBOUNCE = 0.2  # seconds to gather a burst of events into one poll


class Feed:
    """Reads the cluster through ``client`` and usage through ``usage``; ``poke()`` asks for
    a poll now."""

    def __init__(
        self, client: EngineClient, usage: UsageReader | None = None, interval: float = REFRESH
    ) -> None:
        self.client = client
        self.usage = usage or UsageReader(client)
        self.interval = interval
        self._poke = asyncio.Event()
        self._recent: deque[Snapshot] = deque(maxlen=2)  # the last two snapshots made

    def poke(self) -> None:
        self._poke.set()

    async def snapshot(self, now: float | None = None) -> Snapshot:
        """The cluster as it is now, its lookups built (in a worker thread, as the answers were
        decoded); ``now`` stands for the time (a fake clock's, in demos)."""
        nodes, services, tasks, usage = await asyncio.gather(
            self.client.nodes(),
            self.client.services(),
            self.client.tasks(),
            self.usage.read(),
        )
        snapshot = Snapshot(
            nodes=tuple(nodes),
            services=tuple(services),
            tasks=tuple(tasks),
            now=time.time() if now is None else now,
            usage=usage.by_task,
            usage_note=usage.note,
        )
        return await asyncio.to_thread(self._ready, snapshot)

    def _ready(self, snapshot: Snapshot) -> Snapshot:
        """Adds the usage since the last snapshot to the history it carries, builds its
        lookups, and lets go of the snapshot before the last: the console shows the last, so
        that one is freed here, in the worker thread, not on the UI's."""
        if self._recent:
            before = self._recent[-1]
            steps = (*before.usage_steps, usage_step(before, snapshot))[-HISTORY:]
            snapshot = dataclasses.replace(snapshot, usage_steps=steps)
        snapshot.index()
        self._recent.append(snapshot)
        return snapshot

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
