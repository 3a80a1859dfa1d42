"""Drives the external load balancers from successive snapshots of the swarm's endpoints.

The integrator provides the snapshots: an async iterator that yields ``Endpoints`` when the
swarm changed (the cheapest: built on store commits), or a plain callable that is polled every
``poll_interval`` seconds. Each snapshot that differs from the one before goes to every balancer
at once; each balancer coalesces what it has not applied yet, so the newest state wins and a
change reaches it within a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from typing import Protocol

from engine.mesh.lb.endpoints import Endpoints

__all__ = ["Balancer", "LoadBalancerSync", "Snapshots"]

POLL_INTERVAL = 0.25  # seconds between calls of a polled snapshot: well within the 1 s bound

Snapshots = AsyncIterable[Endpoints] | Callable[[], Endpoints]


class Balancer(Protocol):
    """An external load balancer kept in step: ``WebhookNotifier``, ``HAProxyUpdater``."""

    def update(self, endpoints: Endpoints) -> None:
        """Records the latest endpoints; never blocks."""

    async def run(self) -> None:
        """Applies them, until cancelled."""


class LoadBalancerSync:
    """Runs the balancers and hands each new snapshot to all of them.

    ``run`` lasts until cancelled; once an iterator of snapshots ends, the balancers are kept
    at its last one.
    """

    def __init__(
        self,
        snapshots: Snapshots,
        balancers: Sequence[Balancer],
        *,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self._snapshots = snapshots
        self._balancers = tuple(balancers)
        self._poll_interval = poll_interval

    async def run(self) -> None:
        """Runs every balancer and feeds it the snapshots, until cancelled."""
        async with asyncio.TaskGroup() as running:
            for balancer in self._balancers:
                running.create_task(balancer.run())
            last: Endpoints | None = None
            async for endpoints in self._each():
                if endpoints != last:
                    last = endpoints
                    for balancer in self._balancers:
                        balancer.update(endpoints)

    async def _each(self) -> AsyncIterator[Endpoints]:
        if not callable(self._snapshots):
            async for endpoints in self._snapshots:
                yield endpoints
            return
        while True:
            yield self._snapshots()
            await asyncio.sleep(self._poll_interval)
