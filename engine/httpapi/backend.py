"""What the routes may reach: the cluster's control API, store, clock, and task containers."""

from __future__ import annotations

from typing import Protocol

from engine.api.logs import LogLine
from engine.api.objects import Task
from engine.clock import Clock
from engine.manager.controlapi import ControlAPI
from engine.store import MemoryStore

__all__ = ["Backend", "Container"]


class Container(Protocol):
    """A task's container as the API shows it: identity, state, logs and usage."""

    id: str
    image: str
    pid: int
    exit_code: int | None
    health: str | None

    @property
    def started(self) -> float | None: ...

    def lines(self, since: float, until: float) -> list[LogLine]: ...

    def usage(self, moment: float) -> tuple[float, int] | None: ...


class Backend(Protocol):
    """A running cluster: engine.embedded.EmbeddedCluster is one."""

    @property
    def control(self) -> ControlAPI: ...

    @property
    def store(self) -> MemoryStore: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def local_node_id(self) -> str: ...

    def container(self, task: Task) -> Container | None: ...
