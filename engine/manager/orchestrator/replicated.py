"""ReplicatedOrchestrator: keeps ``replicas`` slots of every replicated service.

Service-level work (scale up, scale down, remove) happens in ``_reconcile``, then the update
supervisor brings out-of-date tasks to the service's spec; task-level work (restart failed tasks
and tasks on nodes that went down or were drained) happens in ``_restart_tasks``.
Scheduling is not done here; see engine.manager.scheduler.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator

from engine.api.events import Event, EventCreate, EventDelete, EventUpdate
from engine.api.objects import Node, Service, Task
from engine.api.types import TaskState
from engine.manager import defaults
from engine.manager.orchestrator import invalid_node, new_task, runnable_slots, shut_down
from engine.manager.orchestrator.base import Orchestrator, ScaleUp
from engine.store import (
    ReadTx,
    Tx,
    by,
    create_task,
    find_services,
    find_tasks,
    get_cluster,
    get_node,
    get_service,
    get_task,
)

__all__ = ["ReplicatedOrchestrator"]


class ReplicatedOrchestrator(Orchestrator):
    """Creates and removes tasks so each replicated service runs ``replicas`` slots."""

    def _handle_other(self, event: Event) -> None:
        match event:
            case EventCreate(obj=Task() as task) | EventUpdate(obj=Task() as task):
                if task.desired_state <= TaskState.RUNNING:
                    self._dirty_tasks.add(task.id)
            case EventDelete(obj=Task() as task):
                if task.desired_state <= TaskState.RUNNING:
                    self._dirty_services.add(task.service_id)
            case EventUpdate(obj=Node() as node) | EventDelete(obj=Node() as node):
                self._node_changed(node)

    def _init(self, tx: ReadTx) -> None:
        self._dirty_services.update(service.id for service in find_services(tx, by.all()))
        for task in find_tasks(tx, by.all()):
            if task.desired_state <= TaskState.RUNNING:
                self._dirty_tasks.add(task.id)

    def _node_changed(self, node: Node) -> None:
        current = self._store.view(lambda tx: get_node(tx, node.id))
        if invalid_node(current):
            tasks = self._store.view(lambda tx: find_tasks(tx, by.node_id(node.id)))
            self._dirty_tasks.update(task.id for task in tasks)

    # Task level: restarts.

    def _restart_tasks(self, tx: Tx, task_ids: list[str]) -> None:
        cluster = get_cluster(tx)
        for task_id in sorted(task_ids):
            task = get_task(tx, task_id)
            if task is None or task.desired_state > TaskState.RUNNING:
                continue
            service = get_service(tx, task.service_id)
            if service is None or defaults.mode_name(service.spec) not in self.MODES:
                continue
            node = get_node(tx, task.node_id) if task.node_id else None
            if task.status.state > TaskState.RUNNING or (task.node_id and invalid_node(node)):
                self._restarts.restart(tx, cluster, service, task)

    # Service level: scale and remove.

    def _reconcile(self, tx: Tx, service: Service) -> None:
        """Scales the service. The slot numbers a scale-up fills are found once and then
        filled in steps, while the service stays at that version: a step of a 100,000-replica
        create does not read the tasks made by the steps before it."""
        planned = self._planned.get(service.id)
        if planned is None or planned.version != service.version.index:
            self._planned.pop(service.id, None)
            slots = runnable_slots(tx, service.id)
            wanted = defaults.replicas(service.spec)
            if wanted < len(slots):
                victims = _scale_down_order([slots[n] for n in sorted(slots)])[wanted:]
                for victim in victims[: self._allowance(service.id, len(victims))]:
                    shut_down(tx, victim, TaskState.REMOVE)
                return
            count = wanted - len(slots)
            planned = ScaleUp(service.version.index, count, _free(set(slots), count))
        allowed = self._allowance(service.id, planned.left)
        for number in itertools.islice(planned.numbers, allowed):
            create_task(tx, new_task(self._ids, service, self._clock.time(), slot=number))
        planned.left -= allowed
        if planned.left:
            self._planned[service.id] = planned
        else:
            self._planned.pop(service.id, None)


def _free(slots: set[int], count: int) -> Iterator[int]:
    """The first ``count`` slot numbers (from 1) not in ``slots``."""
    number = 0
    for _ in range(count):
        number += 1
        while number in slots:
            number += 1
        yield number


def _scale_down_order(slots: list[list[Task]]) -> list[list[Task]]:
    """Slots in the order to keep them: removing from the end takes from the busiest nodes first.

    As SwarmKit: running slots before others, then each slot numbered as the n-th copy of the
    service on its node; slots with no single node go last.
    """
    slots.sort(key=lambda slot: 0 if any(t.status.state == TaskState.RUNNING for t in slot) else 1)
    copies: Counter[str] = Counter()
    ranked: list[tuple[float, int, list[Task]]] = []
    for position, slot in enumerate(slots):
        if len(slot) == 1 and slot[0].node_id:
            copies[slot[0].node_id] += 1
            ranked.append((copies[slot[0].node_id], position, slot))
        else:
            ranked.append((float("inf"), position, slot))
    ranked.sort(key=lambda entry: (entry[0], entry[1]))
    return [slot for _, _, slot in ranked]
