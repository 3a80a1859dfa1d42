"""The shape every control loop shares: read the store, then per event mark work dirty, and do
the work once per commit (SwarmKit's "event, dirty set, tick on commit").

A tick does at most ``BATCH`` pieces of work in one transaction, and a step takes on the
watcher's ``CATCH_UP`` events at most, in whole commits: a big change (a service of 100,000
replicas created or removed, a node with thousands of tasks gone down) is worked through in
steps, and the rest of the engine (the API, heartbeats) runs between them. The manager's loops
take their steps in one line (``loops_pace``): while a big change keeps them all busy, a turn
of the event loop holds one loop's step, not every loop's.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from engine.api.events import Event, EventCommit
from engine.clock import Clock
from engine.pace import Pace
from engine.store import CATCH_UP, MemoryStore, ReadTx

__all__ = ["BATCH", "ControlLoop", "Dirty", "loops_pace"]

BATCH = 25  # pieces of work a tick does at most; the rest waits for the next step

T = TypeVar("T", str, tuple[str, int, str])


def loops_pace(clock: Clock, loops: int = 1) -> Pace:
    """The line ``loops`` control loops take their steps in: a step each a turn while turns
    are short, one step a turn after a long one."""
    return Pace(clock, fewest=1, most=loops)


class Dirty(Generic[T]):
    """A set that keeps the order its items came in: taking the first ``limit`` of them costs
    ``limit``, however many wait (100,000 tasks of a removed service), and the same events
    give the same order every time."""

    def __init__(self) -> None:
        self._items: dict[T, None] = {}

    def add(self, item: T) -> None:
        self._items[item] = None

    def update(self, items: Iterable[T]) -> None:
        self._items.update(dict.fromkeys(items))

    def discard(self, item: T) -> None:
        self._items.pop(item, None)

    def take(self, limit: int) -> list[T]:
        """Takes the first ``limit`` items out."""
        taken = list(itertools.islice(self._items, limit))
        for item in taken:
            del self._items[item]
        if not self._items:
            self._items.clear()  # an emptied dict keeps its size (4 MB after 100,000 items)
        return taken

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class ControlLoop:
    """Subclasses say what an event makes dirty (``_handle``) and do the work (``_tick``).

    A tick that leaves work for later (``_take`` does, past ``BATCH``) sets ``_more``: the loop
    then comes back for it after letting the rest of the engine run, without waiting for a
    commit.
    """

    _store: MemoryStore
    _pace: Pace  # the line the manager's loops take their steps in
    _more = False

    async def run(self) -> None:
        async with self._store.view_and_watch(self._init) as watcher:
            while True:
                self._more = False
                self._tick()
                await asyncio.sleep(0)  # the rest of the engine runs between two steps
                if not self._more:
                    await watcher.wait_commit()
                await self._pace.turn()
                for event in watcher.get_nowait(CATCH_UP):
                    if not isinstance(event, EventCommit):
                        self._handle(event)

    def _take(self, dirty: Dirty[T], limit: int = BATCH) -> list[T]:
        """Takes the first ``limit`` items of ``dirty`` out of it; the rest is left for the
        next step."""
        taken = dirty.take(limit)
        if dirty:
            self._more = True
        return taken

    def _init(self, tx: ReadTx) -> None:
        """Marks dirty whatever the store already holds that needs work."""

    def _handle(self, event: Event) -> None:
        raise NotImplementedError

    def _tick(self) -> None:
        raise NotImplementedError
