"""Time, from one object: ``SystemClock`` for real runs, ``FakeClock`` for tests and simulations.

Every component takes a clock and never calls ``time`` or ``asyncio.sleep`` itself, so a test can
run minutes of cluster life in milliseconds and get the same result every time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock", "settle"]


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock time, seconds since the Unix epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait_event(self, event: asyncio.Event, timeout: float) -> bool:
        """Waits for ``event`` at most ``timeout`` seconds; says whether it was set."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    async def wait_event(self, event: asyncio.Event, timeout: float) -> bool:
        try:
            await asyncio.wait_for(event.wait(), max(timeout, 0.0))
        except TimeoutError:
            set_ = False
        else:
            set_ = True
        # In Python 3.11 wait_for can swallow a cancellation that comes as the wait ends;
        # a stopped engine would then never finish stopping.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        return set_


# 2026-01-01T00:00:00Z: a fixed start makes timestamps in tests and screenshots reproducible.
FAKE_EPOCH = 1767225600.0


class FakeClock:
    """A clock that moves only when told to.

    ``advance(seconds)`` fires every timer that falls due, in order, letting the event loop run
    everything that follows from each before the next; ``run_until(condition)`` jumps from timer
    to timer until the condition holds.
    """

    def __init__(self, start: float = FAKE_EPOCH) -> None:
        self._epoch = start
        self._now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()

    def time(self) -> float:
        return self._epoch + self._now

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._now + max(seconds, 0.0), next(self._sequence), future))
        await future

    async def wait_event(self, event: asyncio.Event, timeout: float) -> bool:
        if event.is_set():
            return True
        waiter = asyncio.ensure_future(event.wait())
        sleeper = asyncio.ensure_future(self.sleep(timeout))
        try:
            await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()
        return event.is_set()

    def next_deadline(self) -> float | None:
        while self._timers and self._timers[0][2].done():
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def _fire_due(self) -> None:
        while self._timers and self._timers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._timers)
            if not future.done():
                future.set_result(None)

    async def advance(self, seconds: float) -> None:
        """Moves time forward by ``seconds``, firing due timers in order."""
        target = self._now + seconds
        await settle()
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > target:
                break
            self._now = max(self._now, deadline)
            self._fire_due()
            await settle()
        self._now = target
        await settle()

    async def run_until(
        self, condition: Callable[[], bool], timeout: float = 300.0, what: str = "condition"
    ) -> float:
        """Advances time timer by timer until ``condition()`` holds; returns the time it took.

        Raises:
            TimeoutError: ``timeout`` simulated seconds passed first.
        """
        start = self._now
        await settle()
        while not condition():
            deadline = self.next_deadline()
            if deadline is None or deadline - start > timeout:
                await self.advance(start + timeout - self._now)
                if condition():
                    break
                raise TimeoutError(f"{what} not reached after {timeout} simulated seconds")
            self._now = max(self._now, deadline)
            self._fire_due()
            await settle()
        return self._now - start


async def settle(limit: int = 100_000) -> None:
    """Lets the event loop run until nothing is ready to run (only timers are left)."""
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    idle_rounds = 0
    for _ in range(limit):
        await asyncio.sleep(0)
        if ready is not None and len(ready) == 0:
            idle_rounds += 1
            if idle_rounds >= 2:
                return
        else:
            idle_rounds = 0
