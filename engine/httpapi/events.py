"""The swarm's event stream (``GET /events``): service, node, network, secret and config
create, update and remove (a network's update is its allocation; the swarm's own ``bridge``
and ``host`` networks are not shown).

Docker emits no task events; neither do we. Update events carry ``.old``/``.new`` attributes for
what changed (services: image, replicas, updatestate; nodes: availability, role, state, leader,
reachability). The log keeps the last ``HISTORY`` events for ``since`` and fans new ones out to
subscribers, dropping a subscriber that falls ``QUEUE_LIMIT`` events behind.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from engine.api.events import EventCreate, EventDelete, EventUpdate
from engine.api.objects import Config, Network, Node, Object, Secret, Service
from engine.clock import Clock
from engine.manager.networks import is_predefined
from engine.store import MemoryStore
from engine.store.memory import KINDS

__all__ = ["EventLog", "SwarmEvent"]

HISTORY = 1024  # events kept for ``since``; Docker keeps 256
QUEUE_LIMIT = 10_000  # events a subscriber may fall behind before it is dropped

SwarmEvent = dict[str, Any]


class EventLog:
    def __init__(self, store: MemoryStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._history: deque[SwarmEvent] = deque(maxlen=HISTORY)
        self._subscribers: set[asyncio.Queue[SwarmEvent | None]] = set()

    @property
    def listeners(self) -> int:
        """Clients following ``docker events`` now."""
        return len(self._subscribers)

    async def run(self) -> None:
        async for event in self._store.watch():
            match event:
                case (
                    EventCreate(obj=Network() as obj)
                    | EventDelete(obj=Network() as obj)
                    | EventUpdate(obj=Network() as obj)
                ) if is_predefined(obj):
                    pass  # the swarm's own networks, which docker network ls does not show
                case EventCreate(obj=Service() | Node() | Network() | Secret() | Config() as obj):
                    self._emit(obj, "create", {})
                case EventUpdate(
                    obj=Service() | Node() | Network() | Secret() | Config() as obj, old=old
                ):
                    self._emit(obj, "update", _changes(old, obj))
                case EventDelete(obj=Service() | Node() | Network() | Secret() | Config() as obj):
                    self._emit(obj, "remove", {})

    def _emit(self, obj: Object, action: str, changes: dict[str, str]) -> None:
        nanos = int(self._clock.time() * 1e9)
        event: SwarmEvent = {
            "Type": KINDS[type(obj)],
            "Action": action,
            "Actor": {"ID": obj.id, "Attributes": {"name": _name(obj), **changes}},
            "scope": "swarm",
            "time": nanos // 1_000_000_000,
            "timeNano": nanos,
        }
        self._history.append(event)
        for queue in list(self._subscribers):
            if queue.qsize() >= QUEUE_LIMIT:
                self._subscribers.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(event)

    async def stream(
        self, since: float | None, until: float | None, accepts: Callable[[SwarmEvent], bool]
    ) -> AsyncIterator[SwarmEvent]:
        """Past events from ``since``, then new ones until ``until`` (forever without it)."""
        queue: asyncio.Queue[SwarmEvent | None] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            for event in list(self._history):
                moment = event["timeNano"] / 1e9
                in_window = since is not None and moment >= since
                if in_window and (until is None or moment <= until) and accepts(event):
                    yield event
            while until is None or self._clock.time() < until:
                timeout = None if until is None else until - self._clock.time()
                try:
                    async with asyncio.timeout(timeout):  # wait_for can lose a cancellation
                        item = await queue.get()
                except TimeoutError:
                    return
                if item is None:
                    return  # fell too far behind
                if accepts(item):
                    yield item
        finally:
            self._subscribers.discard(queue)


def _name(obj: Object) -> str:
    if isinstance(obj, Service):
        return obj.spec.name or ""
    if isinstance(obj, Network | Secret | Config):
        return obj.name
    if isinstance(obj, Node):
        return obj.hostname or obj.spec.name or ""
    return ""


def _changes(old: Object, new: Object) -> dict[str, str]:
    pairs: list[tuple[str, str, str]] = []
    if isinstance(old, Service) and isinstance(new, Service):
        pairs = [
            ("image", _image(old), _image(new)),
            ("replicas", _replicas(old), _replicas(new)),
            ("updatestate", _update_state(old), _update_state(new)),
        ]
    elif isinstance(old, Node) and isinstance(new, Node):
        pairs = [
            ("availability", _value(old.spec.availability), _value(new.spec.availability)),
            ("role", _value(old.spec.role), _value(new.spec.role)),
            ("state", old.status.state.value, new.status.state.value),
            ("leader", _leader(old), _leader(new)),
            ("reachability", _reachability(old), _reachability(new)),
        ]
    changes: dict[str, str] = {}
    for key, before, after in pairs:
        if before != after:
            changes[f"{key}.old"] = before
            changes[f"{key}.new"] = after
    return changes


def _value(enum: Any) -> str:
    return str(enum.value) if enum is not None else ""


def _image(service: Service) -> str:
    template = service.spec.task_template
    container = template.container_spec if template else None
    return (container.image if container else None) or ""


def _replicas(service: Service) -> str:
    mode = service.spec.mode
    if mode is None or mode.replicated is None:
        return ""
    return str(mode.replicated.replicas or 0)


def _update_state(service: Service) -> str:
    status = service.update_status
    return (status.state if status else None) or ""


def _leader(node: Node) -> str:
    status = node.manager_status
    return "true" if status is not None and status.leader else "false"


def _reachability(node: Node) -> str:
    status = node.manager_status
    return _value(status.reachability) if status else ""
