"""A line at the event loop: callers go on a few per turn of the loop, as many as keep turns
short.

Thousands of tasks that move at once (a service of 10,000 replicas created) would otherwise
all take their step in the same turn of the event loop, and everything else the engine does
(the API, heartbeats) would wait for them. In line, they take the same steps over more turns,
each of them short. How many go on per turn follows how long turns take: more while they are
short, half as many after one that took longer than ``TURN``.

The agents of a process take their steps in one line (each step costs tens of microseconds),
the manager's control loops theirs in another (a tick costs a millisecond or more: one a turn
while turns are long).
"""

from __future__ import annotations

import asyncio
from collections import deque

from engine.clock import Clock

__all__ = ["FEWEST", "MOST", "TURN", "Pace"]

# Seconds a turn of the event loop should take at most: a request waits through three or four
# (the one under way, the one that reads it, the one that starts its task, the one that answers).
TURN = 0.007
# The agents' line (a Pace's own unless told otherwise):
FEWEST = 10  # callers let through per turn, however long turns take
# Callers let through per turn, however short turns are: cheap ones (a step that only reads)
# grow the count while turns stay short, and up to 60 µs each (a removal) then come all at once.
MOST = 250


class Pace:
    def __init__(self, clock: Clock, fewest: int = FEWEST, most: int = MOST) -> None:
        """Lets ``fewest`` callers through per turn however long turns are, ``most`` however
        short; while turns are short, ``fewest`` more each turn."""
        self._clock = clock
        self._fewest = fewest
        self._most = most
        self._per_turn = fewest
        self._line: deque[asyncio.Future[None]] = deque()
        self._through = 0  # callers let through in this turn
        self._next: asyncio.Handle | None = None  # the next turn, when one is due
        self._began: float | None = None  # when this turn began, while turns follow turns
        self._go: asyncio.Future[None] | None = None  # done: what a caller with room awaits

    @property
    def per_turn(self) -> int:
        return self._per_turn

    def turn(self) -> asyncio.Future[None]:
        """What to await before a step: done while this turn has room, else resolved in the
        first turn that has. A future, not a coroutine: thousands wait in line at once, and
        each costs the garbage collector what it holds."""
        loop = asyncio.get_running_loop()
        if not self._line and self._through < self._per_turn:
            self._through += 1
            self._next_turn_soon()
            if self._go is None or self._go.get_loop() is not loop:
                self._go = loop.create_future()
                self._go.set_result(None)
            return self._go
        waiter: asyncio.Future[None] = loop.create_future()
        self._line.append(waiter)
        self._next_turn_soon()
        return waiter

    def _next_turn_soon(self) -> None:
        if self._next is None:
            self._next = asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._next = None
        now = self._clock.monotonic()
        if self._began is not None:
            if now - self._began > TURN:
                self._per_turn = max(self._fewest, self._per_turn // 2)
            else:
                self._per_turn = min(self._most, self._per_turn + self._fewest)
        self._through = 0
        line = self._line
        while line and self._through < self._per_turn:
            waiter = line.popleft()
            if not waiter.done():  # a caller stopped while in line is skipped
                waiter.set_result(None)
                self._through += 1
        if self._through:
            self._began = now
            self._next_turn_soon()
        else:
            self._began = None  # idle: the time until the next caller is no turn's
