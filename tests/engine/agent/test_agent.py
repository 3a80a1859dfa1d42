"""The agent's workers: a change interrupts a task's step, and stopping the agent stops every
worker, even one caught while its interrupted step was still ending; a flood of changes is
taken on a few per turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from msgspec.structs import replace

from engine.agent.agent import Agent
from engine.api.dispatch import Assignments
from engine.api.objects import ContainerStatus, NodeDescription, Task, TaskStatus
from engine.api.types import TaskState
from engine.clock import SystemClock
from engine.pace import FEWEST, TURN
from tests.engine.conftest import Watch, pace_on


class Session:
    node_id = "node"
    session_id = "session"

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Assignments] = asyncio.Queue()

    async def assignments(self) -> AsyncIterator[Assignments]:
        while True:
            yield await self.queue.get()


class Dispatcher:
    def __init__(self) -> None:
        self.session = Session()
        self.reports: list[tuple[str, TaskStatus]] = []

    def register(self, node_id: str, description: NodeDescription, addr: str) -> Session:
        return self.session

    def heartbeat(self, session: Session) -> float:
        return 60.0

    def update_task_status(self, session: Session, updates: list[tuple[str, TaskStatus]]) -> None:
        self.reports.extend(updates)


class SlowToGiveUp:
    """A running container whose wait, when interrupted, takes a while to give up."""

    def __init__(self) -> None:
        self.giving_up = asyncio.Event()

    async def prepare(self) -> None: ...

    async def start(self) -> None: ...

    async def wait(self) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            self.giving_up.set()
            await asyncio.sleep(0.05)

    async def shutdown(self) -> None: ...

    async def remove(self) -> None: ...

    def container_status(self) -> ContainerStatus | None:
        return None


class Executor:
    def __init__(self) -> None:
        self.controller_made = SlowToGiveUp()

    def controller(self, task: Task) -> SlowToGiveUp:
        return self.controller_made


async def test_stopping_the_agent_stops_a_worker_whose_interrupted_step_is_ending() -> None:
    dispatcher, executor = Dispatcher(), Executor()
    agent = Agent("node", NodeDescription(), "", dispatcher, executor, SystemClock())  # type: ignore[arg-type]
    running = Task(
        id="task",
        node_id="node",
        status=TaskStatus(state=TaskState.RUNNING),
        desired_state=TaskState.RUNNING,
    )
    run = asyncio.create_task(agent.run())
    dispatcher.session.queue.put_nowait(Assignments((running,), full=True))
    await asyncio.sleep(0.01)  # the worker waits in the running container
    shut = replace(running, desired_state=TaskState.SHUTDOWN)
    dispatcher.session.queue.put_nowait(Assignments((shut,)))
    await executor.controller_made.giving_up.wait()  # interrupted; the step is ending
    run.cancel()
    done, _ = await asyncio.wait([run], timeout=5)
    assert done, "the agent did not stop"


async def test_a_flood_of_changes_takes_its_turns_in_the_workers_line() -> None:
    """A service of thousands of tasks removed reaches a node as thousands of changes: they
    are taken on a few per turn of the event loop, as many as the line lets through."""
    watch = Watch()
    dispatcher = Dispatcher()
    agent = Agent(
        "node",
        NodeDescription(),
        "",
        dispatcher,  # type: ignore[arg-type]
        Executor(),  # type: ignore[arg-type]
        SystemClock(),
        pace_on(watch),
    )
    taken: list[int] = []  # the turn of the loop in which each change was taken
    turn = 0

    async def counted() -> AsyncIterator[Assignments]:
        while True:
            change = await dispatcher.session.queue.get()
            taken.append(turn)
            yield change

    dispatcher.session.assignments = counted  # type: ignore[method-assign]
    for number in range(1000):  # removals of tasks the node never had: nothing else to do
        dispatcher.session.queue.put_nowait(Assignments((), removed=(f"task-{number}",)))
    run = asyncio.create_task(agent.run())
    try:
        while len(taken) < 1000 or not dispatcher.session.queue.empty():
            await asyncio.sleep(0)
            turn += 1
            watch.now += 2 * TURN  # every turn is long: the line lets the fewest through
        per_turn = [taken.count(t) for t in set(taken)]
        assert max(per_turn) <= FEWEST + 1  # one more is taken from the queue to wait in line
        assert len(per_turn) >= 1000 // (FEWEST + 1)
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
