"""Builders and fixtures shared by every test: specs by keyword, a cluster on a fake clock."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Callable

import pytest

from engine.api.durations import SECOND
from engine.api.objects import Node, Task
from engine.api.specs import (
    ContainerSpec,
    GlobalService,
    Placement,
    PlacementPreference,
    ReplicatedService,
    ResourceObject,
    ResourceRequirements,
    RestartCondition,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    SpreadOver,
    TaskSpec,
)
from engine.api.types import TaskState
from engine.clock import FakeClock
from engine.embedded import EmbeddedCluster
from engine.manager.controlapi import NodeResources


def make_spec(
    name: str = "web",
    replicas: int | None = 1,
    image: str = "nginx:1.10",
    mode: str = "replicated",
    constraints: list[str] | None = None,
    spread: list[str] | None = None,
    max_replicas: int | None = None,
    cpus: float | None = None,
    memory: int | None = None,
    labels: dict[str, str] | None = None,
    restart: RestartCondition | None = None,
    restart_delay: float | None = None,
    max_attempts: int | None = None,
    window: float | None = None,
) -> ServiceSpec:
    """A service spec; only what a test names differs from a plain one-replica nginx."""
    if mode == "global":
        service_mode = ServiceMode(global_=GlobalService())
    else:
        service_mode = ServiceMode(replicated=ReplicatedService(replicas=replicas))
    placement = None
    if constraints or spread or max_replicas:
        placement = Placement(
            constraints=constraints,
            preferences=[
                PlacementPreference(spread=SpreadOver(spread_descriptor=d)) for d in spread
            ]
            if spread
            else None,
            max_replicas=max_replicas,
        )
    resources = None
    if cpus is not None or memory is not None:
        resources = ResourceRequirements(
            reservations=ResourceObject(
                nano_cpus=int(cpus * SECOND) if cpus else None, memory_bytes=memory
            )
        )
    policy = None
    if any(v is not None for v in (restart, restart_delay, max_attempts, window)):
        policy = RestartPolicy(
            condition=restart,
            delay=int(restart_delay * SECOND) if restart_delay is not None else None,
            max_attempts=max_attempts,
            window=int(window * SECOND) if window is not None else None,
        )
    return ServiceSpec(
        name=name,
        mode=service_mode,
        task_template=TaskSpec(
            container_spec=ContainerSpec(image=image, labels=labels),
            placement=placement,
            resources=resources,
            restart_policy=policy,
        ),
    )


class Sim:
    """A cluster on a fake clock, with the questions tests ask of it."""

    def __init__(self, cluster: EmbeddedCluster, clock: FakeClock) -> None:
        self.cluster = cluster
        self.clock = clock
        self.control = cluster.control

    def tasks(self, service: str | None = None) -> list[Task]:
        service_id = self.control.get_service(service).id if service else None
        return sorted(self.control.list_tasks(service_id), key=lambda t: (t.slot, t.id))

    def running(self, service: str | None = None) -> list[Task]:
        return [t for t in self.tasks(service) if t.status.state == TaskState.RUNNING]

    def node(self, hostname: str) -> Node:
        return self.control.get_node(hostname)

    def hostname(self, node_id: str) -> str:
        node = self.control.get_node(node_id)
        return node.description.hostname if node.description else node_id

    def per_node(self, service: str | None = None) -> dict[str, int]:
        """Running tasks that are meant to run, per hostname, including nodes with none."""
        counts = collections.Counter(
            self.hostname(t.node_id)
            for t in self.running(service)
            if t.desired_state == TaskState.RUNNING
        )
        for node in self.control.list_nodes():
            counts.setdefault(node.description.hostname if node.description else node.id, 0)
        return dict(sorted(counts.items()))

    async def until(
        self, condition: Callable[[], bool], timeout: float = 120.0, what: str = "condition"
    ) -> float:
        return await self.clock.run_until(condition, timeout, what)

    async def converge(self, service: str, count: int, timeout: float = 120.0) -> float:
        """Runs until ``service`` has exactly ``count`` running tasks meant to run."""

        def done() -> bool:
            running = [t for t in self.running(service) if t.desired_state == TaskState.RUNNING]
            return len(running) == count

        return await self.until(done, timeout, f"{count} running tasks of {service}")

    async def advance(self, seconds: float) -> None:
        await self.clock.advance(seconds)

    def update_node(self, hostname: str, **changes: object) -> Node:
        from msgspec.structs import replace

        node = self.node(hostname)
        return self.control.update_node(node.id, node.version.index, replace(node.spec, **changes))

    def scale(self, service: str, replicas: int) -> None:
        from msgspec.structs import replace

        current = self.control.get_service(service)
        mode = ServiceMode(replicated=ReplicatedService(replicas=replicas))
        self.control.update_service(
            current.id, current.version.index, replace(current.spec, mode=mode)
        )


async def start_sim(
    nodes: int = 3,
    data_dir: str | None = None,
    resources: NodeResources | None = None,
    heartbeat: float = 5.0,
    seed: int = 7,
    clock: FakeClock | None = None,
) -> Sim:
    clock = clock or FakeClock()
    cluster = EmbeddedCluster(
        nodes=nodes,
        data_dir=data_dir,
        clock=clock,
        seed=seed,
        heartbeat_period=heartbeat,
        heartbeat_epsilon=0.0,
        node_resources=resources,
    )
    await cluster.start()
    sim = Sim(cluster, clock)
    await sim.until(
        lambda: all(n.status.state.value == "ready" for n in sim.control.list_nodes()),
        what="nodes ready",
    )
    return sim


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    """The DockerCon demo cluster (3 nodes) on a fake clock, exact heartbeats."""
    simulation = await start_sim()
    yield simulation
    await simulation.cluster.stop()


def update_spec(sim: Sim, service: str, **changes: object) -> None:
    """Updates the service's spec: ``image``, ``labels``, ``update`` (an UpdateConfig),
    ``rollback`` (a RollbackConfig), ``force`` (bump ForceUpdate), ``health`` (a HealthConfig).
    """
    from msgspec.structs import replace

    current = sim.control.get_service(service)
    spec = current.spec
    template = spec.task_template
    assert template is not None and template.container_spec is not None
    container = template.container_spec
    if "image" in changes:
        container = replace(container, image=changes["image"])
    if "labels" in changes:
        container = replace(container, labels=changes["labels"])
    if "health" in changes:
        container = replace(container, healthcheck=changes["health"])
    template = replace(template, container_spec=container)
    if changes.get("force"):
        template = replace(template, force_update=(template.force_update or 0) + 1)
    spec = replace(spec, task_template=template)
    if "update" in changes:
        spec = replace(spec, update_config=changes["update"])
    if "rollback" in changes:
        spec = replace(spec, rollback_config=changes["rollback"])
    sim.control.update_service(current.id, current.version.index, spec)


def image_of(task: Task) -> str:
    container = task.spec.container_spec
    return (container.image if container else None) or ""
