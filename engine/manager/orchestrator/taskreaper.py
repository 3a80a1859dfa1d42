"""TaskReaper: deletes task history beyond the retention limit, and removed tasks once stopped.

It only deletes. Each slot (per node for global services) keeps ``TaskHistoryRetentionLimit``
tasks, 5 by default, or ``MaxAttempts + 1`` when the restart policy caps attempts; a negative
limit keeps everything. Tasks with desired state REMOVE go once they have stopped (or never ran),
in batches, as SwarmKit's reaper deletes them: ``BATCHING_INTERVAL`` after the last one
stopped, or at once when more than ``MAX_DIRTY`` wait. So a removed service's tasks are seen
stopped for a moment: the docker CLI's ``stack rm --detach=false`` counts the polls in which it
sees one stopped, and waits for that count to meet the number of tasks it sees.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable

from engine.api.durations import parse_timestamp
from engine.api.events import Event, EventCreate, EventUpdate
from engine.api.objects import Task
from engine.api.types import TaskState
from engine.clock import Clock
from engine.manager import defaults
from engine.manager.loop import BATCH, ControlLoop, Dirty, loops_pace
from engine.pace import Pace
from engine.store import (
    MemoryStore,
    ReadTx,
    Tx,
    by,
    delete_task,
    find_tasks,
    get_cluster,
    get_service,
    get_task,
)

__all__ = ["TaskReaper"]

BATCHING_INTERVAL = 0.25  # seconds; SwarmKit's reaperBatchingInterval
MAX_DIRTY = 128  # SwarmKit's maxDirty: more stopped tasks than this waiting go at once


class TaskReaper(ControlLoop):
    def __init__(self, store: MemoryStore, clock: Clock, pace: Pace | None = None) -> None:
        """``pace``: the line the manager's loops step in (``loops_pace``), else one of its own."""
        self._store = store
        self._clock = clock
        self._pace = pace or loops_pace(clock)
        self._dirty_instances: Dirty[tuple[str, int, str]] = Dirty()
        self._removed: Dirty[str] = Dirty()
        self._stopped: Dirty[str] = Dirty()  # removed tasks that stopped: the next batch's
        self._added = asyncio.Event()  # set when a stopped task is added

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(super().run())
            group.create_task(self._batches())

    async def _batches(self) -> None:
        """Deletes the stopped removed tasks once none has been added for
        ``BATCHING_INTERVAL`` (SwarmKit resets its timer at each event), BATCH a commit."""
        while True:
            await self._added.wait()
            while self._added.is_set():  # until a BATCHING_INTERVAL passes with none added
                self._added.clear()
                await self._clock.sleep(BATCHING_INTERVAL)
            while self._stopped:
                batch = self._stopped.take(BATCH)
                self._store.update(functools.partial(_delete, task_ids=batch))
                await asyncio.sleep(0)
                await self._pace.turn()

    def _handle(self, event: Event) -> None:
        match event:
            case EventCreate(obj=Task() as task):
                self._dirty_instances.add(_instance(task))
            case EventUpdate(obj=Task() as task):
                if task.desired_state == TaskState.REMOVE:
                    self._removed.add(task.id)
                self._dirty_instances.add(_instance(task))

    def _init(self, tx: ReadTx) -> None:
        for task in find_tasks(tx, by.all()):
            self._dirty_instances.add(_instance(task))
            if task.desired_state == TaskState.REMOVE:
                self._removed.add(task.id)

    def _tick(self) -> None:
        if not (self._removed or self._dirty_instances):
            return
        removed = self._take(self._removed)
        instances = self._take(self._dirty_instances)
        self._store.update(lambda tx: self._reap(tx, removed, instances))

    def _reap(self, tx: Tx, removed: list[str], instances: list[tuple[str, int, str]]) -> None:
        doomed: set[str] = set()
        for task_id in removed:
            task = get_task(tx, task_id)
            if task is None or task.desired_state != TaskState.REMOVE:
                continue
            if task.status.state < TaskState.ASSIGNED or task.status.state >= TaskState.COMPLETE:
                self._stopped.add(task.id)  # else looked at again when it reports that it stopped
                self._added.set()
        if len(self._stopped) > MAX_DIRTY:
            doomed.update(self._take(self._stopped))
        limit = defaults.task_history_limit(get_cluster(tx))
        if limit >= 0:
            for service_id, slot, node_id in sorted(instances):
                doomed |= self._excess_history(tx, service_id, slot, node_id, limit)
        _delete(tx, task_ids=doomed)

    @staticmethod
    def _excess_history(tx: Tx, service_id: str, slot: int, node_id: str, limit: int) -> set[str]:
        service = get_service(tx, service_id)
        tasks = [
            task
            for task in find_tasks(tx, by.slot(service_id, slot))
            if not node_id or task.node_id == node_id
        ]
        if service is not None and service.spec.task_template:
            attempts = defaults.effective_restart(service.spec.task_template).max_attempts
            if attempts > 0:
                limit = max(limit, attempts + 1)
        if len(tasks) <= limit:
            return set()
        tasks.sort(
            key=lambda task: parse_timestamp(task.status.timestamp or "1970-01-01T00:00:00Z")
        )
        excess = len(tasks) - limit
        doomed: set[str] = set()
        for task in tasks:
            if len(doomed) == excess:
                break
            if task.status.state > TaskState.RUNNING or (
                task.status.state < TaskState.ASSIGNED and not task.meant_to_run
            ):
                doomed.add(task.id)
        return doomed


def _delete(tx: Tx, *, task_ids: Iterable[str]) -> None:
    for task_id in sorted(task_ids):
        if get_task(tx, task_id) is not None:
            delete_task(tx, task_id)


def _instance(task: Task) -> tuple[str, int, str]:
    """A task's slot: its number for replicated services, its node for global ones (slot 0)."""
    return (task.service_id, task.slot, "" if task.slot else task.node_id)
