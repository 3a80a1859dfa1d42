"""GlobalOrchestrator: one task of each global service on every eligible node.

Eligible: not drained, not down, and meeting the service's constraints. A paused node keeps its
tasks but gets no new ones, and a task that fails there is shut down instead of restarted. Tasks
arrive at the scheduler with their node already set; it only checks them against its filters.
"""

from __future__ import annotations

from collections import defaultdict

from engine.api.events import Event, EventCreate, EventDelete, EventUpdate
from engine.api.objects import Node, Service, Task
from engine.api.types import Availability, TaskState
from engine.clock import Clock
from engine.ids import IdGenerator
from engine.manager import constraint, defaults
from engine.manager.loop import ControlLoop
from engine.manager.orchestrator import invalid_node, new_task, shut_down
from engine.manager.orchestrator.restart import RestartSupervisor
from engine.manager.orchestrator.update import UpdateSupervisor
from engine.store import (
    MemoryStore,
    ReadTx,
    Tx,
    by,
    create_task,
    find_nodes,
    find_services,
    find_tasks,
    get_cluster,
    get_node,
    get_service,
    get_task,
)

__all__ = ["GlobalOrchestrator"]


class GlobalOrchestrator(ControlLoop):
    """Keeps one task of each global service on each eligible node."""

    def __init__(
        self,
        store: MemoryStore,
        clock: Clock,
        ids: IdGenerator,
        restarts: RestartSupervisor,
        updates: UpdateSupervisor,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._restarts = restarts
        self._updates = updates
        self._dirty_services: set[str] = set()
        self._dirty_tasks: set[str] = set()
        self._everything = False

    def _handle(self, event: Event) -> None:
        match event:
            case (
                EventCreate(obj=Service() as service)
                | EventUpdate(obj=Service() as service)
                | EventDelete(obj=Service() as service)
            ):
                self._dirty_services.add(service.id)
            case EventCreate(obj=Node()) | EventUpdate(obj=Node()) | EventDelete(obj=Node()):
                self._everything = True
            case EventCreate(obj=Task() as task) | EventUpdate(obj=Task() as task):
                if task.desired_state <= TaskState.RUNNING:
                    self._dirty_tasks.add(task.id)
            case EventDelete(obj=Task() as task):
                self._dirty_services.add(task.service_id)

    def _init(self, tx: ReadTx) -> None:
        self._everything = True
        self._dirty_tasks.update(task.id for task in find_tasks(tx, by.all()))

    def _tick(self) -> None:
        if self._dirty_tasks:
            task_ids, self._dirty_tasks = self._dirty_tasks, set()
            self._store.update(lambda tx: self._restart_tasks(tx, task_ids))
        if self._everything or self._dirty_services:
            everything, self._everything = self._everything, False
            service_ids, self._dirty_services = self._dirty_services, set()
            reconciled = self._store.update(
                lambda tx: self._reconcile_services(tx, service_ids, everything)
            )
            for service_id in reconciled:
                self._updates.update(service_id)

    def _restart_tasks(self, tx: Tx, task_ids: set[str]) -> None:
        cluster = get_cluster(tx)
        for task_id in sorted(task_ids):
            task = get_task(tx, task_id)
            if task is None or task.desired_state > TaskState.RUNNING:
                continue
            if task.status.state <= TaskState.RUNNING:
                continue
            service = get_service(tx, task.service_id)
            if service is None or not defaults.is_global(service.spec):
                continue
            node = get_node(tx, task.node_id)
            if invalid_node(node) or (node and node.spec.availability == Availability.PAUSE):
                shut_down(tx, [task])
            else:
                self._restarts.restart(tx, cluster, service, task)

    def _reconcile_services(self, tx: Tx, service_ids: set[str], everything: bool) -> list[str]:
        """Places or stops each global service's tasks; returns the services it looked at."""
        if everything:
            service_ids = service_ids | {service.id for service in find_services(tx, by.all())}
        nodes = find_nodes(tx, by.all())
        reconciled = []
        for service_id in sorted(service_ids):
            service = get_service(tx, service_id)
            if service is None:
                shut_down(tx, find_tasks(tx, by.service_id(service_id)), TaskState.REMOVE)
            elif defaults.is_global(service.spec):
                self._reconcile(tx, service, nodes)
                reconciled.append(service_id)
        return reconciled

    def _reconcile(self, tx: Tx, service: Service, nodes: list[Node]) -> None:
        placement = service.spec.task_template.placement if service.spec.task_template else None
        constraints = constraint.parse(placement.constraints if placement else None)
        by_node: dict[str, list[Task]] = defaultdict(list)
        for task in find_tasks(tx, by.service_id(service.id)):
            if task.desired_state <= TaskState.RUNNING:
                by_node[task.node_id].append(task)
        for node in nodes:
            tasks = by_node.pop(node.id, [])
            if invalid_node(node) or not constraint.node_matches(constraints, node):
                shut_down(tx, tasks)
            elif node.spec.availability == Availability.PAUSE:
                continue
            elif not tasks:
                create_task(tx, new_task(self._ids, service, self._clock.time(), node_id=node.id))
        for tasks in by_node.values():  # their nodes were removed
            shut_down(tx, tasks, TaskState.REMOVE)
