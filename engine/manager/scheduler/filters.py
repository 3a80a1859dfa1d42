"""The filter pipeline, in SwarmKit's order. Each filter counts the nodes it turns away so the
pipeline can explain a pending task: ``no suitable node (insufficient resources on 2 nodes)``.
"""

from __future__ import annotations

from engine.api.objects import Task
from engine.api.specs import Platform
from engine.api.types import Availability, NodeState
from engine.manager import constraint
from engine.manager.scheduler.nodeinfo import NodeInfo

__all__ = ["Pipeline", "Requirements"]


class Requirements:
    """What a group of identical tasks asks of a node, worked out once per group."""

    __slots__ = (
        "constraints",
        "cpus",
        "host_ports",
        "max_replicas",
        "memory",
        "platforms",
        "service_id",
    )

    def __init__(self, task: Task, host_ports: tuple[tuple[int, str], ...]) -> None:
        spec = task.spec
        reservations = spec.resources.reservations if spec.resources else None
        self.service_id = task.service_id
        self.cpus = (reservations.nano_cpus or 0) if reservations else 0
        self.memory = (reservations.memory_bytes or 0) if reservations else 0
        placement = spec.placement
        self.constraints = constraint.parse(placement.constraints if placement else None)
        self.platforms: list[Platform] = list((placement.platforms if placement else None) or ())
        self.max_replicas = (placement.max_replicas or 0) if placement else 0
        self.host_ports = host_ports


def _plural(count: int, what: str) -> str:
    return f"{what} on 1 node" if count == 1 else f"{what} on {count} nodes"


class Filter:
    name = ""

    def enabled(self, needs: Requirements) -> bool:
        return True

    def check(self, needs: Requirements, info: NodeInfo) -> bool:
        raise NotImplementedError

    def explain(self, count: int) -> str:
        raise NotImplementedError


class ReadyFilter(Filter):
    def check(self, needs: Requirements, info: NodeInfo) -> bool:
        node = info.node
        return node.status.state == NodeState.READY and (
            node.spec.availability in (None, Availability.ACTIVE)
        )

    def explain(self, count: int) -> str:
        if count == 1:
            return "1 node not available for new tasks"
        return f"{count} nodes not available for new tasks"


class ResourceFilter(Filter):
    def enabled(self, needs: Requirements) -> bool:
        return needs.cpus > 0 or needs.memory > 0

    def check(self, needs: Requirements, info: NodeInfo) -> bool:
        return needs.cpus <= info.available_cpus and needs.memory <= info.available_memory

    def explain(self, count: int) -> str:
        return _plural(count, "insufficient resources")


class ConstraintFilter(Filter):
    def enabled(self, needs: Requirements) -> bool:
        return bool(needs.constraints)

    def check(self, needs: Requirements, info: NodeInfo) -> bool:
        return constraint.node_matches(needs.constraints, info.node)

    def explain(self, count: int) -> str:
        return _plural(count, "scheduling constraints not satisfied")


_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64"}


class PlatformFilter(Filter):
    def enabled(self, needs: Requirements) -> bool:
        return bool(needs.platforms)

    def check(self, needs: Requirements, info: NodeInfo) -> bool:
        description = info.node.description
        platform = description.platform if description else None
        node_os = ((platform.os if platform else None) or "").lower()
        node_arch = ((platform.architecture if platform else None) or "").lower()
        node_arch = _ARCH_ALIASES.get(node_arch, node_arch)
        for wanted in needs.platforms:
            arch = (wanted.architecture or "").lower()
            arch = _ARCH_ALIASES.get(arch, arch)
            if (not arch or arch == node_arch) and (not wanted.os or wanted.os.lower() == node_os):
                return True
        return False

    def explain(self, count: int) -> str:
        return _plural(count, "unsupported platform")


class HostPortFilter(Filter):
    def enabled(self, needs: Requirements) -> bool:
        return bool(needs.host_ports)

    def check(self, needs: Requirements, info: NodeInfo) -> bool:
        return not any(info.host_ports[port] > 0 for port in needs.host_ports)

    def explain(self, count: int) -> str:
        return _plural(count, "host-mode port already in use")


class MaxReplicasFilter(Filter):
    def enabled(self, needs: Requirements) -> bool:
        return needs.max_replicas > 0

    def check(self, needs: Requirements, info: NodeInfo) -> bool:
        return info.active_by_service[needs.service_id] < needs.max_replicas

    def explain(self, count: int) -> str:
        return "max replicas per node limit exceed"


_FILTERS: tuple[Filter, ...] = (
    ReadyFilter(),
    ResourceFilter(),
    ConstraintFilter(),
    PlatformFilter(),
    HostPortFilter(),
    MaxReplicasFilter(),
)


class Pipeline:
    """Runs the enabled filters on nodes for one group of tasks, counting each filter's refusals."""

    def __init__(self, needs: Requirements) -> None:
        self.needs = needs
        self._filters = [f for f in _FILTERS if f.enabled(needs)]
        self._failures = [0] * len(self._filters)

    def process(self, info: NodeInfo) -> bool:
        needs = self.needs
        for position, check in enumerate(self._filters):
            if not check.check(needs, info):
                self._failures[position] += 1
                return False
        return True

    def explain(self) -> str:
        """The refusals, most common first, joined by "; " (SwarmKit's Pipeline.Explain)."""
        counted = sorted(
            ((count, position) for position, count in enumerate(self._failures) if count),
            key=lambda entry: -entry[0],
        )
        return "; ".join(self._filters[position].explain(count) for count, position in counted)
