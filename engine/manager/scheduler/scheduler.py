"""Scheduler: assigns pending tasks to nodes, SwarmKit's way.

Identical tasks (same service and spec) are scheduled as one group over one decision tree: one
level per ``spread`` placement preference, nodes at the leaves ordered best first (fewest recent
failures of the service past five, then fewest tasks of the service, then fewest tasks). The first
pass fills a node until it is no longer better than the next; later passes go round-robin, and
each node is checked again after every assignment. A task that fits nowhere stays PENDING with
the reasons in ``Status.Err`` (``no suitable node (...)``). Global tasks come with their node set
and are only checked against it; one that does not fit stays PENDING with the reason alone
(``host-mode port already in use on 1 node``), as SwarmKit's taskFitNode leaves it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Sequence

from msgspec.structs import replace

from engine.api.durations import format_timestamp
from engine.api.events import Event, EventCreate, EventDelete, EventUpdate
from engine.api.objects import Node, Service, Task, TaskStatus
from engine.api.types import TaskState
from engine.clock import Clock
from engine.manager.loop import BATCH, loops_pace
from engine.manager.scheduler.filters import Pipeline, Requirements
from engine.manager.scheduler.nodeinfo import MAX_FAILURES, NodeInfo
from engine.pace import Pace
from engine.store import (
    MemoryStore,
    ReadTx,
    Tx,
    Watcher,
    by,
    find_nodes,
    find_services,
    find_tasks,
    get_task,
    update_task,
)

__all__ = ["Scheduler"]

DEBOUNCE_GAP = 0.05  # seconds; SwarmKit's commitDebounceGap: wait for more identical tasks
MAX_LATENCY = 1.0  # seconds; SwarmKit's maxLatency: but never hold tasks back longer than this
ASSIGNED_MESSAGE = "scheduler assigned task to node"
PREASSIGNED_MESSAGE = "scheduler confirmed task can run on preassigned node"

NodeKey = Callable[[NodeInfo], tuple[int, int, int]]


class _Tree:
    """One level of the preference tree: the service's tasks below it, and branches or nodes."""

    __slots__ = ("branches", "nodes", "tasks")

    def __init__(self) -> None:
        self.tasks = 0
        self.branches: dict[str, _Tree] = {}
        self.nodes: list[NodeInfo] = []


class Scheduler:
    def __init__(self, store: MemoryStore, clock: Clock, pace: Pace | None = None) -> None:
        """``pace``: the line the manager's loops step in (``loops_pace``), else one of its own."""
        self._store = store
        self._clock = clock
        self._pace = pace or loops_pace(clock)
        self._nodes: dict[str, NodeInfo] = {}
        self._tasks: dict[str, Task] = {}
        self._unassigned: dict[str, Task] = {}
        self._preassigned: dict[str, Task] = {}
        self._host_ports: dict[str, tuple[tuple[int, str], ...]] = {}
        self._changed = False
        self._round = 0  # tasks the current round has still to look at

    async def run(self) -> None:
        watcher = self._store.watch()
        try:
            self._store.view(self._setup)
            while True:
                if self._round:  # a round over many tasks goes on, a step at a time
                    await asyncio.sleep(0)
                    await self._pace.turn()
                    self._process(watcher.get_nowait())
                    self._tick()
                elif self._changed and (self._unassigned or self._preassigned):
                    await self._debounce(watcher)
                    await self._pace.turn()
                    self._changed = False
                    self._round = len(self._preassigned) + len(self._unassigned)
                    self._tick()
                else:
                    self._changed = False
                    await watcher.wait(self._clock)
                    self._process(watcher.get_nowait())
        finally:
            watcher.close()

    async def _debounce(self, watcher: Watcher) -> None:
        """Waits for a pause of DEBOUNCE_GAP between commits, at most MAX_LATENCY in all."""
        deadline = self._clock.monotonic() + MAX_LATENCY
        while True:
            remaining = min(DEBOUNCE_GAP, deadline - self._clock.monotonic())
            if remaining <= 0 or not await watcher.wait(self._clock, remaining):
                break
            self._process(watcher.get_nowait())
        self._process(watcher.get_nowait())

    # Keeping track of the cluster.

    def _setup(self, tx: ReadTx) -> None:
        for service in find_services(tx, by.all()):
            self._set_service(service)
        for node in find_nodes(tx, by.all()):
            self._nodes[node.id] = NodeInfo(node)
        for task in find_tasks(tx, by.all()):
            self._update_task(task)
        self._changed = True

    def _process(self, events: Sequence[Event]) -> None:
        for event in events:
            match event:
                case EventCreate(obj=Task() as task) | EventUpdate(obj=Task() as task):
                    self._update_task(task)
                case EventDelete(obj=Task() as task):
                    self._delete_task(task.id)
                case EventCreate(obj=Node() as node) | EventUpdate(obj=Node() as node):
                    info = self._nodes.get(node.id)
                    if info is None:
                        self._nodes[node.id] = NodeInfo(node)
                    else:
                        info.set_node(node)
                    self._changed = True
                case EventDelete(obj=Node() as node):
                    self._nodes.pop(node.id, None)
                    self._changed = True
                case EventCreate(obj=Service() as service) | EventUpdate(obj=Service() as service):
                    self._set_service(service)
                case EventDelete(obj=Service() as service):
                    self._host_ports.pop(service.id, None)

    def _set_service(self, service: Service) -> None:
        spec = service.spec.endpoint_spec
        self._host_ports[service.id] = tuple(
            (port.published_port, port.protocol or "tcp")
            for port in (spec.ports if spec else None) or ()
            if port.publish_mode == "host" and port.published_port
        )

    def _update_task(self, task: Task) -> None:
        state = task.status.state
        if state < TaskState.PENDING:
            return
        old = self._tasks.get(task.id)
        if state > TaskState.RUNNING:
            if old is None:
                return
            if state != old.status.state and state in (TaskState.FAILED, TaskState.REJECTED):
                info = self._nodes.get(task.node_id)
                if info is not None and task.slot:  # not for global tasks: their node is fixed
                    info.task_failed(task.service_id, self._clock.monotonic())
            self._delete_task(task.id)
            return
        if state == TaskState.PENDING:
            if old is not None:
                self._delete_task(task.id)
            self._tasks[task.id] = task
            if not task.meant_to_run:
                return
            if task.node_id:
                self._preassigned[task.id] = task
            else:
                self._unassigned[task.id] = task
            self._changed = True
            return
        self._tasks[task.id] = task
        info = self._nodes.get(task.node_id)
        if info is not None:
            info.add_task(task, self._host_ports.get(task.service_id, ()))

    def _delete_task(self, task_id: str) -> None:
        task = self._tasks.pop(task_id, None)
        self._unassigned.pop(task_id, None)
        self._preassigned.pop(task_id, None)
        if not self._tasks:
            self._tasks.clear()  # an emptied dict keeps its size (4 MB after 100,000 tasks)
        if task is not None:
            info = self._nodes.get(task.node_id)
            if info is not None and info.remove_task(task_id):
                self._changed = True

    # Deciding.

    def _tick(self) -> None:
        """One step of a round: looks at up to BATCH waiting tasks, oldest first; those that
        still wait go to the back, so the round's next step looks at others."""
        decisions: dict[str, Task] = {}
        timestamp = format_timestamp(self._clock.time())
        preassigned = list(itertools.islice(self._preassigned.values(), BATCH))
        unassigned = list(itertools.islice(self._unassigned.values(), BATCH - len(preassigned)))
        self._round = max(0, self._round - len(preassigned) - len(unassigned))
        for task in preassigned:
            self._check_preassigned(task, decisions, timestamp)
        groups: dict[tuple[str, int], list[Task]] = {}
        for task in unassigned:
            groups.setdefault((task.service_id, id(task.spec)), []).append(task)
        for group in groups.values():
            group.sort(key=lambda task: (task.slot, task.id))
            self._schedule_group(group, decisions, timestamp)
        for waiting, looked_at in (
            (self._preassigned, preassigned),
            (self._unassigned, unassigned),
        ):
            for task in looked_at:
                if waiting.pop(task.id, None) is not None:
                    waiting[task.id] = task
            if not waiting:
                waiting.clear()  # an emptied dict keeps its size
        if decisions:
            self._store.update(lambda tx: self._apply(tx, decisions))

    def _check_preassigned(self, task: Task, decisions: dict[str, Task], stamp: str) -> None:
        """Checks a task whose node is set (a global one) against that node (SwarmKit's
        taskFitNode): one that does not fit says only why, with no "no suitable node"."""
        info = self._nodes.get(task.node_id)
        if info is None:
            return  # the node is gone; the orchestrator removes its tasks
        pipeline = Pipeline(Requirements(task, self._host_ports.get(task.service_id, ())))
        if pipeline.process(info):
            self._assign(task, info, decisions, stamp, PREASSIGNED_MESSAGE)
        elif task.status.err != (explanation := pipeline.explain()):
            decisions[task.id] = replace(task, status=replace(task.status, err=explanation))

    def _schedule_group(self, group: list[Task], decisions: dict[str, Task], stamp: str) -> None:
        first = group[0]
        service_id = first.service_id
        pipeline = Pipeline(Requirements(first, self._host_ports.get(service_id, ())))
        now = self._clock.monotonic()

        def key(info: NodeInfo) -> tuple[int, int, int]:
            failures = info.count_recent_failures(service_id, now) if info.recent_failures else 0
            return (
                failures if failures >= MAX_FAILURES else 0,
                info.active_by_service[service_id],
                info.active_tasks,
            )

        tree = self._tree(service_id, first, pipeline)
        remaining = deque(group)
        self._on_subtree(len(group), remaining, tree, pipeline, key, decisions, stamp)
        explanation = pipeline.explain()
        for task in remaining:
            self._unschedulable(task, explanation, decisions)

    def _tree(self, service_id: str, task: Task, pipeline: Pipeline) -> _Tree:
        placement = task.spec.placement
        descriptors = [
            preference.spread.spread_descriptor or ""
            for preference in (placement.preferences if placement else None) or ()
            if preference.spread is not None
        ]
        root = _Tree()
        for info in self._nodes.values():
            tree = root
            count = info.active_by_service[service_id]
            for descriptor in descriptors:
                value = _label_value(info.node, descriptor)
                if value is None:
                    continue
                tree.tasks += count
                tree = tree.branches.setdefault(value, _Tree())
            tree.tasks += count
            if pipeline.process(info):
                tree.nodes.append(info)
        return root

    def _on_subtree(
        self,
        wanted: int,
        remaining: deque[Task],
        tree: _Tree,
        pipeline: Pipeline,
        key: NodeKey,
        decisions: dict[str, Task],
        stamp: str,
    ) -> int:
        if not tree.branches:
            nodes = [info for info in tree.nodes if pipeline.process(info)] if tree.nodes else []
            if not nodes:
                return 0
            nodes.sort(key=key)
            return self._on_nodes(wanted, remaining, nodes, pipeline, key, decisions, stamp)
        scheduled = 0
        usable_tasks = tree.tasks
        no_room: set[str] = set()
        branches = sorted(tree.branches.items())
        while scheduled != wanted and len(no_room) != len(branches):
            share, remainder = divmod(
                usable_tasks + wanted - scheduled, len(branches) - len(no_room)
            )
            for value, subtree in branches:
                if value in no_room:
                    continue
                if subtree.tasks < share or (subtree.tasks == share and remainder > 0):
                    assign = share - subtree.tasks + (1 if remainder > 0 else 0)
                    done = self._on_subtree(
                        assign, remaining, subtree, pipeline, key, decisions, stamp
                    )
                    if done < assign:
                        no_room.add(value)
                        usable_tasks -= subtree.tasks
                    elif remainder > 0:
                        remainder -= 1
                    scheduled += done
        return scheduled

    def _on_nodes(
        self,
        wanted: int,
        remaining: deque[Task],
        nodes: list[NodeInfo],
        pipeline: Pipeline,
        key: NodeKey,
        decisions: dict[str, Task],
        stamp: str,
    ) -> int:
        scheduled = 0
        failed: set[int] = set()
        position = 0
        count = len(nodes)
        while remaining:
            info = nodes[position % count]
            self._assign(remaining.popleft(), info, decisions, stamp)
            scheduled += 1
            if scheduled == wanted:
                return scheduled
            if position + 1 < count:
                # First pass: fill this node until the next one is better.
                if key(nodes[position + 1]) < key(info):
                    position += 1
            else:
                position += 1  # later passes: one task each, round-robin
            start = position
            while position % count in failed or not pipeline.process(nodes[position % count]):
                failed.add(position % count)
                position += 1
                if position - start == count:
                    return scheduled
        return scheduled

    def _assign(
        self,
        task: Task,
        info: NodeInfo,
        decisions: dict[str, Task],
        stamp: str,
        message: str = ASSIGNED_MESSAGE,
    ) -> None:
        assigned = replace(
            task,
            node_id=info.id,
            status=TaskStatus(state=TaskState.ASSIGNED, timestamp=stamp, message=message),
        )
        self._unassigned.pop(task.id, None)
        self._preassigned.pop(task.id, None)
        self._tasks[task.id] = assigned
        info.add_task(assigned, self._host_ports.get(task.service_id, ()))
        decisions[task.id] = assigned

    def _unschedulable(self, task: Task, explanation: str, decisions: dict[str, Task]) -> None:
        error = f"no suitable node ({explanation})" if explanation else "no suitable node"
        if task.status.err != error:
            decisions[task.id] = replace(task, status=replace(task.status, err=error))

    def _apply(self, tx: Tx, decisions: dict[str, Task]) -> None:
        for task_id, decided in decisions.items():
            current = get_task(tx, task_id)
            if current is None or current.version.index != decided.version.index:
                # The task changed since we looked; undo the decision, its event will follow.
                self._delete_task(task_id)
                if current is not None:
                    self._update_task(current)
                continue
            update_task(tx, decided)


def _label_value(node: Node, descriptor: str) -> str | None:
    lowered = descriptor.lower()
    if lowered.startswith("node.labels.") and len(descriptor) > len("node.labels."):
        return (node.spec.labels or {}).get(descriptor[len("node.labels.") :], "")
    if lowered.startswith("engine.labels.") and len(descriptor) > len("engine.labels."):
        engine = node.description.engine if node.description else None
        labels = (engine.labels if engine else None) or {}
        return labels.get(descriptor[len("engine.labels.") :], "")
    return None
