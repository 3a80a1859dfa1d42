"""Agent: one node's side of the cluster.

It registers with the dispatcher, heartbeats in the period it is told, and keeps one worker per
assigned task that calls ``do_step`` until the task's desired state is reached, reporting every
status. Statuses made while the manager cannot be reached are kept and reported on the next
session. ``disconnect()`` and ``connect()`` simulate a node that drops off the network and comes
back: its containers go on running meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from msgspec.structs import replace

from engine.agent.exec import WAIT, Controller, Executor, do_step, quick_step
from engine.api.dispatch import Assignments, DispatcherAPI, Session, SessionInvalid
from engine.api.objects import NodeDescription, Task, TaskStatus
from engine.clock import Clock
from engine.errors import NotFound
from engine.pace import Pace

__all__ = ["Agent"]

log = logging.getLogger(__name__)

REREGISTER_DELAY = 1.0  # seconds before registering again after the manager closed the session


class Agent:
    def __init__(
        self,
        node_id: str,
        description: NodeDescription,
        addr: str,
        dispatcher: DispatcherAPI,
        executor: Executor,
        clock: Clock,
        pace: Pace | None = None,
    ) -> None:
        """``pace`` is the line its workers take their steps in; the agents of one process
        share one, as they share its event loop."""
        self.node_id = node_id
        self._description = description
        self._addr = addr
        self._dispatcher = dispatcher
        self._executor = executor
        self._clock = clock
        self._pace = pace or Pace(clock)
        self._assigned: dict[str, Task] = {}
        self._statuses: dict[str, TaskStatus] = {}
        self._wakes: dict[str, asyncio.Future[bool]] = {}  # per worker: its step ended, or not
        self._dirty: set[str] = set()  # tasks whose assignment changed since their worker looked
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._unreported: dict[str, TaskStatus] = {}
        self._session: Session | None = None
        self._online = asyncio.Event()
        self._online.set()
        self._offline = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None

    @property
    def online(self) -> bool:
        return self._online.is_set()

    def disconnect(self) -> None:
        """Stops talking to the manager (no heartbeats, no reports); tasks keep running."""
        self._online.clear()
        self._offline.set()

    def connect(self) -> None:
        """Talks to the manager again: registers, reports what happened, takes assignments."""
        self._offline.clear()
        self._online.set()

    def tasks(self) -> list[Task]:
        """The tasks assigned to this node, each with the status its worker last gave it."""
        return [
            replace(task, status=self._statuses.get(task_id, task.status))
            for task_id, task in self._assigned.items()
        ]

    def describe(self, description: NodeDescription) -> None:
        """The node describes itself anew (its certificate changed): it registers again, its
        tasks running on."""
        self._description = description
        if self.online:
            self.disconnect()
            self.connect()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            while True:
                await self._online.wait()
                session = asyncio.ensure_future(self._run_session())
                offline = asyncio.ensure_future(self._offline.wait())
                try:
                    await asyncio.wait((session, offline), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    offline.cancel()
                    session.cancel()
                self._session = None
                with contextlib.suppress(asyncio.CancelledError, SessionInvalid, NotFound):
                    await session
                if self._online.is_set():
                    await self._clock.sleep(REREGISTER_DELAY)

    async def _run_session(self) -> None:
        session = self._dispatcher.register(self.node_id, self._description, self._addr)
        self._session = session
        self._report_unreported()
        heartbeats = asyncio.ensure_future(self._heartbeats(session))
        try:
            async for change in session.assignments():
                # A flood of changes (a service of 100,000 replicas removed) takes its turns in
                # the workers' line: the workers it wakes take theirs there too.
                await self._pace.turn()
                await self._apply(change)
                if heartbeats.done():
                    break
        finally:
            heartbeats.cancel()
        await heartbeats  # raises SessionInvalid if that is why it ended

    async def _heartbeats(self, session: Session) -> None:
        while True:
            period = self._dispatcher.heartbeat(session)
            await self._clock.sleep(period)

    async def _apply(self, change: Assignments) -> None:
        """Takes on the change; a big one (a node's every task, when it registers) a task per
        turn in the workers' line, the rest of the engine running between them."""
        if change.full:
            wanted = {task.id for task in change.tasks}
            for task_id in list(self._assigned):
                if task_id not in wanted:
                    self._unassign(task_id)
        for task in change.tasks:
            await self._pace.turn()
            old = self._assigned.get(task.id)
            self._assigned[task.id] = task
            if task.id not in self._statuses:
                self._statuses[task.id] = task.status
            if task.id not in self._workers:
                assert self._group is not None
                self._workers[task.id] = self._group.create_task(self._work(task.id))
            elif old is None or old.desired_state != task.desired_state or old.spec != task.spec:
                self._changed(task.id)
        for task_id in change.removed:
            self._unassign(task_id)

    def _unassign(self, task_id: str) -> None:
        if self._assigned.pop(task_id, None) is not None:
            self._changed(task_id)

    def _changed(self, task_id: str) -> None:
        """The task's assignment changed: its worker starts over from the new one."""
        self._dirty.add(task_id)
        wake = self._wakes.get(task_id)
        if wake is not None:
            _settle(wake, False)

    def _wake_on_change(self, task_id: str) -> asyncio.Future[bool]:
        """A future that the next change of the task's assignment resolves (with False)."""
        wake: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._wakes[task_id] = wake
        return wake

    async def _work(self, task_id: str) -> None:
        """Moves the task on a step at a time; a change of its assignment interrupts the step.

        One future (``wake``) is resolved by whichever comes first, the step's end or a change,
        so a worker costs the event loop no more than its step: a node runs thousands. Each
        step begins in its turn (``Pace``), so thousands that move at once take turns.
        """
        controller: Controller | None = None
        try:
            while True:
                await self._pace.turn()
                self._dirty.discard(task_id)
                task = self._assigned.get(task_id)
                if task is None:
                    if controller is not None:
                        await controller.remove()
                    return
                if controller is None:
                    controller = self._executor.controller(task)
                now = self._clock.time()
                status = quick_step(task, self._statuses[task_id], controller, now)
                if status is WAIT:
                    wake = self._wake_on_change(task_id)
                    step = asyncio.ensure_future(
                        do_step(task, self._statuses[task_id], controller, now)
                    )
                    step.add_done_callback(functools.partial(_settle, wake, True))
                    try:
                        await wake
                    finally:
                        interrupted = not step.done()
                        if interrupted:
                            step.cancel()
                    if interrupted:  # the assignment changed: start over from the new one
                        with contextlib.suppress(asyncio.CancelledError):
                            await step
                        if _stopping():  # the worker itself was stopped while its step ended
                            raise asyncio.CancelledError
                        continue
                    status = step.result()
                if status is None:
                    if task_id not in self._dirty:
                        await self._wake_on_change(task_id)
                    continue
                self._statuses[task_id] = status
                self._report(task_id, status)
        finally:
            self._workers.pop(task_id, None)
            self._wakes.pop(task_id, None)
            self._dirty.discard(task_id)
            self._statuses.pop(task_id, None)
            if not self._workers:  # the node runs nothing: an emptied dict keeps its size
                for table in (
                    self._assigned,
                    self._workers,
                    self._wakes,
                    self._dirty,
                    self._statuses,
                ):
                    if not table:
                        table.clear()

    def _report(self, task_id: str, status: TaskStatus) -> None:
        self._unreported[task_id] = status
        self._report_unreported()

    def _report_unreported(self) -> None:
        session = self._session
        if session is None or not self._unreported:
            return
        updates = list(self._unreported.items())
        try:
            self._dispatcher.update_task_status(session, updates)
        except SessionInvalid:
            return
        self._unreported.clear()


def _settle(future: asyncio.Future[bool], value: bool, *_: object) -> None:
    if not future.done():
        future.set_result(value)


def _stopping() -> bool:
    """Whether the running task was asked to stop (a cancellation not yet taken back)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
