"""Task initialisation: what a manager does with the tasks it finds when it starts (SwarmKit's
``taskinit.CheckTasks``).

The engine that wrote the store may have stopped between two steps of the same change, so before
the orchestrators run:

- tasks of a service that is gone (removed, then stopped before its tasks were told) are shut
  down with desired state REMOVE: their nodes stop them and the reaper deletes them;
- tasks parked at desired READY (a restart waiting out its delay, or a slot of a rolling update)
  are started after what remains of their restart delay. The deadline is the task's stored
  creation time plus the delay, so a restart in the middle of a delay waits only the rest;
- the restart history of each slot is read back from its tasks, so ``MaxAttempts`` counts the
  restarts made before the engine stopped.

An update in progress needs nothing here: its state is the service's UpdateStatus, and the
orchestrators hand every service to the update supervisor when they start.
"""

from __future__ import annotations

from collections import defaultdict

from engine.api.durations import parse_timestamp
from engine.api.objects import Service, Task
from engine.api.types import TaskState
from engine.clock import Clock
from engine.manager import defaults
from engine.manager.orchestrator import is_task_dirty, shut_down
from engine.manager.orchestrator.restart import RestartSupervisor
from engine.store import Tx, by, find_tasks, get_service

__all__ = ["check_tasks"]


def check_tasks(tx: Tx, clock: Clock, restarts: RestartSupervisor) -> None:
    """Fixes the tasks an earlier engine left half done; run once, before the orchestrators."""
    now = clock.time()
    services: dict[str, Service | None] = {}
    instances: dict[tuple[str, int, str], list[Task]] = defaultdict(list)
    for task in find_tasks(tx, by.all()):
        if not task.service_id:
            continue
        if task.service_id not in services:
            services[task.service_id] = get_service(tx, task.service_id)
        service = services[task.service_id]
        if service is None:
            shut_down(tx, [task], TaskState.REMOVE)
            continue
        instances[_instance(service, task)].append(task)
        if task.desired_state == TaskState.READY and task.status.state <= TaskState.RUNNING:
            _resume_start(tx, clock, restarts, task, now)
    for (service_id, _, _), tasks in instances.items():
        service = services[service_id]
        assert service is not None
        restarts.recall(service, _restarted(service, tasks), now)


def _resume_start(
    tx: Tx, clock: Clock, restarts: RestartSupervisor, task: Task, now: float
) -> None:
    delay = defaults.effective_restart(task.spec).delay
    created = parse_timestamp(task.created_at) if task.created_at else now
    remaining = min(delay, created + delay - now)
    if remaining > 0:
        restarts.delay_start(None, task.id, remaining)
    else:
        RestartSupervisor.start_now(tx, task.id)


def _restarted(service: Service, tasks: list[Task]) -> list[Task]:
    """The tasks of one slot that were restarts: every one of the current spec but the first."""
    current = [task for task in tasks if not is_task_dirty(service, task)]
    current.sort(key=lambda task: task.created_at or "")
    return current[1:]


def _instance(service: Service, task: Task) -> tuple[str, int, str]:
    if defaults.per_node(service.spec):
        return (service.id, 0, task.node_id)
    return (service.id, task.slot, "")
