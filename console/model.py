"""What the console knows of a cluster at one moment: an immutable snapshot."""

from __future__ import annotations

import weakref
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter

from engine.api.networks import NetworkResource
from engine.api.objects import Cluster, Config, Node, Secret, Service, Task
from engine.api.types import TaskState
from engine.stacks import stack_of

__all__ = [
    "FAILED",
    "FAILING",
    "HOUR",
    "ChangeSet",
    "Changes",
    "Snapshot",
    "StackParts",
    "UsageStep",
    "changes_between",
    "since",
    "task_reservation",
    "usage_step",
]

_state = attrgetter("status.state")
HOUR = 3600.0  # seconds over which restarts are counted
# Seconds since a service's last failed task during which it is failing, not healthy: a
# crash loop fails more often than that, and one failure shows for a while.
FAILING = 300.0
FAILED = frozenset((TaskState.FAILED, TaskState.REJECTED))  # a task that failed, or never could run

# CPU cores and memory bytes of each node (under "node") and service ("service") over one poll
UsageStep = dict[str, dict[str, tuple[float, float]]]


@dataclass(frozen=True)
class StackParts:
    """What belongs to one stack (by the namespace label docker stack deploy puts on it)."""

    services: tuple[Service, ...] = ()
    networks: tuple[NetworkResource, ...] = ()
    secrets: tuple[Secret, ...] = ()
    configs: tuple[Config, ...] = ()


@dataclass(frozen=True, eq=False)  # one snapshot is another only if it is the same
class Snapshot:
    """Nodes, services, tasks, networks, secrets (never their data) and configs as one poll
    saw them, and when (``now``, Unix time)."""

    nodes: tuple[Node, ...] = ()
    services: tuple[Service, ...] = ()
    tasks: tuple[Task, ...] = ()
    now: float = 0.0
    usage: dict[str, tuple[float, int]] = field(default_factory=dict)  # task id -> cpu s, mem
    usage_note: str = ""  # what usage could not be read, and why
    usage_steps: tuple[UsageStep, ...] = ()  # the last polls' usage, oldest first
    swarm: Cluster | None = None  # None where the endpoint does not say (not a manager)
    # Tasks seen failed (or rejected) in the last hour, by task ID: their service's ID and
    # when. The feed keeps them from poll to poll: an endpoint keeps only a few tasks a slot.
    failures: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    networks: tuple[NetworkResource, ...] = ()
    secrets: tuple[Secret, ...] = ()
    configs: tuple[Config, ...] = ()
    # Connections the routing mesh gave each task (by ID) in the last minute; None where the
    # endpoint does not count them (a Docker swarm's mesh does not).
    connections: Mapping[str, int] | None = None

    @cached_property
    def stacks(self) -> dict[str, StackParts]:
        """Each stack's objects, by its name."""
        parts: dict[str, dict[str, list[object]]] = defaultdict(lambda: defaultdict(list))
        for kind, objects, labels in (
            ("services", self.services, lambda o: o.spec.labels),
            ("networks", self.networks, lambda o: o.labels),
            ("secrets", self.secrets, lambda o: o.spec.labels),
            ("configs", self.configs, lambda o: o.spec.labels),
        ):
            for obj in objects:
                name = stack_of(labels(obj))
                if name:
                    parts[name][kind].append(obj)
        return {
            name: StackParts(**{kind: tuple(found) for kind, found in kinds.items()})  # type: ignore[arg-type]
            for name, kinds in sorted(parts.items())
        }

    @cached_property
    def network_by_id(self) -> dict[str, NetworkResource]:
        return {network.id: network for network in self.networks}

    @cached_property
    def users(self) -> dict[str, list[str]]:
        """The services (by name) that use each secret, config and network, by its ID (a
        network: those attached to it, or with a VIP on it, as ingress)."""
        found: dict[str, set[str]] = defaultdict(set)
        for service in self.services:
            name = self.service_name(service.id)
            template = service.spec.task_template
            container = template.container_spec if template else None
            for secret in (container.secrets if container else None) or ():
                found[secret.secret_id or ""].add(name)
            for config in (container.configs if container else None) or ():
                found[config.config_id or ""].add(name)
            for attached in (template.networks if template else None) or ():
                found[attached.target or ""].add(name)
            for vip in (service.endpoint.virtual_ips if service.endpoint else None) or ():
                found[vip.network_id or ""].add(name)
        return {key: sorted(names) for key, names in found.items()}

    @cached_property
    def tasks_by_network(self) -> dict[str, list[Task]]:
        """The tasks that run, or are on their way to running, with an address on each network."""
        grouped: dict[str, list[Task]] = defaultdict(list)
        for task in self.tasks:
            if not _wanted(task):
                continue
            for attachment in task.networks_attachments or ():
                if attachment.network is not None:
                    grouped[attachment.network.id].append(task)
        return grouped

    @cached_property
    def node_by_id(self) -> dict[str, Node]:
        return {node.id: node for node in self.nodes}

    @cached_property
    def service_by_id(self) -> dict[str, Service]:
        return {service.id: service for service in self.services}

    @cached_property
    def task_by_id(self) -> dict[str, Task]:
        return {task.id: task for task in self.tasks}

    @cached_property
    def names(self) -> dict[str, str]:
        """The name of each service and the hostname of each node, by ID (as shown: an ID's
        first 12 characters where there is no name)."""
        names = {service.id: self.service_name(service.id) for service in self.services}
        names.update((node.id, self.hostname(node.id)) for node in self.nodes)
        return names

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
    def tasks_by_state(self) -> Counter[TaskState]:
        return Counter(map(_state, self.tasks))

    @cached_property
    def running(self) -> int:
        """Tasks running now, whatever their desired state."""
        return self.tasks_by_state[TaskState.RUNNING]

    @cached_property
    def reserved_by_node(self) -> dict[str, tuple[int, int]]:
        """CPU (nano CPUs) and memory (bytes) reserved on each node by the tasks assigned to it
        that run there or are on their way to running (as the scheduler counts them)."""
        reserved: dict[str, tuple[int, int]] = {}
        for task in self.tasks:
            reservation = task_reservation(task)
            if reservation is not None and task.node_id and _wanted(task):
                cpu, memory = reserved.get(task.node_id, (0, 0))
                reserved[task.node_id] = (cpu + reservation[0], memory + reservation[1])
        return reserved

    @cached_property
    def pending(self) -> tuple[int, int, int]:
        """Tasks that want to run but are on no node yet, and the CPU (nano CPUs) and memory
        (bytes) they ask for: demand the nodes do not hold."""
        count = cpu = memory = 0
        for task in self.tasks:
            if not task.node_id and _wanted(task):
                count += 1
                asked = task_reservation(task) or (0, 0)
                cpu, memory = cpu + asked[0], memory + asked[1]
        return count, cpu, memory

    @cached_property
    def memory_by_node(self) -> dict[str, int]:
        """Memory in use on each node by its tasks, where usage is known."""
        used: dict[str, int] = defaultdict(int)
        if self.usage:
            for task in self.tasks:
                sample = self.usage.get(task.id)
                if sample is not None:
                    used[task.node_id] += sample[1]
        return used

    @cached_property
    def usage_total(self) -> tuple[float, int]:
        """CPU seconds and memory bytes of every task whose usage is known."""
        return (
            sum(cpu for cpu, _ in self.usage.values()),
            sum(memory for _, memory in self.usage.values()),
        )

    @cached_property
    def restarts_by_service(self) -> Counter[str]:
        """Tasks of each service (by ID) that failed in the last hour, and so were replaced."""
        return Counter(
            service for service, when in self.failures.values() if when >= self.now - HOUR
        )

    @cached_property
    def last_errors(self) -> dict[str, str]:
        """The error of each service's latest failed (or rejected) task the endpoint keeps."""
        latest: dict[str, tuple[str, str]] = {}
        for task in self.tasks:
            if task.status.state in FAILED:
                stamp = task.status.timestamp or ""
                if stamp >= latest.get(task.service_id, ("", ""))[0]:
                    latest[task.service_id] = (stamp, task.status.err or "")
        return {service: error for service, (_, error) in latest.items()}

    @cached_property
    def failing_services(self) -> dict[str, float]:
        """Services (by ID) whose tasks keep failing: the time of the last failure, for those
        with one in the last ``FAILING`` seconds."""
        failing: dict[str, float] = {}
        for service, when in self.failures.values():
            if when >= self.now - FAILING and when > failing.get(service, 0.0):
                failing[service] = when
        return failing

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


def _wanted(task: Task) -> bool:
    """A task that runs, or is on its way to running."""
    return task.desired_state <= TaskState.RUNNING and task.status.state <= TaskState.RUNNING


def task_reservation(task: Task) -> tuple[int, int] | None:
    """The CPU (nano CPUs) and memory (bytes) a task reserves; None when it reserves none."""
    resources = task.spec.resources
    reservation = resources.reservations if resources else None
    if reservation is None:
        return None
    return reservation.nano_cpus or 0, reservation.memory_bytes or 0


def usage_step(before: Snapshot, after: Snapshot) -> UsageStep:
    """CPU cores (from the growth of each task's CPU seconds) and memory bytes, per node and
    per service, from ``before`` to ``after``."""
    sums: UsageStep = {"node": {}, "service": {}}
    if not after.usage:
        return sums
    elapsed = max(after.now - before.now, 1e-6)
    for task in after.tasks:
        sample = after.usage.get(task.id)
        if sample is None:
            continue
        cpu_seconds, memory = sample
        previous = before.usage.get(task.id)
        cpu = max(0.0, cpu_seconds - previous[0]) / elapsed if previous is not None else 0.0
        for group, key in (("node", task.node_id), ("service", task.service_id)):
            total_cpu, total_memory = sums[group].get(key, (0.0, 0.0))
            sums[group][key] = (total_cpu + cpu, total_memory + memory)
    return sums


@dataclass(frozen=True, slots=True)
class Changes:
    """What became of one kind of object (nodes, services or tasks) from one snapshot to the
    next, by ID. An object is changed when it is not the very object it was: the client keeps
    the object of an element whose answer did not change (``engine.client.ListDecoder``)."""

    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    changed: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """What changed from ``before`` to the snapshot it comes with; computed once, by the feed,
    for every view to use."""

    since: Since
    nodes: Changes
    services: Changes
    tasks: Changes

    @property
    def before(self) -> Snapshot | None:
        """The snapshot before, while anyone holds it (a view that drew it does); None when
        nothing came before, or it is gone."""
        return self.since() if self.since is not None else None


# The snapshot before, by a weak reference: what a view keeps of a change set must not keep
# the snapshot before alive, or the UI's thread would be the one to free it (see rowcache).
Since = Callable[[], "Snapshot | None"] | None


def since(snapshot: Snapshot | None) -> Since:
    return weakref.ref(snapshot) if snapshot is not None else None


def changes_between(before: Snapshot | None, after: Snapshot) -> ChangeSet:
    """The change set from ``before`` to ``after``."""
    return ChangeSet(
        since(before),
        _changes(before.nodes if before else (), after.nodes),
        _changes(before.services if before else (), after.services),
        _changes(before.tasks if before else (), after.tasks),
    )


def _changes(
    before: Sequence[Node | Service | Task], after: Sequence[Node | Service | Task]
) -> Changes:
    old = {obj.id: obj for obj in before}
    added, changed = [], []
    for obj in after:
        known = old.pop(obj.id, None)
        if known is None:
            added.append(obj.id)
        elif known is not obj:
            changed.append(obj.id)
    return Changes(frozenset(added), frozenset(old), frozenset(changed))
