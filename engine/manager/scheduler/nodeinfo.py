"""What the scheduler knows of a node: its tasks, their counts per service, what is left free."""

from __future__ import annotations

from collections import Counter

from engine.api.objects import Node, Task

__all__ = ["MAX_FAILURES", "MONITOR_FAILURES", "NodeInfo"]

MAX_FAILURES = 5  # SwarmKit's maxFailures: recent failures that push a node down the order
MONITOR_FAILURES = 300.0  # seconds; SwarmKit's monitorFailures window (5 minutes)


class NodeInfo:
    """A node with the tasks assigned to it. Mutable: the scheduler owns it alone."""

    __slots__ = (
        "active_by_service",
        "active_tasks",
        "available_cpus",
        "available_memory",
        "host_ports",
        "id",
        "node",
        "recent_failures",
        "task_ports",
        "tasks",
    )

    def __init__(self, node: Node) -> None:
        self.id = node.id
        self.node = node
        self.tasks: dict[str, Task] = {}
        self.active_tasks = 0
        self.active_by_service: Counter[str] = Counter()
        resources = node.description.resources if node.description else None
        self.available_cpus = (resources.nano_cpus or 0) if resources else 0
        self.available_memory = (resources.memory_bytes or 0) if resources else 0
        self.host_ports: Counter[tuple[int, str]] = Counter()
        self.task_ports: dict[str, tuple[tuple[int, str], ...]] = {}
        self.recent_failures: dict[str, list[float]] = {}

    def set_node(self, node: Node) -> None:
        """Takes a newer version of the node, keeping what its tasks reserve."""
        old = self.node.description.resources if self.node.description else None
        new = node.description.resources if node.description else None
        self.available_cpus += ((new.nano_cpus or 0) if new else 0) - (
            (old.nano_cpus or 0) if old else 0
        )
        self.available_memory += ((new.memory_bytes or 0) if new else 0) - (
            (old.memory_bytes or 0) if old else 0
        )
        self.node = node

    def add_task(self, task: Task, host_ports: tuple[tuple[int, str], ...] = ()) -> bool:
        """Counts ``task`` on this node; says whether anything changed.

        ``host_ports`` are the host-mode ports the task publishes, from its service's endpoint.
        """
        old = self.tasks.get(task.id)
        if old is not None:
            if old is task:
                return False
            active_before = old.meant_to_run
            active_now = task.meant_to_run
            if active_now != active_before:
                step = 1 if active_now else -1
                self.active_tasks += step
                self.active_by_service[task.service_id] += step
            self.tasks[task.id] = task
            return True
        self.tasks[task.id] = task
        if task.meant_to_run:
            self.active_tasks += 1
            self.active_by_service[task.service_id] += 1
        cpus, memory = _reservations(task)
        self.available_cpus -= cpus
        self.available_memory -= memory
        if host_ports:
            self.task_ports[task.id] = host_ports
            for port in host_ports:
                self.host_ports[port] += 1
        return True

    def remove_task(self, task_id: str) -> bool:
        task = self.tasks.pop(task_id, None)
        if task is None:
            return False
        if not self.tasks:
            self.tasks.clear()  # an emptied dict keeps its size (1 MB after 30,000 tasks)
        if task.meant_to_run:
            self.active_tasks -= 1
            self.active_by_service[task.service_id] -= 1
        cpus, memory = _reservations(task)
        self.available_cpus += cpus
        self.available_memory += memory
        for port in self.task_ports.pop(task_id, ()):
            self.host_ports[port] -= 1
        return True

    def task_failed(self, service_id: str, now: float) -> None:
        failures = self.recent_failures.setdefault(service_id, [])
        failures.append(now)
        while failures and failures[0] < now - MONITOR_FAILURES:
            failures.pop(0)

    def count_recent_failures(self, service_id: str, now: float) -> int:
        failures = self.recent_failures.get(service_id)
        if not failures:
            return 0
        return sum(1 for moment in failures if moment >= now - MONITOR_FAILURES)


def _reservations(task: Task) -> tuple[int, int]:
    resources = task.spec.resources
    reservations = resources.reservations if resources else None
    if reservations is None:
        return 0, 0
    return reservations.nano_cpus or 0, reservations.memory_bytes or 0
