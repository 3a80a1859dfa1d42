"""What the routes may reach: the cluster's control API, store, clock, and task containers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Protocol

from engine.api.logs import LogLine
from engine.api.objects import ClusterSpec, Service, Task
from engine.api.secrets import TaskFile
from engine.api.swarm import LocalNode, SwarmInitRequest, SwarmJoinRequest, SwarmRotations
from engine.clock import Clock
from engine.manager.controlapi import ControlAPI
from engine.store import MemoryStore

__all__ = ["Backend", "Container"]


class Container(Protocol):
    """A task's container as the API shows it: identity, state, logs and usage.

    Its lines are read lazily, a window of time at a time, in either direction, so a long
    history is never held whole. A follower waits for the next line: at ``next_line_at`` when
    that is known ahead, else until one of its ``listeners`` is set, which is done as lines come.
    """

    listeners: set[asyncio.Event]
    files: list[TaskFile]  # the secret and config files mounted in it, while it runs

    @property
    def id(self) -> str: ...

    @property
    def image(self) -> str: ...

    @property
    def pid(self) -> int: ...

    @property
    def exit_code(self) -> int | None: ...

    @property
    def health(self) -> str | None: ...

    @property
    def started(self) -> float | None: ...

    def lines(self, since: float, until: float) -> Iterator[LogLine]:
        """What it wrote in ``[since, until)``, oldest first."""
        ...

    def lines_newest_first(self, since: float, until: float) -> Iterator[LogLine]:
        """``lines`` backwards, made as cheaply: a tail does not read what comes before it."""
        ...

    def written_until(self, moment: float) -> float:
        """Where what it wrote by ``moment`` is known to end: a line before it that is not
        here yet will not come."""
        ...

    def next_line_at(self, moment: float) -> float | None:
        """When it writes its first line at or after ``moment``, if that is known ahead."""
        ...

    def usage(self, moment: float) -> tuple[float, int] | None: ...


class Backend(Protocol):
    """A node of a swarm, or one outside any: ``engine.node.daemon.NodeDaemon``; or a whole
    swarm in this process, ``engine.embedded.EmbeddedCluster``. ``control`` raises Unavailable
    where this node is not the swarm's manager."""

    @property
    def control(self) -> ControlAPI: ...

    @property
    def store(self) -> MemoryStore: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def local_node_id(self) -> str: ...

    def container(self, task: Task) -> Container | None: ...

    def local_tasks(self) -> tuple[dict[str, Service], list[Task]]:
        """The tasks of this node, and their services: what ``docker ps`` lists. A manager
        reads them from the store; a worker, which has none, knows them as assigned."""
        ...

    def local_node(self) -> LocalNode:
        """This node's place in a swarm, as ``docker info`` shows it."""
        ...

    def mesh_connections(self) -> dict[str, dict[str, int]]:
        """By service ID, the connections the routing mesh gave each of its tasks (by task ID)
        in the last minute; empty where this process runs no mesh."""
        ...

    async def init_swarm(self, asked: SwarmInitRequest) -> str:
        """``docker swarm init``: returns the new manager's node ID."""
        ...

    async def join_swarm(self, asked: SwarmJoinRequest) -> None: ...

    async def leave_swarm(self, force: bool) -> None: ...

    async def update_swarm(self, version: int, spec: ClusterSpec, rotate: SwarmRotations) -> None:
        """``docker swarm update``, ``join-token --rotate``, ``unlock-key --rotate``: autolock
        follows ``spec``."""
        ...

    def unlock_key(self) -> str:
        """The unlock key ("" without autolock); a manager's only."""
        ...

    async def unlock_swarm(self, key: str) -> None: ...
