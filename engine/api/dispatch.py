"""The contract between a node's agent and the manager's dispatcher, as values and a protocol.

The agent registers with its node description, heartbeats within the period it is given, reports
task statuses, and receives assignments: every task the manager wants on the node. The in-process
dispatcher implements ``DispatcherAPI``; the agent depends only on this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import msgspec

from engine.api.base import Struct
from engine.api.objects import Config, NodeDescription, Secret, Service, Task, TaskStatus

__all__ = [
    "AgentMessage",
    "Assignments",
    "AssignmentsMessage",
    "ContainerReport",
    "ContainerState",
    "DispatcherAPI",
    "Heartbeat",
    "HeartbeatAnswer",
    "ManagerMessage",
    "Register",
    "Registered",
    "Renew",
    "Session",
    "SessionInvalid",
    "ShippedLine",
    "StatusReport",
    "StatusUpdate",
    "read_agent_message",
    "read_manager_message",
    "write_message",
]

T = TypeVar("T")


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


# The same contract between processes: one message per websocket frame, JSON, over mutual TLS.
# The agent opens with Register; the manager answers Registered, then sends assignments as they
# change and answers each Heartbeat with the period until the next.


class Register(Struct, frozen=True, tag="register"):
    description: NodeDescription
    addr: str = ""


class Heartbeat(Struct, frozen=True, tag="heartbeat"):
    pass


class StatusUpdate(Struct, frozen=True):
    task_id: str
    status: TaskStatus


class StatusReport(Struct, frozen=True, tag="statuses"):
    updates: list[StatusUpdate]


class ShippedLine(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A line a container wrote, as ``[task_id, time, stream, text]``: thousands a report."""

    task_id: str
    time: float
    stream: str
    text: str


class ContainerState(Struct, frozen=True):
    """A task's container as its node sees it: what the API shows of it, its usage, and how
    far its lines were sent (every line before ``logged_until``)."""

    task_id: str
    id: str
    image: str
    pid: int = 0
    exit_code: int | None = None
    health: str | None = None
    started: float | None = None
    cpu_seconds: float | None = None
    memory_bytes: int | None = None
    logged_until: float = 0.0


class ContainerReport(Struct, frozen=True, tag="containers"):
    """What the node's containers wrote and use since the last report: the manager's API shows
    the logs and metrics of every node's containers from these."""

    containers: list[ContainerState] = msgspec.field(default_factory=list)
    lines: list[ShippedLine] = msgspec.field(default_factory=list)
    gone: list[str] = msgspec.field(default_factory=list)  # tasks whose container was removed


class Registered(Struct, frozen=True, tag="registered"):
    session_id: str
    period: float


class HeartbeatAnswer(Struct, frozen=True, tag="period"):
    period: float


class Renew(Struct, frozen=True, tag="renew"):
    """Renew the node's certificate now: the swarm's root is rotating."""


class AssignmentsMessage(Struct, frozen=True, tag="assignments"):
    """A change of the node's assignments, with the services of its tasks: a node names and
    labels their containers, and publishes their ports, by the service (SwarmKit's tasks carry
    their service's annotations for this); and the secrets and configs they mount, which a node
    is sent only for the tasks it runs, as SwarmKit's dispatcher sends them."""

    tasks: list[Task] = msgspec.field(default_factory=list)
    removed: list[str] = msgspec.field(default_factory=list)
    full: bool = False
    services: list[Service] = msgspec.field(default_factory=list)
    secrets: list[Secret] = msgspec.field(default_factory=list)
    configs: list[Config] = msgspec.field(default_factory=list)

    @classmethod
    def of(
        cls,
        change: Assignments,
        services: list[Service],
        secrets: list[Secret],
        configs: list[Config],
    ) -> AssignmentsMessage:
        return cls(
            tasks=list(change.tasks),
            removed=list(change.removed),
            full=change.full,
            services=services,
            secrets=secrets,
            configs=configs,
        )

    def change(self) -> Assignments:
        return Assignments(tuple(self.tasks), tuple(self.removed), self.full)


AgentMessage = Register | Heartbeat | StatusReport | ContainerReport
ManagerMessage = Registered | HeartbeatAnswer | AssignmentsMessage | Renew

_encoder = msgspec.json.Encoder()
_agent_decoder = msgspec.json.Decoder(AgentMessage)
_manager_decoder = msgspec.json.Decoder(ManagerMessage)


def write_message(message: AgentMessage | ManagerMessage) -> bytes:
    return _encoder.encode(message)


def read_agent_message(data: bytes) -> AgentMessage:
    """Raises ValueError for a frame that is not an agent's message."""
    return _read(_agent_decoder, data)


def read_manager_message(data: bytes) -> ManagerMessage:
    """Raises ValueError for a frame that is not a manager's message."""
    return _read(_manager_decoder, data)


def _read(decoder: msgspec.json.Decoder[T], data: bytes) -> T:
    try:
        return decoder.decode(data)
    except msgspec.DecodeError as error:
        raise ValueError(f"not a node protocol message: {error}") from None
