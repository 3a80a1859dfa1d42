"""Rolling updates: UpdateSupervisor runs one Updater per service whose tasks are out of date.

An Updater replaces every dirty slot (a slot whose task runs another spec than the service's) in
batches of ``parallelism``, waiting ``delay`` after each slot. Stop-first shuts the old task down
and starts the new one once it has stopped; start-first starts the new one and shuts the old one
down once the new one runs. A task made by the update that fails before it runs, or within
``monitor`` after, is an update failure; when failures over dirty slots exceed
``max_failure_ratio``, the failure action applies: pause, continue, or roll back to the previous
spec. A rollback runs under the rollback config and is never rolled back: when its own failures
pause it, the state is ``rollback_paused`` (with SwarmKit's "update paused due to ..." message,
or "rollback paused due to ..." when its failure action was rollback). After the last slot the
updater keeps watching for one more monitor period, then marks the update completed. Its state
lives in the service's UpdateStatus, so an engine that restarts picks the update up where it
stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import operator
from collections import defaultdict, deque
from collections.abc import Callable

from msgspec.structs import replace

from engine.api.durations import format_timestamp
from engine.api.events import Event, EventUpdate
from engine.api.objects import Node, Service, Task, UpdateStatus
from engine.api.specs import FailureAction, UpdateOrder
from engine.api.types import Availability, TaskState
from engine.clock import Clock
from engine.ids import IdGenerator
from engine.manager import defaults
from engine.manager.loop import BATCH
from engine.manager.orchestrator import is_task_dirty, new_task
from engine.manager.orchestrator.restart import RestartSupervisor
from engine.store import (
    MemoryStore,
    ReadTx,
    Tx,
    Watcher,
    by,
    create_task,
    find_nodes,
    get_service,
    get_task,
    update_service,
    update_task,
)

__all__ = ["UpdateSupervisor", "Updater"]

UPDATING = "updating"
PAUSED = "paused"
COMPLETED = "completed"
ROLLBACK_STARTED = "rollback_started"
ROLLBACK_PAUSED = "rollback_paused"
ROLLBACK_COMPLETED = "rollback_completed"

Slot = list[Task]


class UpdateSupervisor:
    """Starts an Updater when a service's tasks fall out of date, and cancels superseded ones."""

    def __init__(
        self, store: MemoryStore, clock: Clock, ids: IdGenerator, restarts: RestartSupervisor
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._restarts = restarts
        self._updates: dict[str, tuple[Updater, asyncio.Task[None]]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._pending: set[str] = set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            pending, self._pending = self._pending, set()
            for service_id in pending:
                self.update(service_id)
            await asyncio.Event().wait()

    @property
    def in_progress(self) -> set[str]:
        """The services an updater is working on now."""
        return {sid for sid, (_, task) in self._updates.items() if not task.done()}

    def update(self, service_id: str) -> None:
        """Makes sure an updater works towards the service's current spec."""
        if self._group is None:
            self._pending.add(service_id)
            return
        service = self._store.view(lambda tx: get_service(tx, service_id))
        running = self._updates.get(service_id)
        if service is None:
            if running is not None:
                running[1].cancel()
            return
        if running is not None:
            updater, task = running
            if not task.done() and updater.spec == service.spec:
                return  # already working towards this spec
            task.cancel()
        updater = Updater(self._store, self._clock, self._ids, self._restarts, service)
        task = self._group.create_task(updater.run(), name=f"update {service.spec.name}")
        task.add_done_callback(lambda done: self._forget(service_id, done))
        self._updates[service_id] = (updater, task)

    def _forget(self, service_id: str, task: asyncio.Task[None]) -> None:
        current = self._updates.get(service_id)
        if current is not None and current[1] is task:
            del self._updates[service_id]


class Updater:
    """Rolls one service out to one spec. Cancelling it stops the rollout where it is."""

    def __init__(
        self,
        store: MemoryStore,
        clock: Clock,
        ids: IdGenerator,
        restarts: RestartSupervisor,
        service: Service,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._restarts = restarts
        self._service = service
        self.spec = service.spec
        self._updated: dict[str, float | None] = {}  # task id -> when it reached RUNNING
        self._failures = 0
        self._failed: set[str] = set()
        self._stopped = False

    async def run(self) -> None:
        service = self._service
        status = service.update_status
        if status is not None and status.state in (PAUSED, ROLLBACK_PAUSED):
            return  # a paused update waits for the next service update
        dirty = await self._dirty_slots()
        if not dirty:
            if status is not None and status.state in (UPDATING, ROLLBACK_STARTED):
                self._finish()
            return
        rolling_back = status is not None and status.state == ROLLBACK_STARTED
        if status is None:
            self._set_status(UPDATING, "update in progress", started=True)
        config = defaults.effective_update(
            self.spec.rollback_config if rolling_back else self.spec.update_config
        )
        self._config = config
        self._rolling_back = rolling_back
        self._dirty_count = len(dirty)
        watcher = self._store.watch(self._is_failure)
        failures = None
        if config.failure_action != FailureAction.CONTINUE:
            failures = asyncio.ensure_future(self._watch_failures(watcher))
        try:
            queue = deque(dirty)
            parallelism = min(config.parallelism or len(dirty), len(dirty))
            await asyncio.gather(*(self._worker(queue) for _ in range(parallelism)))
            if not self._stopped:
                await self._clock.sleep(self._final_watch())
            if not self._stopped:
                self._finish()
        finally:
            watcher.close()
            if failures is not None:
                failures.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await failures

    def _final_watch(self) -> float:
        """How long to keep watching after the last slot: the monitor period, or delay + 1 s."""
        config = self._config
        if config.delay >= config.monitor:
            return config.delay + 1.0
        return config.monitor

    # Which slots need updating.

    async def _dirty_slots(self) -> list[Slot]:
        """The slots that need updating, in slot (or node) order. Everything that grows with
        the service is done ``BATCH`` at a time, the rest of the engine running between steps:
        the tasks are read and each slot looked at, what is not needed let go of, so that a
        service of 100,000 replicas does not hold the event loop while it is looked over."""
        service_id = self._service.id
        ids, nodes = self._store.view(lambda tx: _task_ids_and_nodes(tx, service_id))
        is_global = defaults.is_global(self._service.spec)
        slots: dict[tuple[int, str], Slot] = defaultdict(list)
        remaining = iter(ids)
        while batch := list(itertools.islice(remaining, BATCH)):
            await asyncio.sleep(0)
            for task in self._store.view(functools.partial(_tasks, ids=batch)):
                if task.desired_state > TaskState.RUNNING:
                    continue
                if not is_global:
                    slots[(task.slot, "")].append(task)
                    continue
                node = nodes.get(task.node_id)
                if node is not None and node.spec.availability == Availability.PAUSE:
                    continue  # SwarmKit does not update tasks on paused nodes
                slots[(0, task.node_id)].append(task)
        dirty: list[tuple[tuple[int, str], Slot]] = []
        while slots:
            await asyncio.sleep(0)
            for _ in range(min(BATCH, len(slots))):
                key, slot = slots.popitem()  # let go of as it is looked at, the last first
                node = nodes.get(slot[0].node_id)
                if len(slot) > 1 or is_task_dirty(self._service, slot[0], node):
                    dirty.append((key, slot))
        # The store gives a service's tasks in the order they were made, slot after slot, and
        # they are looked at the last first: the dirty ones are all but in reverse order
        # already, and sorting them is one quick pass.
        dirty.sort(key=operator.itemgetter(0))
        return [slot for _, slot in dirty]

    # The workers: one slot at a time.

    async def _worker(self, queue: deque[Slot]) -> None:
        while queue and not self._stopped:
            slot = queue.popleft()
            await self._update_slot(slot)
            if self._config.delay and not self._stopped:
                await self._clock.sleep(self._config.delay)

    async def _update_slot(self, slot: Slot) -> None:
        current = self._store.view(lambda tx: [get_task(tx, t.id) for t in slot])
        slot = [t for t in current if t is not None and t.desired_state <= TaskState.RUNNING]
        if not slot:
            return
        clean = [t for t in slot if not is_task_dirty(self._service, t)]
        running = next((t for t in clean if t.desired_state == TaskState.RUNNING), None)
        parked = next((t for t in clean if t.desired_state < TaskState.RUNNING), None)
        existing = running or parked
        if existing is not None:
            await self._use_existing(slot, existing)
            return
        first = slot[0]
        is_global = defaults.is_global(self.spec)
        updated = new_task(
            self._ids,
            self._service,
            self._clock.time(),
            slot=0 if is_global else first.slot,
            node_id=first.node_id if is_global else "",
            desired=TaskState.READY,
        )
        self._updated[updated.id] = None
        came_up = self._wait_for_running(updated.id)
        start_first = self._config.order == UpdateOrder.START_FIRST

        def replace_tasks(tx: Tx) -> str | None:
            if get_service(tx, self._service.id) is None:
                return None
            create_task(tx, updated)
            return None if start_first else _shut_down(tx, slot)

        old_task = self._store.update(replace_tasks)
        try:
            if start_first:
                await self._restarts.delay_start(None, updated.id, 0.0)
            else:
                await self._restarts.delay_start(old_task, updated.id, 0.0)
            task = await came_up
        finally:
            came_up.cancel()
        if task is not None and task.status.state == TaskState.RUNNING and start_first:
            self._store.update(lambda tx: _shut_down(tx, slot))

    async def _use_existing(self, slot: Slot, existing: Task) -> None:
        others = [t for t in slot if t.id != existing.id]
        old_task = self._store.update(lambda tx: _shut_down(tx, others)) if others else None
        if existing.desired_state != TaskState.RUNNING:
            await self._restarts.delay_start(old_task, existing.id, 0.0)

    def _wait_for_running(self, task_id: str) -> asyncio.Task[Task | None]:
        """A task that ends when ``task_id`` reaches RUNNING or beyond (or is deleted)."""
        watcher = self._store.watch(
            lambda event: isinstance(event, EventUpdate) and event.obj.id == task_id
        )

        async def wait() -> Task | None:
            try:
                async for event in watcher:
                    assert isinstance(event, EventUpdate)
                    task = event.obj
                    assert isinstance(task, Task)
                    if task.status.state >= TaskState.RUNNING:
                        self._updated[task.id] = self._clock.monotonic()
                        return task
                return None
            finally:
                watcher.close()

        return asyncio.ensure_future(wait())

    # Failures and the failure action.

    def _is_failure(self, event: Event) -> bool:
        return (
            isinstance(event, EventUpdate)
            and isinstance(event.obj, Task)
            and isinstance(event.old, Task)
            and event.obj.service_id == self._service.id
            and event.obj.status.state > TaskState.RUNNING
            and event.old.status.state <= TaskState.RUNNING
        )

    async def _watch_failures(self, watcher: Watcher) -> None:
        async for event in watcher:
            assert isinstance(event, EventUpdate)
            task = event.obj
            assert isinstance(task, Task)
            if self._counts_as_failure(task) and self._failure_action(task):
                return

    def _counts_as_failure(self, task: Task) -> bool:
        if task.id in self._failed or task.id not in self._updated:
            return False
        started = self._updated[task.id]
        return started is None or self._clock.monotonic() - started <= self._config.monitor

    def _failure_action(self, task: Task) -> bool:
        """Counts a failure; applies the failure action if the ratio is exceeded."""
        self._failed.add(task.id)
        self._failures += 1
        if self._failures / self._dirty_count <= self._config.max_failure_ratio:
            return False
        action = self._config.failure_action
        paused = ROLLBACK_PAUSED if self._rolling_back else PAUSED
        if action == FailureAction.PAUSE:
            # SwarmKit's words even when a rollback pauses (its state says which it was).
            self._stopped = True
            self._set_status(
                paused, f"update paused due to failure or early termination of task {task.id}"
            )
            return True
        if action == FailureAction.ROLLBACK and self._rolling_back:
            self._stopped = True  # a rollback is never rolled back
            self._set_status(
                paused, f"rollback paused due to failure or early termination of task {task.id}"
            )
            return True
        if action == FailureAction.ROLLBACK:
            self._stopped = True
            self._roll_back(
                f"update rolled back due to failure or early termination of task {task.id}"
            )
            return True
        return False

    # The service's UpdateStatus.

    def _change_service(self, change: Callable[[Service], Service | None]) -> None:
        def write(tx: Tx) -> None:
            service = get_service(tx, self._service.id)
            if service is None or service.spec != self.spec:
                return  # the service changed since this update began: not ours to mark
            changed = change(service)
            if changed is not None:
                update_service(tx, changed)

        self._store.update(write)

    def _set_status(self, state: str, message: str, started: bool = False) -> None:
        now = format_timestamp(self._clock.time())

        def change(service: Service) -> Service | None:
            status = service.update_status or UpdateStatus()
            if started and service.update_status is not None:
                return None
            status = replace(
                status,
                state=state,
                message=message,
                started_at=now if started else status.started_at,
            )
            return replace(service, update_status=status)

        self._change_service(change)

    def _finish(self) -> None:
        now = format_timestamp(self._clock.time())

        def change(service: Service) -> Service | None:
            status = service.update_status
            if status is None:
                return None
            if status.state == ROLLBACK_STARTED:
                done = replace(
                    status, state=ROLLBACK_COMPLETED, message="rollback completed", completed_at=now
                )
            else:
                done = replace(
                    status, state=COMPLETED, message="update completed", completed_at=now
                )
            return replace(service, update_status=done)

        self._change_service(change)

    def _roll_back(self, message: str) -> None:
        def change(service: Service) -> Service | None:
            if service.update_status is None or service.previous_spec is None:
                return None
            status = replace(service.update_status, state=ROLLBACK_STARTED, message=message)
            return replace(
                service, spec=service.previous_spec, previous_spec=None, update_status=status
            )

        self._change_service(change)


def _shut_down(tx: Tx, tasks: Slot) -> str | None:
    """Shuts down the slot's old tasks; returns one of them to wait for."""
    stopped = None
    for original in tasks:
        task = get_task(tx, original.id)
        if task is None or task.desired_state > TaskState.RUNNING:
            continue
        update_task(tx, replace(task, desired_state=TaskState.SHUTDOWN))
        stopped = task.id
    return stopped


def _task_ids_and_nodes(tx: ReadTx, service_id: str) -> tuple[dict[str, None], dict[str, Node]]:
    """The IDs of the service's tasks (none once it is gone) and the nodes, by id."""
    if get_service(tx, service_id) is None:
        return {}, {}
    nodes = {node.id: node for node in find_nodes(tx, by.all())}
    return tx.ids(Task, by.service_id(service_id)), nodes


def _tasks(tx: ReadTx, *, ids: list[str]) -> list[Task]:
    """The tasks of ``ids`` that are still there."""
    return [task for task in (get_task(tx, task_id) for task_id in ids) if task is not None]
