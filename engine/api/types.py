"""Enumerations of the swarm API, with SwarmKit's order where the order means something."""

from __future__ import annotations

import enum

__all__ = [
    "Availability",
    "NodeRole",
    "NodeState",
    "Reachability",
    "TaskState",
]


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

    rank: int  # SwarmKit's numeric value, spaced by 64 so states can be inserted between others

    # Compared often (every control loop, every table row): plain attribute reads, no wrappers.
    def __lt__(self, other: TaskState) -> bool:
        return self.rank < other.rank

    def __le__(self, other: TaskState) -> bool:
        return self.rank <= other.rank

    def __gt__(self, other: TaskState) -> bool:
        return self.rank > other.rank

    def __ge__(self, other: TaskState) -> bool:
        return self.rank >= other.rank


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
for _state, _rank in _TASK_STATE_RANK.items():
    _state.rank = _rank


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
