"""The shape every control loop shares: read the store, then per event mark work dirty, and do
the work once per commit (SwarmKit's "event, dirty set, tick on commit").

A tick does at most ``BATCH`` pieces of work in one transaction: a big change (a service of
100,000 replicas created or removed, a node with thousands of tasks gone down) is worked through
in steps, and the rest of the engine (the API, heartbeats) runs between them.
"""

from __future__ import annotations

import asyncio
import heapq
from typing import TypeVar

from engine.api.events import Event, EventCommit
from engine.store import MemoryStore, ReadTx

__all__ = ["BATCH", "ControlLoop"]

BATCH = 100  # pieces of work a tick does at most; the rest waits for the next step

T = TypeVar("T", str, tuple[str, int, str])


class ControlLoop:
    """Subclasses say what an event makes dirty (``_handle``) and do the work (``_tick``).

    A tick that leaves work for later (``_take`` does, past ``BATCH``) sets ``_more``: the loop
    then comes back for it after letting the rest of the engine run, without waiting for a
    commit.
    """

    _store: MemoryStore
    _more = False

    async def run(self) -> None:
        async with self._store.view_and_watch(self._init) as watcher:
            while True:
                self._more = False
                self._tick()
                await asyncio.sleep(0)  # the rest of the engine runs between two steps
                if not self._more:
                    await watcher.wait_commit()
                for event in watcher.get_nowait():
                    if not isinstance(event, EventCommit):
                        self._handle(event)

    def _take(self, dirty: set[T], limit: int = BATCH) -> set[T]:
        """Takes the first ``limit`` items of ``dirty`` (in sorted order) out of it; the rest
        is left for the next step."""
        if len(dirty) <= limit:
            taken = set(dirty)
            dirty.clear()
            return taken
        taken = set(heapq.nsmallest(limit, dirty))
        dirty -= taken
        self._more = True
        return taken

    def _init(self, tx: ReadTx) -> None:
        """Marks dirty whatever the store already holds that needs work."""

    def _handle(self, event: Event) -> None:
        raise NotImplementedError

    def _tick(self) -> None:
        raise NotImplementedError
