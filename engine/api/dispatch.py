"""The contract between a node's agent and the manager's dispatcher, as values and a protocol.

The agent registers with its node description, heartbeats within the period it is given, reports
task statuses, and receives assignments: every task the manager wants on the node. The in-process
dispatcher implements ``DispatcherAPI``; the agent depends only on this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from engine.api.objects import NodeDescription, Task, TaskStatus

__all__ = ["Assignments", "DispatcherAPI", "Session", "SessionInvalid"]


class SessionInvalid(Exception):
    """The session was closed by the manager (node marked down, or manager restarted)."""


@dataclass(frozen=True, slots=True)
class Assignments:
    """A change to a node's assignments. ``full`` replaces the whole set (after registering)."""

    tasks: tuple[Task, ...]
    removed: tuple[str, ...] = ()
    full: bool = False


class Session(Protocol):
    node_id: str
    session_id: str

    def assignments(self) -> AsyncIterator[Assignments]: ...


class DispatcherAPI(Protocol):
    def register(self, node_id: str, description: NodeDescription, addr: str) -> Session: ...

    def heartbeat(self, session: Session) -> float:
        """Records a heartbeat; returns the seconds until the next one is due."""
        ...

    def update_task_status(
        self, session: Session, updates: list[tuple[str, TaskStatus]]
    ) -> None: ...
