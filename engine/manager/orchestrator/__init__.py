"""What the orchestrators share: making tasks, telling dirty tasks, slots and invalid nodes.

Orchestrators create tasks and set desired states; they never pick nodes (the scheduler does).
"""

from __future__ import annotations

from collections import defaultdict

from msgspec.structs import replace

from engine.api.durations import format_timestamp
from engine.api.objects import Node, Service, Task, TaskStatus, Version
from engine.api.specs import TaskSpec
from engine.api.types import Availability, NodeState, TaskState
from engine.ids import IdGenerator
from engine.manager import constraint
from engine.manager.networks import publishes_ingress
from engine.store import ReadTx, Tx, by, find_tasks, update_task

_EMPTY_TASK = TaskSpec()

__all__ = [
    "invalid_node",
    "is_task_dirty",
    "new_task",
    "runnable_slots",
    "service_constraints",
    "shut_down",
    "takes_new_tasks",
]


def new_task(
    ids: IdGenerator,
    service: Service,
    now: float,
    slot: int = 0,
    node_id: str = "",
    desired: TaskState = TaskState.RUNNING,
    job_iteration: Version | None = None,
) -> Task:
    """A NEW task for ``service`` in ``slot`` (replicated) or on ``node_id`` (global), of the
    job's run ``job_iteration`` for a job."""
    return Task(
        id=ids.new_id(),
        spec=service.spec.task_template or _EMPTY_TASK,
        service_id=service.id,
        slot=slot,
        node_id=node_id,
        status=TaskStatus(state=TaskState.NEW, timestamp=format_timestamp(now), message="created"),
        desired_state=desired,
        job_iteration=job_iteration,
    )


def is_task_dirty(service: Service, task: Task, node: Node | None = None) -> bool:
    """Whether ``task`` runs a spec other than the service's (SwarmKit's IsTaskDirty).

    A change of placement constraints alone does not make a task dirty while its node still
    satisfies the new constraints. A task allocated while its service published through the
    routing mesh and no longer does, or the other way round, is dirty: it is on the ingress
    network, or not, as its service no longer asks.
    """
    wanted = service.spec.task_template or _EMPTY_TASK
    if task.status.state != TaskState.NEW and _on_ingress(task) != publishes_ingress(service.spec):
        return True
    if task.spec == wanted:
        return False
    if node is None or task.spec.placement == wanted.placement:
        return True
    if replace(task.spec, placement=wanted.placement) != wanted:
        return True
    placement = wanted.placement
    try:
        constraints = constraint.parse(placement.constraints if placement else None)
    except ValueError:
        return True
    return not constraint.node_matches(constraints, node)


def _on_ingress(task: Task) -> bool:
    return any(
        attachment.network is not None and bool(attachment.network.spec.ingress)
        for attachment in task.networks_attachments or ()
    )


def invalid_node(node: Node | None) -> bool:
    """A node whose tasks must go: deleted, down or drained (SwarmKit's InvalidNode)."""
    return (
        node is None
        or node.status.state == NodeState.DOWN
        or node.spec.availability == Availability.DRAIN
    )


def service_constraints(service: Service) -> list[constraint.Constraint]:
    """The service's placement constraints, parsed."""
    template = service.spec.task_template
    placement = template.placement if template else None
    return constraint.parse(placement.constraints if placement else None)


def takes_new_tasks(node: Node | None, constraints: list[constraint.Constraint]) -> bool:
    """Whether a node gets a task of a service that runs on every node it may (a global
    service or job): one not drained, down or paused, that meets the service's constraints."""
    return (
        node is not None
        and not invalid_node(node)
        and node.spec.availability != Availability.PAUSE
        and constraint.node_matches(constraints, node)
    )


def runnable_slots(tx: ReadTx, service_id: str) -> dict[int, list[Task]]:
    """The service's slots that have a task meant to run (desired state at most RUNNING)."""
    slots: dict[int, list[Task]] = defaultdict(list)
    for task in find_tasks(tx, by.service_id(service_id)):
        if task.desired_state <= TaskState.RUNNING:
            slots[task.slot].append(task)
    return dict(slots)


def shut_down(tx: Tx, tasks: list[Task], desired: TaskState = TaskState.SHUTDOWN) -> None:
    """Sets each task's desired state to ``desired`` (SHUTDOWN, or REMOVE to delete it after)."""
    for task in tasks:
        if task.desired_state < desired:
            update_task(tx, replace(task, desired_state=desired))
