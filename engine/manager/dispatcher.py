"""Dispatcher: node sessions, heartbeats and assignments; the only component agents talk to.

A node is READY while it heartbeats. Each heartbeat answers with the period (jittered by up to
half a second, as SwarmKit does, so nodes do not beat in step); a node that misses
``period x 3`` is marked DOWN ("heartbeat failure") and its session closed. When a manager starts,
nodes that were not down become UNKNOWN and get twice that grace to come back. Task status
reports are checked (the task must be on the reporting node, and states only move forward) and
written in one transaction per batch.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from msgspec.structs import replace

from engine.api.dispatch import Assignments, Session, SessionInvalid
from engine.api.durations import format_timestamp
from engine.api.events import EventCreate, EventDelete, EventUpdate
from engine.api.objects import Node, NodeDescription, NodeStatus, Task, TaskStatus
from engine.api.types import NodeState, TaskState
from engine.clock import Clock
from engine.errors import NotFound
from engine.ids import IdGenerator
from engine.manager import defaults
from engine.manager.loop import BATCH
from engine.store import (
    MemoryStore,
    Tx,
    by,
    find_nodes,
    find_tasks,
    get_cluster,
    get_node,
    get_task,
    update_node,
    update_task,
)

__all__ = ["Dispatcher", "NodeSession"]

GRACE_MULTIPLIER = 3  # SwarmKit's defaultGracePeriodMultiplier: missed periods before DOWN
NODE_DOWN_PERIOD = 24 * 3600.0  # SwarmKit's defaultNodeDownPeriod: then its tasks are ORPHANED
HEARTBEAT_EPSILON = 0.5  # seconds; SwarmKit's defaultHeartBeatEpsilon
UNKNOWN_MESSAGE = 'Node moved to "unknown" state due to leadership change in cluster'


@dataclass(eq=False)
class NodeSession:
    """One registered agent. Assignment changes are queued here for it; each reaches it once
    the state it comes from is on disk (``saved``), so that no node runs what a crash of the
    manager would forget."""

    node_id: str
    session_id: str
    store: MemoryStore
    queue: asyncio.Queue[tuple[int, Assignments] | None] = field(default_factory=asyncio.Queue)
    closed: bool = False

    def send(self, change: Assignments) -> None:
        self.queue.put_nowait((self.store.version, change))

    async def assignments(self) -> AsyncIterator[Assignments]:
        while True:
            queued = await self.queue.get()
            if queued is None:
                raise SessionInvalid(f"session {self.session_id} closed")
            version, change = queued
            await self.store.saved(version)
            yield change

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


class Dispatcher:
    def __init__(
        self,
        store: MemoryStore,
        clock: Clock,
        ids: IdGenerator,
        seed: int | None = None,
        heartbeat_epsilon: float = HEARTBEAT_EPSILON,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._random = random.Random(seed)
        self._epsilon = heartbeat_epsilon
        self._sessions: dict[str, NodeSession] = {}
        self._deadlines: dict[str, float] = {}
        self._deadline_added = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self._updates: dict[str, tuple[str, TaskStatus]] = {}
        self._flush_scheduled = False

    # The manager side.

    async def run(self) -> None:
        self._store.update(self._mark_unknown)
        async with asyncio.TaskGroup() as group:
            self._group = group
            group.create_task(self._expire_nodes())
            for node in self._store.view(lambda tx: find_nodes(tx, by.all())):
                if node.status.state == NodeState.DOWN:
                    group.create_task(self._orphan_after(node.id, node.version.index))
            async for event in self._store.watch():
                match event:
                    case EventCreate(obj=Task() as task):
                        self._route(task)
                    case EventUpdate(obj=Task() as task, old=Task() as old):
                        if _news_to_agent(old, task):
                            self._route(task)
                    case EventDelete(obj=Task() as task):
                        session = self._sessions.get(task.node_id)
                        if session is not None:
                            session.send(Assignments((), removed=(task.id,)))
                    case EventDelete(obj=Node() as node):  # removed: it is refused at once
                        self._deadlines.pop(node.id, None)
                        session = self._sessions.pop(node.id, None)
                        if session is not None:
                            session.close()

    def _period(self) -> float:
        return self._store.view(lambda tx: defaults.heartbeat_period(get_cluster(tx)))

    def _mark_unknown(self, tx: Tx) -> None:
        grace = self._period() * GRACE_MULTIPLIER * 2
        for node in find_nodes(tx, by.all()):
            if node.status.state != NodeState.DOWN:
                status = NodeStatus(
                    state=NodeState.UNKNOWN, message=UNKNOWN_MESSAGE, addr=node.status.addr
                )
                update_node(tx, replace(node, status=status))
                self._deadlines[node.id] = self._clock.monotonic() + grace

    async def _expire_nodes(self) -> None:
        while True:
            if not self._deadlines:
                self._deadline_added.clear()
                await self._deadline_added.wait()
                continue
            node_id = min(self._deadlines, key=self._deadlines.__getitem__)
            wait = self._deadlines[node_id] - self._clock.monotonic()
            if wait > 0:
                self._deadline_added.clear()
                await self._clock.wait_event(self._deadline_added, wait)
                continue
            del self._deadlines[node_id]
            session = self._sessions.pop(node_id, None)
            if session is not None:
                session.close()
            down = self._store.update(functools.partial(self._mark_down, node_id=node_id))
            if down is not None and self._group is not None:
                self._group.create_task(self._orphan_after(node_id, down.version.index))

    @staticmethod
    def _mark_down(tx: Tx, *, node_id: str) -> Node | None:
        node = get_node(tx, node_id)
        if node is None or node.status.state == NodeState.DOWN:
            return None
        status = NodeStatus(
            state=NodeState.DOWN, message="heartbeat failure", addr=node.status.addr
        )
        return update_node(tx, replace(node, status=status))

    async def _orphan_after(self, node_id: str, down_version: int) -> None:
        """A node down for NODE_DOWN_PERIOD: its tasks that were to run are ORPHANED."""
        await self._clock.sleep(NODE_DOWN_PERIOD)

        def orphan(tx: Tx) -> None:
            node = get_node(tx, node_id)
            if node is None or node.status.state != NodeState.DOWN:
                return
            if node.version.index != down_version:
                return  # it came back (and maybe went down again) since
            status = TaskStatus(
                state=TaskState.ORPHANED,
                message="node has been down for too long",
                timestamp=format_timestamp(self._clock.time()),
            )
            for task in find_tasks(tx, by.node_id(node_id)):
                if TaskState.ASSIGNED <= task.status.state <= TaskState.RUNNING:
                    update_task(tx, replace(task, status=status))

        self._store.update(orphan)

    def _route(self, task: Task) -> None:
        if not task.node_id or task.status.state < TaskState.ASSIGNED:
            return
        session = self._sessions.get(task.node_id)
        if session is not None:
            session.send(Assignments((task,)))

    # The agent side (DispatcherAPI).

    def register(self, node_id: str, description: NodeDescription, addr: str) -> NodeSession:
        """Opens a session for a node that has joined; marks it READY and sends its tasks.

        Raises:
            NotFound: the node is not part of the cluster (never joined, or removed).
        """
        old = self._sessions.pop(node_id, None)
        if old is not None:
            old.close()

        def ready(tx: Tx) -> list[Task]:
            node = get_node(tx, node_id)
            if node is None:
                raise NotFound(f"node {node_id} not found")
            status = NodeStatus(state=NodeState.READY, addr=addr)
            update_node(tx, replace(node, description=description, status=status))
            return [t for t in find_tasks(tx, by.node_id(node_id)) if _assignable(t)]

        tasks = self._store.update(ready)
        session = NodeSession(node_id, self._ids.new_id(), self._store)
        session.send(Assignments(tuple(tasks), full=True))
        self._sessions[node_id] = session
        self._extend(node_id)
        self._deadline_added.set()
        return session

    def heartbeat(self, session: Session) -> float:
        return self._extend(self._check(session).node_id)

    def _extend(self, node_id: str) -> float:
        period = self._period()
        if self._epsilon:
            period += self._random.uniform(-self._epsilon, self._epsilon)
        self._deadlines[node_id] = self._clock.monotonic() + period * GRACE_MULTIPLIER
        return period

    def _check(self, session: Session) -> NodeSession:
        current = self._sessions.get(session.node_id)
        if current is not session or current.closed:
            raise SessionInvalid("session invalid")
        return current

    def update_task_status(self, session: Session, updates: list[tuple[str, TaskStatus]]) -> None:
        node_id = self._check(session).node_id
        for task_id, status in updates:
            self._updates[task_id] = (node_id, status)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Writes up to BATCH reports in one transaction; more wait for the next turn of the
        loop, so that a flood of reports never holds the rest of the engine up."""
        self._flush_scheduled = False
        if len(self._updates) <= BATCH:
            updates, self._updates = self._updates, {}
        else:
            updates = dict(itertools.islice(self._updates.items(), BATCH))
            for task_id in updates:
                del self._updates[task_id]
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        if updates:
            self._store.update(lambda tx: _apply_statuses(tx, updates))


def _news_to_agent(old: Task, task: Task) -> bool:
    """Whether the agent is to hear of this change of a task: as SwarmKit's dispatcher, not
    when only its status and version changed past ASSIGNED (most often, the agent's own report
    coming back)."""
    if task.status.state <= TaskState.ASSIGNED:
        return True  # states up to ASSIGNED are the manager's: the agent hears of them
    unchanged = replace(old, version=task.version, updated_at=task.updated_at, status=task.status)
    return unchanged != task


def _assignable(task: Task) -> bool:
    return task.status.state >= TaskState.ASSIGNED


def _apply_statuses(tx: Tx, updates: dict[str, tuple[str, TaskStatus]]) -> None:
    for task_id, (node_id, status) in updates.items():
        task = get_task(tx, task_id)
        if task is None or task.node_id != node_id:
            continue  # a report for a task that is gone, or not this node's
        if status.state < task.status.state or status == task.status:
            continue  # states only move forward
        update_task(tx, replace(task, status=status))
