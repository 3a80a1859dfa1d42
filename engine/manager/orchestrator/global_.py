"""GlobalOrchestrator: one task of each global service on every eligible node.

Eligible: not drained, not down, and meeting the service's constraints. A paused node keeps its
tasks but gets no new ones, and a task that fails there is shut down instead of restarted. Tasks
arrive at the scheduler with their node already set; it only checks them against its filters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from engine.api.events import Event, EventCreate, EventDelete, EventUpdate
from engine.api.objects import Node, Service, Task
from engine.api.types import Availability, TaskState
from engine.manager import constraint, defaults
from engine.manager.orchestrator import invalid_node, new_task, shut_down
from engine.manager.orchestrator.base import Orchestrator
from engine.store import (
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


class GlobalOrchestrator(Orchestrator):
    """Keeps one task of each global service on each eligible node."""

    GLOBAL = True
    _everything = False  # set after a node changed: every service on every node is looked at
    _nodes: Sequence[Node] = ()  # the nodes, read once per reconciliation

    def _handle_other(self, event: Event) -> None:
        match event:
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

    def _reconcile_due(self) -> bool:
        return self._everything or bool(self._dirty_services)

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

    def _reconcile_services(self, tx: Tx, service_ids: set[str]) -> list[str]:
        everything, self._everything = self._everything, False
        if everything:
            service_ids = service_ids | {service.id for service in find_services(tx, by.all())}
        self._nodes = find_nodes(tx, by.all())
        return super()._reconcile_services(tx, service_ids)

    def _reconcile(self, tx: Tx, service: Service) -> None:
        nodes = self._nodes
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
