"""The backends a mesh listener balances over, and how connections were spread over them.

A ``BackendPool`` is what the integrator keeps in step with the cluster: one per published port
(or per VIP port), its backends the RUNNING tasks of the service as ``Backend(key, host, port)``
with the task ID as the key. ``set_backends`` swaps the whole set at once, so a task that
stopped gets no new connection from the next pick on; connections it already carries are left
alone, as IPVS leaves them.

Picks go round-robin (IPVS's ``rr`` scheduler, what the routing mesh uses), one pick per new TCP
connection or UDP flow, and the rotation carries on across changes of the set. A connection that
cannot reach its backend asks for the next one, each backend at most once.

``connections_last_minute`` counts the connections each backend was given, in one-second buckets
over the last 60 s: memory is bounded by 60 buckets of the keys that got connections in them.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable
from typing import NamedTuple

__all__ = ["WINDOW", "Backend", "BackendPool"]

WINDOW = 60  # seconds: "how connections were spread over its tasks in the last minute"


class Backend(NamedTuple):
    """Where a connection can go: ``key`` names it (a task ID), ``host:port`` is reached;
    ``host`` is an IP address (a task's, or a node's for a task that publishes a host port)."""

    key: str
    host: str
    port: int


class BackendPool:
    """A round-robin rotation over backends that can be replaced at any time.

    Args:
        backends: the first set, in rotation order.
        clock: seconds on a monotonic clock, for the per-minute counts.
    """

    __slots__ = ("_backends", "_buckets", "_clock", "_members", "_next")

    def __init__(
        self,
        backends: Iterable[Backend | tuple[str, str, int]] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backends: tuple[Backend, ...] = ()
        self._members: frozenset[Backend] = frozenset()
        self._next = 0  # index of the next pick
        self._clock = clock
        self._buckets: deque[tuple[int, dict[str, int]]] = deque()
        self.set_backends(backends)

    @property
    def backends(self) -> tuple[Backend, ...]:
        """The current set, in rotation order."""
        return self._backends

    def __contains__(self, backend: object) -> bool:
        return backend in self._members

    def set_backends(self, backends: Iterable[Backend | tuple[str, str, int]]) -> None:
        """Replaces the set at once; the rotation goes on after the last backend picked.

        Raises:
            ValueError: a backend is malformed; the pool is left as it was.
        """
        new = tuple(dict.fromkeys(_checked(backend) for backend in backends))
        old, start = self._backends, self._next
        position = {backend: index for index, backend in enumerate(new)}
        self._backends, self._members, self._next = new, frozenset(new), 0
        # The next pick is the first backend that would have come next and is still there.
        for step in range(len(old)):
            index = position.get(old[(start + step) % len(old)])
            if index is not None:
                self._next = index
                return

    def pick(self, exclude: Collection[Backend] = ()) -> Backend | None:
        """The next backend in the rotation that is not in ``exclude``; None when none is left."""
        backends = self._backends
        count = len(backends)
        for step in range(count):
            index = (self._next + step) % count
            backend = backends[index]
            if backend not in exclude:
                self._next = (index + 1) % count
                return backend
        return None

    def record(self, backend: Backend) -> None:
        """Counts one connection (or UDP flow) given to ``backend``."""
        second = int(self._clock())
        buckets = self._buckets
        if not buckets or buckets[-1][0] != second:
            self._expire(second)
            buckets.append((second, {}))
        counts = buckets[-1][1]
        counts[backend.key] = counts.get(backend.key, 0) + 1

    def connections_last_minute(self) -> dict[str, int]:
        """Connections given to each backend key in the last ``WINDOW`` seconds."""
        self._expire(int(self._clock()))
        totals: dict[str, int] = {}
        for _, counts in self._buckets:
            for key, count in counts.items():
                totals[key] = totals.get(key, 0) + count
        return totals

    def _expire(self, second: int) -> None:
        buckets = self._buckets
        while buckets and buckets[0][0] <= second - WINDOW:
            buckets.popleft()


def _checked(backend: Backend | tuple[str, str, int]) -> Backend:
    try:
        key, host, port = backend
    except (TypeError, ValueError):
        raise ValueError(f"invalid backend {backend!r}: want (key, host, port)") from None
    if not isinstance(key, str) or not key:
        raise ValueError(f"invalid backend {backend!r}: the key must be a non-empty string")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"invalid backend {backend!r}: the host must be an IP address") from None
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"invalid backend {backend!r}: the port must be within 1-65535")
    return Backend(key, host, port)
