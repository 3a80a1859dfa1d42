"""What the store publishes after each commit: one event per changed object, then a commit."""

from __future__ import annotations

from dataclasses import dataclass

from engine.api.objects import Object

__all__ = ["Event", "EventCommit", "EventCreate", "EventDelete", "EventUpdate"]


@dataclass(frozen=True, slots=True)
class EventCreate:
    obj: Object


@dataclass(frozen=True, slots=True)
class EventUpdate:
    obj: Object
    old: Object


@dataclass(frozen=True, slots=True)
class EventDelete:
    obj: Object


@dataclass(frozen=True, slots=True)
class EventCommit:
    """Ends the events of one transaction; ``version`` is the store's index after it."""

    version: int


Event = EventCreate | EventUpdate | EventDelete | EventCommit
