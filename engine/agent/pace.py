"""A line at the event loop: at most ``per_turn`` callers go on per turn of the loop.

Thousands of tasks that move at once (a service of 10,000 replicas created) would otherwise
all take their step in the same turn of the event loop, and everything else the engine does
(the API, heartbeats) would wait for them. In line, they take the same steps over more turns,
each of them short.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["PER_TURN", "Pace"]

PER_TURN = 50  # callers let through in one turn of the event loop


class Pace:
    def __init__(self, per_turn: int = PER_TURN) -> None:
        self._per_turn = per_turn
        self._line: deque[asyncio.Future[None]] = deque()
        self._through = 0  # callers let through in this turn
        self._next: asyncio.Handle | None = None  # the next turn, when one is due

    async def turn(self) -> None:
        """Returns at once while this turn has room, else in the first turn that has."""
        if not self._line and self._through < self._per_turn:
            self._through += 1
            self._next_turn_soon()
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._line.append(waiter)
        self._next_turn_soon()
        await waiter

    def _next_turn_soon(self) -> None:
        if self._next is None:
            self._next = asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._next = None
        self._through = 0
        line = self._line
        while line and self._through < self._per_turn:
            waiter = line.popleft()
            if not waiter.done():  # a caller stopped while in line is skipped
                waiter.set_result(None)
                self._through += 1
        if self._through:
            self._next_turn_soon()
