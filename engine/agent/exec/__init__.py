"""Executors run tasks; ``do_step`` moves a task on by exactly one state (SwarmKit's exec.Do).

An ``Executor`` hands out a ``Controller`` per task. The agent calls ``do_step`` again and again;
each call returns the next status, or ``None`` when there is nothing to do until the desired
state changes (``quick_step`` takes the steps that need no waiting, without a coroutine).
States only move forward. An error before STARTING rejects the task, after it fails it; either
way ``Status.Err`` says why.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, Protocol

from msgspec.structs import replace

from engine.api.durations import format_timestamp
from engine.api.objects import ContainerStatus, Task, TaskStatus
from engine.api.types import TaskState

__all__ = [
    "UNHEALTHY",
    "WAIT",
    "Controller",
    "Executor",
    "ExitError",
    "TaskError",
    "do_step",
    "quick_step",
]

UNHEALTHY = "dockerexec: unhealthy container"  # swarm's error for a container gone unhealthy


class TaskError(Exception):
    """A task cannot go on: the image cannot be pulled, the container cannot start..."""


class ExitError(TaskError):
    """The container exited with a non-zero code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"task: non-zero exit ({code})")
        self.code = code


class Controller(Protocol):
    """Runs one task. Each method may take time; the agent cancels it if the task changes."""

    async def prepare(self) -> None:
        """Pulls the image and creates the container."""
        ...

    async def start(self) -> None:
        """Starts the container; returns once it runs (and is healthy, if it has a check)."""
        ...

    async def wait(self) -> None:
        """Returns when the container exits 0; raises ExitError otherwise."""
        ...

    async def shutdown(self) -> None: ...

    async def remove(self) -> None: ...

    def container_status(self) -> ContainerStatus | None: ...


class Executor(Protocol):
    def controller(self, task: Task) -> Controller: ...


class _Wait(Enum):
    WAIT = "wait"


WAIT = _Wait.WAIT  # quick_step's answer when the step waits for the controller


def quick_step(
    task: Task, status: TaskStatus, controller: Controller, now: float
) -> TaskStatus | Literal[_Wait.WAIT] | None:
    """The next status of ``task`` from ``status`` when reaching it takes no waiting (None if
    there is nothing to do), else WAIT: ``do_step`` takes that step. Most steps are of this kind,
    and a node takes them for thousands of tasks at once."""
    state = status.state
    after = (status, controller, now)
    if task.desired_state >= TaskState.SHUTDOWN:
        return None if state >= TaskState.COMPLETE else WAIT
    if state > task.desired_state:
        return None
    # These states may go past the desired state.
    if state in (TaskState.PREPARING, TaskState.STARTING, TaskState.RUNNING):
        return WAIT
    # The others wait for the desired state to move past them.
    if state == task.desired_state:
        return None
    if state in (TaskState.NEW, TaskState.PENDING, TaskState.ASSIGNED):
        return _transition(*after, TaskState.ACCEPTED, "accepted")
    if state == TaskState.ACCEPTED:
        return _transition(*after, TaskState.PREPARING, "preparing")
    if state == TaskState.READY:
        return _transition(*after, TaskState.STARTING, "starting")
    return None


async def do_step(
    task: Task, status: TaskStatus, controller: Controller, now: float
) -> TaskStatus | None:
    """The next status of ``task`` from ``status``, doing what that takes; None if nothing to do."""
    quick = quick_step(task, status, controller, now)
    if quick is not WAIT:
        return quick
    state = status.state
    # Module functions, not closures: a node's every running task waits inside this call.
    after = (status, controller, now)
    try:
        if task.desired_state >= TaskState.SHUTDOWN:
            await controller.shutdown()
            return _transition(*after, TaskState.SHUTDOWN, "shutdown")
        if state == TaskState.PREPARING:
            await controller.prepare()
            return _transition(*after, TaskState.READY, "prepared")
        if state == TaskState.STARTING:
            await controller.start()
            return _transition(*after, TaskState.RUNNING, "started")
        await controller.wait()  # RUNNING
        return _transition(*after, TaskState.COMPLETE, "finished")
    except TaskError as error:
        return _fatal(*after, error)


def _transition(
    status: TaskStatus, controller: Controller, now: float, state: TaskState, message: str
) -> TaskStatus:
    if state < status.state:
        raise AssertionError(f"invalid transition from {status.state.value} to {state.value}")
    return replace(
        status,
        state=state,
        message=message,
        timestamp=format_timestamp(now),
        container_status=controller.container_status() or status.container_status,
    )


def _fatal(status: TaskStatus, controller: Controller, now: float, error: TaskError) -> TaskStatus:
    return replace(
        status,
        state=TaskState.REJECTED if status.state < TaskState.STARTING else TaskState.FAILED,
        err=str(error),
        timestamp=format_timestamp(now),
        container_status=controller.container_status() or status.container_status,
    )
