"""The shape every control loop shares: read the store, then per event mark work dirty, and do
the work once per commit (SwarmKit's "event, dirty set, tick on commit")."""

from __future__ import annotations

from engine.api.events import Event, EventCommit
from engine.store import MemoryStore, ReadTx

__all__ = ["ControlLoop"]


class ControlLoop:
    """Subclasses say what an event makes dirty (``_handle``) and do the work (``_tick``)."""

    _store: MemoryStore

    async def run(self) -> None:
        async with self._store.view_and_watch(self._init) as events:
            self._tick()
            async for event in events:
                if isinstance(event, EventCommit):
                    self._tick()
                else:
                    self._handle(event)

    def _init(self, tx: ReadTx) -> None:
        """Marks dirty whatever the store already holds that needs work."""

    def _handle(self, event: Event) -> None:
        raise NotImplementedError

    def _tick(self) -> None:
        raise NotImplementedError
