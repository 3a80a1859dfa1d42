"""What the console knows of a cluster at one moment: an immutable snapshot."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter, countOf

from engine.api.objects import Node, Service, Task
from engine.api.types import TaskState

__all__ = ["Snapshot"]

_state = attrgetter("status.state")


@dataclass(frozen=True)
class Snapshot:
    """Nodes, services and tasks as one poll saw them, and when (``now``, Unix time)."""

    nodes: tuple[Node, ...] = ()
    services: tuple[Service, ...] = ()
    tasks: tuple[Task, ...] = ()
    now: float = 0.0
    usage: dict[str, tuple[float, int]] = field(default_factory=dict)  # task id -> cpu s, mem
    usage_note: str = ""  # what usage could not be read, and why

    @cached_property
    def node_by_id(self) -> dict[str, Node]:
        return {node.id: node for node in self.nodes}

    @cached_property
    def service_by_id(self) -> dict[str, Service]:
        return {service.id: service for service in self.services}

    @cached_property
    def tasks_by_service(self) -> dict[str, list[Task]]:
        grouped: dict[str, list[Task]] = defaultdict(list)
        for task in self.tasks:
            grouped[task.service_id].append(task)
        return grouped

    @cached_property
    def tasks_by_node(self) -> dict[str, list[Task]]:
        grouped: dict[str, list[Task]] = defaultdict(list)
        for task in self.tasks:
            if task.node_id:
                grouped[task.node_id].append(task)
        return grouped

    @cached_property
    def running(self) -> int:
        """Tasks running now, whatever their desired state."""
        return countOf(map(_state, self.tasks), TaskState.RUNNING)

    @cached_property
    def running_by_node(self) -> Counter[str]:
        return Counter(
            t.node_id
            for t in self.tasks
            if t.status.state == TaskState.RUNNING and t.desired_state == TaskState.RUNNING
        )

    def index(self) -> Snapshot:
        """Builds the lookups every view uses now, so that a feed can build them off the UI's
        event loop, before it hands the snapshot over; returns the snapshot."""
        for name in _INDEXES:
            getattr(self, name)
        return self

    def hostname(self, node_id: str) -> str:
        node = self.node_by_id.get(node_id)
        if node is None:
            return node_id[:12]
        return node.hostname or node_id[:12]

    def service_name(self, service_id: str) -> str:
        service = self.service_by_id.get(service_id)
        return (service.spec.name if service else None) or service_id[:12]


_INDEXES = [name for name, value in vars(Snapshot).items() if isinstance(value, cached_property)]
