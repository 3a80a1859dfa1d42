"""GlobalOrchestrator: one task of each global service on every eligible node.

Eligible: not drained, not down, and meeting the service's constraints. A paused node keeps its
tasks but gets no new ones, and a task that fails there is shut down instead of restarted. A task
that ended and that its restart policy does not restart (condition none, on-failure after exit 0,
max attempts used up) stays its node's task: the node gets another only with a new spec. Tasks
arrive at the scheduler with their node already set; it only checks them against its filters.
"""

from __future__ import annotations

from collections import defaultdict

from engine.api.events import Event, EventCreate, EventDelete, EventUpdate
from engine.api.objects import Service, Task
from engine.api.types import Availability, TaskState
from engine.manager import constraint, defaults
from engine.manager.orchestrator import (
    invalid_node,
    is_task_dirty,
    new_task,
    service_constraints,
    shut_down,
    takes_new_tasks,
)
from engine.manager.orchestrator.base import Orchestrator
from engine.manager.orchestrator.update import ROLLBACK_STARTED
from engine.store import (
    ReadTx,
    Tx,
    by,
    create_task,
    find_tasks,
    get_cluster,
    get_node,
    get_service,
    get_task,
)

__all__ = ["GlobalOrchestrator"]


class GlobalOrchestrator(Orchestrator):
    """Keeps one task of each global service on each eligible node."""

    MODES = ("global",)
    NODES_CHANGE_ALL = True  # a node may now take, or have to give up, the services' tasks

    def _handle_other(self, event: Event) -> None:
        match event:
            case EventCreate(obj=Task() as task) | EventUpdate(obj=Task() as task):
                if task.desired_state <= TaskState.RUNNING:
                    self._dirty_tasks.add(task.id)
            case EventDelete(obj=Task() as task):
                self._dirty_services.add(task.service_id)

    def _init(self, tx: ReadTx) -> None:
        self._everything = True
        self._dirty_tasks.update(task.id for task in find_tasks(tx, by.all()))

    def _restart_tasks(self, tx: Tx, task_ids: list[str]) -> None:
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
            if not takes_new_tasks(get_node(tx, task.node_id), service_constraints(service)):
                shut_down(tx, [task])
            else:
                self._restarts.restart(tx, cluster, service, task)

    def _reconcile(self, tx: Tx, service: Service) -> None:
        constraints = service_constraints(service)
        by_node: dict[str, list[Task]] = defaultdict(list)
        finished: set[str] = set()  # nodes whose task ended and is not to be restarted
        for task in find_tasks(tx, by.service_id(service.id)):
            if task.desired_state <= TaskState.RUNNING:
                by_node[task.node_id].append(task)
            elif self._finished(service, task):
                finished.add(task.node_id)
        for node in self._nodes:
            tasks = by_node.pop(node.id, [])
            if invalid_node(node) or not constraint.node_matches(constraints, node):
                shut_down(tx, tasks)
            elif node.spec.availability == Availability.PAUSE:
                continue
            elif not tasks and node.id not in finished:
                create_task(tx, new_task(self._ids, service, self._clock.time(), node_id=node.id))
        for tasks in by_node.values():  # their nodes were removed
            shut_down(tx, tasks, TaskState.REMOVE)

    def _finished(self, service: Service, task: Task) -> bool:
        """Whether ``task`` ended on its own and its restart policy keeps it ended (no
        restarts on condition none, a completed task on on-failure, max attempts used up).

        Such a task is still its node's task: SwarmKit's IsTaskUpdatable counts it, so that
        looking at the nodes again does not start what the policy stopped. A task of another
        spec does not count (the node gets the new spec's task), nor does any during a
        rollback, which always brings the service back to its tasks.
        """
        if task.status.state <= TaskState.RUNNING or task.status.state == TaskState.SHUTDOWN:
            return False
        status = service.update_status
        if status is not None and status.state == ROLLBACK_STARTED:
            return False
        if is_task_dirty(service, task):
            return False
        return not self._restarts.should_restart(task, service)
