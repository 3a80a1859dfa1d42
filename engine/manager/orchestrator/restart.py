"""RestartSupervisor: replaces failed tasks under the service's restart policy.

A restart is always a new task in the same slot (replicated; the scheduler picks its node) or on
the same node (global). The old task gets desired state SHUTDOWN. The new one is created with
desired state READY and moved to RUNNING after the restart delay, once the old task has stopped
(at most a minute), so a node never runs both. Draining skips the delay.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any

from msgspec.structs import replace

from engine.api.durations import parse_timestamp
from engine.api.events import EventDelete, EventUpdate
from engine.api.objects import Cluster, Service, Task
from engine.api.specs import RestartCondition
from engine.api.types import Availability, NodeState, TaskState
from engine.clock import Clock
from engine.ids import IdGenerator
from engine.manager import defaults
from engine.manager.orchestrator import new_task
from engine.store import MemoryStore, Tx, create_task, get_node, get_task, update_task

__all__ = ["RestartSupervisor"]

OLD_TASK_TIMEOUT = 60.0  # seconds; SwarmKit's defaultOldTaskTimeout


class RestartSupervisor:
    """Creates replacement tasks and starts them after the restart delay.

    The restart history (for MaxAttempts) is kept in memory, per slot or per node, and forgotten
    when the service's spec changes, as in SwarmKit.
    """

    def __init__(self, store: MemoryStore, clock: Clock, ids: IdGenerator) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._history: dict[str, dict[tuple[int, str], list[float]]] = defaultdict(dict)
        self._stopped: dict[str, asyncio.Event] = {}
        self._delayed: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._waiting: list[tuple[Coroutine[Any, Any, None], str, asyncio.Future[None]]] = []

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            waiting, self._waiting = self._waiting, []
            for coroutine, new_task_id, done in waiting:
                self._spawn(coroutine, new_task_id, done)
            async for event in self._store.watch():
                match event:
                    case EventUpdate(obj=Task() as task) if task.status.state > TaskState.RUNNING:
                        self._mark_stopped(task.id)
                    case EventDelete(obj=Task() as task):
                        self._mark_stopped(task.id)
                    case EventUpdate(obj=Service() as service, old=Service() as old):
                        if service.spec != old.spec:
                            self._history.pop(service.id, None)
                    case EventDelete(obj=Service() as service):
                        self._history.pop(service.id, None)

    def restart(self, tx: Tx, cluster: Cluster | None, service: Service, task: Task) -> None:
        """Shuts ``task`` down and, if the policy says so, creates its replacement."""
        if not task.meant_to_run:
            return
        pending = self._delayed.pop(task.id, None)
        if pending is not None:
            pending.cancel()
        update_task(tx, replace(task, desired_state=TaskState.SHUTDOWN))
        if not self.should_restart(task, service):
            return
        is_global = defaults.per_node(service.spec)
        replacement = new_task(
            self._ids,
            service,
            self._clock.time(),
            slot=0 if is_global else task.slot,
            node_id=task.node_id if is_global else "",
            desired=TaskState.READY,
            job_iteration=task.job_iteration,
        )
        create_task(tx, replacement)
        self._record(service, task)
        node = get_node(tx, task.node_id) if task.node_id else None
        policy = defaults.effective_restart(task.spec)
        delay = policy.delay
        if node is not None and node.spec.availability == Availability.DRAIN:
            delay = 0.0
        wait_stop = not (
            (node is not None and node.status.state == NodeState.DOWN)
            or task.status.state > TaskState.RUNNING
        )
        self.delay_start(task.id if wait_stop else None, replacement.id, delay)

    def should_restart(self, task: Task, service: Service) -> bool:
        policy = defaults.effective_restart(task.spec)
        if policy.condition == RestartCondition.NONE:
            return False
        if (
            policy.condition == RestartCondition.ON_FAILURE
            and task.status.state == TaskState.COMPLETE
        ):
            return False
        if policy.max_attempts == 0:
            return True
        restarts = self._history[service.id].get(self._instance(service, task), [])
        if policy.window > 0:
            since = self._clock.monotonic() - policy.window
            restarts = [moment for moment in restarts if moment >= since]
        return len(restarts) < policy.max_attempts

    def delay_start(
        self, old_task_id: str | None, new_task_id: str, delay: float
    ) -> asyncio.Future[None]:
        """Moves the new task to desired RUNNING after ``delay``, once the old one stopped.

        Returns:
            A future that is done once the task was started, or its start abandoned.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._spawn(self._delay_start(old_task_id, new_task_id, delay), new_task_id, done)
        return done

    def recall(self, service: Service, restarted: list[Task], now: float) -> None:
        """Records the restarts an earlier engine made: each task in ``restarted`` was one, made
        when it was created (``now`` is the clock's wall time)."""
        for task in restarted:
            created = parse_timestamp(task.created_at) if task.created_at else now
            self._record(service, task, self._clock.monotonic() - max(0.0, now - created))

    def _record(self, service: Service, task: Task, moment: float | None = None) -> None:
        instance = self._instance(service, task)
        moment = self._clock.monotonic() if moment is None else moment
        self._history[service.id].setdefault(instance, []).append(moment)

    @staticmethod
    def _instance(service: Service, task: Task) -> tuple[int, str]:
        if defaults.per_node(service.spec):
            return (0, task.node_id)
        return (task.slot, "")

    def _spawn(
        self,
        coroutine: Coroutine[Any, Any, None],
        new_task_id: str,
        done: asyncio.Future[None],
    ) -> None:
        if self._group is None:
            self._waiting.append((coroutine, new_task_id, done))
            return
        task = self._group.create_task(coroutine)
        task.add_done_callback(lambda _: _resolve(done))
        self._delayed[new_task_id] = task

    def _mark_stopped(self, task_id: str) -> None:
        stopped = self._stopped.pop(task_id, None)
        if stopped is not None:
            stopped.set()

    async def _delay_start(self, old_task_id: str | None, new_task_id: str, delay: float) -> None:
        try:
            if old_task_id is not None and self._still_running(old_task_id):
                stopped = self._stopped.setdefault(old_task_id, asyncio.Event())
                await self._clock.wait_event(stopped, OLD_TASK_TIMEOUT)
            await self._clock.sleep(delay)
            self._store.update(lambda tx: self.start_now(tx, new_task_id))
        finally:
            if old_task_id is not None:
                self._stopped.pop(old_task_id, None)
            self._delayed.pop(new_task_id, None)

    def _still_running(self, task_id: str) -> bool:
        """Whether a node may still run the task: one never assigned has nothing to stop."""
        task = self._store.view(lambda tx: get_task(tx, task_id))
        return task is not None and TaskState.ASSIGNED <= task.status.state <= TaskState.RUNNING

    @staticmethod
    def start_now(tx: Tx, task_id: str) -> None:
        """Moves a parked (desired READY) task on to RUNNING (a job's on to COMPLETE)."""
        task = get_task(tx, task_id)
        if task is not None and task.desired_state < TaskState.RUNNING:
            desired = TaskState.RUNNING if task.job_iteration is None else TaskState.COMPLETE
            update_task(tx, replace(task, desired_state=desired))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
