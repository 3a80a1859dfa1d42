"""Manager: builds the control loops around one store and runs them in one task group."""

from __future__ import annotations

import asyncio

from engine.clock import Clock
from engine.ids import IdGenerator
from engine.manager.allocator import Allocator
from engine.manager.controlapi import ControlAPI
from engine.manager.dispatcher import HEARTBEAT_EPSILON, Dispatcher
from engine.manager.loop import loops_pace
from engine.manager.orchestrator.global_ import GlobalOrchestrator
from engine.manager.orchestrator.jobs import JobsOrchestrator
from engine.manager.orchestrator.replicated import ReplicatedOrchestrator
from engine.manager.orchestrator.restart import RestartSupervisor
from engine.manager.orchestrator.taskinit import check_tasks
from engine.manager.orchestrator.taskreaper import TaskReaper
from engine.manager.orchestrator.update import UpdateSupervisor
from engine.manager.scheduler import Scheduler
from engine.store import MemoryStore

__all__ = ["Manager"]

# What steps in the manager's line: the three orchestrators, the task reaper (its events and its
# deletions), the allocator and the scheduler.
LOOPS = 7


class Manager:
    """The leader's components. ``run()`` runs them until cancelled; there is no ``stop()``."""

    def __init__(
        self,
        store: MemoryStore,
        clock: Clock,
        ids: IdGenerator,
        seed: int | None = None,
        heartbeat_epsilon: float = HEARTBEAT_EPSILON,
        promotion: bool = True,
    ) -> None:
        """``promotion``: whether nodes may be promoted (see ControlAPI)."""
        self.store = store
        self.clock = clock
        self.control = ControlAPI(store, clock, ids, promotion)
        self.restarts = RestartSupervisor(store, clock, ids)
        self.updates = UpdateSupervisor(store, clock, ids, self.restarts)
        self.dispatcher = Dispatcher(store, clock, ids, seed, heartbeat_epsilon)
        # The loops that work through a big change in steps take them in one line.
        pace = loops_pace(clock, LOOPS)
        self.scheduler = Scheduler(store, clock, pace)
        self._components = (
            self.restarts,
            self.updates,
            ReplicatedOrchestrator(store, clock, ids, self.restarts, self.updates, pace),
            GlobalOrchestrator(store, clock, ids, self.restarts, self.updates, pace),
            JobsOrchestrator(store, clock, ids, self.restarts, self.updates, pace),
            TaskReaper(store, clock, pace),
            Allocator(store, clock, pace),
            self.scheduler,
            self.dispatcher,
        )

    async def run(self) -> None:
        self.store.update(lambda tx: check_tasks(tx, self.clock, self.restarts))
        async with asyncio.TaskGroup() as group:
            for component in self._components:
                group.create_task(component.run(), name=type(component).__name__)
