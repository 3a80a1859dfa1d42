"""Watch queues: each watcher gets the events of every commit, in order, after the commit."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence

from engine.api.events import Event
from engine.clock import Clock

__all__ = ["CATCH_UP", "WatchOverflow", "Watcher"]

CATCH_UP = 500  # events a watcher's reader takes on in one step (a turn of the event loop), at most


class WatchOverflow(Exception):
    """A bounded watcher fell more than its limit of commits behind and was closed."""


class Watcher:
    """One subscriber's queue of committed events. Iterate it with ``async for``.

    Internal control loops use unbounded watchers (they run in the same event loop and keep up);
    API clients get a bounded one, closed with ``WatchOverflow`` when they fall behind, as
    SwarmKit's watch queues close slow watchers rather than grow without end.
    """

    def __init__(
        self,
        accepts: Callable[[Event], bool] | None,
        limit: int | None,
        on_close: Callable[[Watcher], None],
    ) -> None:
        self._accepts = accepts
        self._limit = limit
        self._on_close = on_close
        self._batches: deque[Sequence[Event]] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._overflowed = False

    def publish(self, events: Sequence[Event]) -> None:
        if self._closed:
            return
        if self._accepts is not None:
            events = [event for event in events if self._accepts(event)]
            if not events:
                return
        if self._limit is not None and len(self._batches) >= self._limit:
            self._overflowed = True
            self.close()
            return
        self._batches.append(events)
        self._wakeup.set()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._wakeup.set()
            self._on_close(self)

    def get_nowait(self, limit: int | None = None) -> list[Event]:
        """The events queued so far, without waiting: every one, or whole commits until there
        are ``limit`` or more; the rest stay queued."""
        events: list[Event] = []
        while self._batches and (limit is None or len(events) < limit):
            events.extend(self._batches.popleft())
        return events

    def pending(self) -> bool:
        return bool(self._batches)

    async def wait(self, clock: Clock, timeout: float | None = None) -> bool:
        """Waits until a commit is queued; with a timeout, says whether one came in time.

        Raises:
            WatchOverflow: the watcher fell behind and was closed.
        """
        while not self._batches:
            self._check_open()
            self._wakeup.clear()
            if timeout is None:
                await self._wakeup.wait()
            elif not await clock.wait_event(self._wakeup, timeout):
                return bool(self._batches)
        return True

    async def wait_commit(self) -> None:
        """Waits until a commit is queued.

        Raises:
            WatchOverflow: the watcher fell behind and was closed.
        """
        while not self._batches:
            self._check_open()
            self._wakeup.clear()
            await self._wakeup.wait()

    def _check_open(self) -> None:
        if self._closed:
            if self._overflowed:
                raise WatchOverflow("watcher fell behind the store and was closed")
            raise asyncio.CancelledError()

    async def batches(self) -> AsyncIterator[Sequence[Event]]:
        """The events of each commit, one sequence per commit. A watcher that fell behind (a
        big change commits hundreds of times while it waits for its turn) catches up
        ``CATCH_UP`` events a turn of the event loop, the rest of the engine running between."""
        while True:
            taken = 0
            while self._batches:
                if taken >= CATCH_UP:
                    taken = 0
                    await asyncio.sleep(0)
                    continue
                batch = self._batches.popleft()
                taken += len(batch)
                yield batch
            if self._closed:
                if self._overflowed:
                    raise WatchOverflow("watcher fell behind the store and was closed")
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    async def __aiter__(self) -> AsyncIterator[Event]:
        async for batch in self.batches():
            for event in batch:
                yield event
