"""What the replicated and global orchestrators share: their parts, their dirty sets, and a
tick that restarts dirty tasks, reconciles dirty services, then hands those to the updater."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from engine.api.events import Event, EventCreate, EventDelete, EventUpdate
from engine.api.objects import Node, Service, Task
from engine.api.types import TaskState
from engine.clock import Clock
from engine.ids import IdGenerator
from engine.manager import defaults
from engine.manager.loop import BATCH, ControlLoop, Dirty, loops_pace
from engine.manager.orchestrator import shut_down
from engine.manager.orchestrator.restart import RestartSupervisor
from engine.manager.orchestrator.update import UpdateSupervisor
from engine.pace import Pace
from engine.store import MemoryStore, Tx, by, find_nodes, find_services, get_service, get_task

__all__ = ["Orchestrator", "ScaleUp"]


@dataclass
class ScaleUp:
    """A scale-up made in steps: the service's version then, how many slots are still to be
    filled, and their numbers, found as they are taken (not 100,000 of them in one step)."""

    version: int
    left: int
    numbers: Iterator[int]


class Orchestrator(ControlLoop):
    """Subclasses say what a task or node event makes dirty, which tasks to restart, and how
    to reconcile a service. Each looks only at the services of its own modes (``MODES``)."""

    MODES: tuple[str, ...] = ("replicated",)  # the services it looks after, by mode_name
    ROLLS = True  # whether the update supervisor brings its services' tasks to their spec
    # Whether its services run on every node they may: a node's change has every service
    # looked at again, and the nodes are read once a step (``_nodes``), not once a service.
    NODES_CHANGE_ALL = False
    _everything = False  # set when every service is to be looked at
    _nodes: Sequence[Node] = ()  # with NODES_CHANGE_ALL, the nodes as this step reads them

    def __init__(
        self,
        store: MemoryStore,
        clock: Clock,
        ids: IdGenerator,
        restarts: RestartSupervisor,
        updates: UpdateSupervisor,
        pace: Pace | None = None,
    ) -> None:
        """``pace``: the line the manager's loops step in (``loops_pace``), else one of its own."""
        self._store = store
        self._clock = clock
        self._pace = pace or loops_pace(clock)
        self._ids = ids
        self._restarts = restarts
        self._updates = updates
        self._dirty_services: Dirty[str] = Dirty()
        self._dirty_tasks: Dirty[str] = Dirty()
        self._budget = BATCH  # task changes the current step may still make
        # Removed services of this mode whose tasks are still to go; read once, then in steps.
        self._removing: dict[str, dict[str, None] | None] = {}
        self._planned: dict[str, ScaleUp] = {}  # services scaled up in steps

    def _handle(self, event: Event) -> None:
        match event:
            case (
                EventCreate(obj=Service() as service)
                | EventUpdate(obj=Service() as service)
                | EventDelete(obj=Service() as service)
            ):
                if defaults.mode_name(service.spec) in self.MODES:
                    self._dirty_services.add(service.id)
                    if isinstance(event, EventDelete):
                        self._removing[service.id] = None
            case EventCreate(obj=Node()) | EventUpdate(obj=Node()) | EventDelete(obj=Node()) if (
                self.NODES_CHANGE_ALL
            ):
                self._everything = True
            case _:
                self._handle_other(event)

    def _handle_other(self, event: Event) -> None:
        """Marks dirty what a task or node event touches."""
        raise NotImplementedError

    def _tick(self) -> None:
        self._budget = BATCH
        if self._dirty_tasks:
            task_ids = self._take(self._dirty_tasks)
            self._store.update(lambda tx: self._restart_tasks(tx, task_ids))
        if self._reconcile_due():
            service_ids, self._dirty_services = set(self._dirty_services), Dirty()
            reconciled = self._store.update(lambda tx: self._reconcile_services(tx, service_ids))
            for service_id in reconciled if self.ROLLS else ():
                self._updates.update(service_id)

    def _allowance(self, service_id: str, wanted: int) -> int:
        """How many of ``wanted`` task changes this step may make to the service; when fewer,
        the service stays dirty and the next step makes the rest."""
        allowed = min(wanted, self._budget)
        self._budget -= allowed
        if allowed < wanted:
            self._dirty_services.add(service_id)
            self._more = True
        return allowed

    def _reconcile_due(self) -> bool:
        return self._everything or bool(self._dirty_services)

    def _restart_tasks(self, tx: Tx, task_ids: list[str]) -> None:
        raise NotImplementedError

    def _reconcile_services(self, tx: Tx, service_ids: set[str]) -> list[str]:
        """Reconciles the services (every one after ``_everything`` was set: read once a step,
        not per event); returns those whose tasks the updater should look at."""
        everything, self._everything = self._everything, False
        if everything:
            service_ids = service_ids | {service.id for service in find_services(tx, by.all())}
        if self.NODES_CHANGE_ALL:
            self._nodes = find_nodes(tx, by.all())
        reconciled = []
        for service_id in sorted(service_ids):
            service = get_service(tx, service_id)
            if service is None:  # removed: its tasks go, and an update of it stops
                if service_id not in self._removing:
                    continue  # one of the other mode, or done with
                self._remove_tasks(tx, service_id)
            elif defaults.mode_name(service.spec) not in self.MODES:
                continue
            else:
                self._reconcile(tx, service)
            if service_id not in self._dirty_services:  # done with, not left for a next step
                reconciled.append(service_id)
        return reconciled

    def _remove_tasks(self, tx: Tx, service_id: str) -> None:
        """Sets the tasks of the removed service to desired REMOVE, as many as this step
        allows; their IDs are read once, at the first step, and each task as its turn comes
        (the newest first)."""
        going = self._removing[service_id]
        if going is None:
            self._planned.pop(service_id, None)
            going = self._removing[service_id] = tx.ids(Task, by.service_id(service_id))
        taken = [going.popitem()[0] for _ in range(self._allowance(service_id, len(going)))]
        current = (get_task(tx, task_id) for task_id in taken)
        shut_down(tx, [task for task in current if task is not None], TaskState.REMOVE)
        if not going:
            del self._removing[service_id]

    def _reconcile(self, tx: Tx, service: Service) -> None:
        """Creates or stops tasks so ``service`` runs as its spec says."""
        raise NotImplementedError
