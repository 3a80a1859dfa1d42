"""Enumerations of the swarm API, with SwarmKit's order where the order means something."""

from __future__ import annotations

import enum
import functools

__all__ = [
    "Availability",
    "NodeRole",
    "NodeState",
    "Reachability",
    "TaskState",
]


@functools.total_ordering
class TaskState(enum.Enum):
    """A task's observed or desired state; states only move forward (SwarmKit's types.proto)."""

    NEW = "new"
    ALLOCATED = "allocated"
    PENDING = "pending"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    PREPARING = "preparing"
    READY = "ready"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETE = "complete"
    SHUTDOWN = "shutdown"
    FAILED = "failed"
    REJECTED = "rejected"
    REMOVE = "remove"
    ORPHANED = "orphaned"

    @property
    def rank(self) -> int:
        """SwarmKit's numeric value, spaced by 64 so states can be inserted between others."""
        return _TASK_STATE_RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, TaskState):
            return NotImplemented
        return _TASK_STATE_RANK[self] < _TASK_STATE_RANK[other]

    def __hash__(self) -> int:
        return hash(self.value)


_TASK_STATE_RANK = {
    TaskState.NEW: 0,
    TaskState.ALLOCATED: 64,  # the seed's name for what is now PENDING's allocation step
    TaskState.PENDING: 128,
    TaskState.ASSIGNED: 192,
    TaskState.ACCEPTED: 256,
    TaskState.PREPARING: 320,
    TaskState.READY: 384,
    TaskState.STARTING: 448,
    TaskState.RUNNING: 512,
    TaskState.COMPLETE: 576,
    TaskState.SHUTDOWN: 640,
    TaskState.FAILED: 704,
    TaskState.REJECTED: 768,
    TaskState.REMOVE: 800,
    TaskState.ORPHANED: 832,
}


class NodeState(enum.Enum):
    UNKNOWN = "unknown"
    DOWN = "down"
    READY = "ready"
    DISCONNECTED = "disconnected"


class Availability(enum.Enum):
    ACTIVE = "active"
    PAUSE = "pause"
    DRAIN = "drain"


class NodeRole(enum.Enum):
    WORKER = "worker"
    MANAGER = "manager"


class Reachability(enum.Enum):
    UNKNOWN = "unknown"
    UNREACHABLE = "unreachable"
    REACHABLE = "reachable"
