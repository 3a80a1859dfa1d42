"""JobsOrchestrator: runs replicated and global jobs to completion, as SwarmKit's jobs
orchestrators do.

A job's tasks are meant to complete (desired state COMPLETE), and one that completed is never
started again. Every update of a job's service is a new run of it (``JobStatus.JobIteration``,
``docker service update --force`` re-runs a job): the tasks of earlier runs still going are shut
down, and the new run starts from nothing. Within a run:

- a replicated job keeps at most ``MaxConcurrent`` tasks going and starts new ones, each in a
  slot of its own (from 0, as SwarmKit numbers them), until ``TotalCompletions`` slots have
  been started; a slot whose task completed is done, as is one whose task failed and was not
  restarted;
- a global job runs one task on every eligible node (not drained, not down, meeting its
  constraints), nodes that come during the run included.

A task that failed is restarted as its restart policy says (``any`` is ``on-failure`` for a
job: a completed task is never restarted), in its slot or on its node. A task whose node went
down or was drained is replaced, as a replicated service's is.
"""

from __future__ import annotations

import itertools

from engine.api.events import Event, EventCreate, EventDelete, EventUpdate
from engine.api.objects import Service, Task, Version
from engine.api.types import TaskState
from engine.manager import defaults
from engine.manager.orchestrator import (
    invalid_node,
    new_task,
    service_constraints,
    shut_down,
    takes_new_tasks,
)
from engine.manager.orchestrator.base import Orchestrator
from engine.store import (
    ReadTx,
    Tx,
    by,
    create_task,
    find_tasks,
    get_cluster,
    get_node,
)

__all__ = ["JobsOrchestrator"]

JOBS = ("replicated-job", "global-job")


class JobsOrchestrator(Orchestrator):
    MODES = JOBS
    ROLLS = False  # an update is a new run, not a rolling update
    NODES_CHANGE_ALL = True  # a global job runs on new nodes; tasks on lost ones are replaced

    def _handle_other(self, event: Event) -> None:
        match event:
            case (
                EventCreate(obj=Task() as task)
                | EventUpdate(obj=Task() as task)
                | EventDelete(obj=Task() as task)
            ) if task.job_iteration is not None:
                self._dirty_services.add(task.service_id)

    def _init(self, tx: ReadTx) -> None:
        self._everything = True

    def _restart_tasks(self, tx: Tx, task_ids: list[str]) -> None:
        """Restarts are done while reconciling: a job's task events mark its service."""

    def _reconcile(self, tx: Tx, service: Service) -> None:
        iteration = service.job_status.job_iteration.index if service.job_status else 0
        tasks = []
        for task in find_tasks(tx, by.service_id(service.id)):
            if task.job_iteration is not None and task.job_iteration.index == iteration:
                tasks.append(task)
            elif _going(task):
                shut_down(tx, [task])  # of an earlier run
        if self._restart_failed(tx, service, tasks):
            tasks = _run(tx, service.id, iteration)  # with the replacements
        if defaults.mode_name(service.spec) == "global-job":
            self._run_on_every_node(tx, service, tasks, iteration)
        else:
            self._run_replicas(tx, service, tasks, iteration)

    def _restart_failed(self, tx: Tx, service: Service, tasks: list[Task]) -> bool:
        """Restarts the run's tasks that failed, or whose node is gone, as their policy says;
        whether it looked at any."""
        cluster = get_cluster(tx)
        restarted = False
        for task in tasks:
            if not task.meant_to_run:
                continue
            failed = task.status.state > TaskState.COMPLETE
            lost = _going(task) and bool(task.node_id) and invalid_node(get_node(tx, task.node_id))
            if (failed or lost) and self._allowance(service.id, 1):
                self._restarts.restart(tx, cluster, service, task)
                restarted = True
        return restarted

    def _run_replicas(self, tx: Tx, service: Service, tasks: list[Task], iteration: int) -> None:
        most, total = defaults.job_concurrency(service.spec)
        going = sum(1 for task in tasks if _going(task))
        started = {task.slot for task in tasks}
        wanted = min(most - going, total - len(started))
        if wanted <= 0:
            return
        free = (slot for slot in itertools.count() if slot not in started)  # from 0, as SwarmKit
        for slot in itertools.islice(free, self._allowance(service.id, wanted)):
            create_task(tx, self._job_task(service, iteration, slot=slot))

    def _run_on_every_node(
        self, tx: Tx, service: Service, tasks: list[Task], iteration: int
    ) -> None:
        placed = {task.node_id for task in tasks}
        constraints = service_constraints(service)
        for node in self._nodes:
            if node.id in placed or not takes_new_tasks(node, constraints):
                continue
            if self._allowance(service.id, 1):
                create_task(tx, self._job_task(service, iteration, node_id=node.id))

    def _job_task(self, service: Service, iteration: int, slot: int = 0, node_id: str = "") -> Task:
        return new_task(
            self._ids,
            service,
            self._clock.time(),
            slot=slot,
            node_id=node_id,
            desired=TaskState.COMPLETE,
            job_iteration=Version(index=iteration),
        )


def _run(tx: ReadTx, service_id: str, iteration: int) -> list[Task]:
    """The service's tasks of its job's run ``iteration``."""
    return [
        task
        for task in find_tasks(tx, by.service_id(service_id))
        if task.job_iteration is not None and task.job_iteration.index == iteration
    ]


def _going(task: Task) -> bool:
    """Meant to complete and not finished yet (parked for a restart delay too)."""
    return task.meant_to_run and task.status.state < TaskState.COMPLETE
