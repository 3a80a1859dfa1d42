"""The platform and host-port filters: the nodes they turn away, and what a waiting task says."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from msgspec.structs import replace

from engine.agent.agent import Agent
from engine.agent.exec.sim import SimExecutor
from engine.api.specs import EndpointSpec, Placement, Platform, PortConfig, ServiceSpec
from engine.api.types import TaskState
from engine.manager.controlapi import NodeResources
from tests.conftest import Sim, make_spec


@contextlib.asynccontextmanager
async def joined(sim: Sim, hostname: str, resources: NodeResources) -> AsyncIterator[None]:
    """A node that describes itself by ``resources`` joins and runs its agent while the block
    runs: the cluster's own nodes all share one description."""
    node = sim.control.join_node(hostname, resources=resources, addr="10.0.0.99")
    assert node.description is not None
    agent = Agent(
        node.id,
        node.description,
        "10.0.0.99",
        sim.cluster.manager.dispatcher,
        SimExecutor(hostname, 7, sim.clock),
        sim.clock,
    )
    runner = asyncio.create_task(agent.run())
    try:
        await sim.until(lambda: sim.node(hostname).status.state.value == "ready", what="joined")
        yield
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


def on_platforms(spec: ServiceSpec, *platforms: tuple[str | None, str | None]) -> ServiceSpec:
    """``spec`` with Placement.Platforms, given as (os, architecture) pairs."""
    template = spec.task_template
    assert template is not None
    placement = replace(
        template.placement or Placement(),
        platforms=[Platform(os=os, architecture=arch) for os, arch in platforms],
    )
    return replace(spec, task_template=replace(template, placement=placement))


def publishing(spec: ServiceSpec, *ports: PortConfig) -> ServiceSpec:
    return replace(spec, endpoint_spec=EndpointSpec(ports=list(ports)))


def host_port(published: int, protocol: str = "tcp") -> PortConfig:
    return PortConfig(
        target_port=80, published_port=published, protocol=protocol, publish_mode="host"
    )


def pending(sim: Sim, service: str) -> list[str | None]:
    """The errors of the service's tasks still waiting for a node."""
    return [t.status.err for t in sim.tasks(service) if t.status.state == TaskState.PENDING]


def hosts(sim: Sim, service: str) -> set[str]:
    return {host for host, count in sim.per_node(service).items() if count}


ARM = NodeResources(architecture="aarch64")  # as `uname -m` names it on an arm64 machine


async def test_a_platform_no_node_has_leaves_the_task_pending_until_one_joins(sim: Sim) -> None:
    sim.control.create_service(on_platforms(make_spec(), ("linux", "arm64")))
    await sim.advance(10)
    assert pending(sim, "web") == ["no suitable node (unsupported platform on 3 nodes)"]
    # aarch64 and arm64 are one architecture: the task goes to the node that joins.
    async with joined(sim, "swarm-arm-1", ARM):
        await sim.converge("web", 1)
        assert hosts(sim, "web") == {"swarm-arm-1"}


async def test_tasks_land_only_on_nodes_of_a_listed_platform(sim: Sim) -> None:
    async with joined(sim, "swarm-arm-1", ARM):
        # x86_64 is amd64: the three nodes of the demo cluster, never the arm one.
        sim.control.create_service(on_platforms(make_spec(replicas=6), ("linux", "amd64")))
        await sim.converge("web", 6)
        assert sim.per_node("web") == {
            "swarm-arm-1": 0,
            "swarm-master": 2,
            "swarm-node-1": 2,
            "swarm-node-2": 2,
        }
        # Any listed platform will do; an OS without an architecture takes every arch.
        sim.control.create_service(
            on_platforms(
                make_spec(name="arm", replicas=2), ("windows", "amd64"), ("linux", "aarch64")
            )
        )
        sim.control.create_service(on_platforms(make_spec(name="any", replicas=4), ("linux", None)))
        await sim.converge("arm", 2)
        await sim.converge("any", 4)
        assert hosts(sim, "arm") == {"swarm-arm-1"}
        assert sim.per_node("any") == {
            "swarm-arm-1": 1,
            "swarm-master": 1,
            "swarm-node-1": 1,
            "swarm-node-2": 1,
        }
        # An OS no node runs fits nowhere.
        sim.control.create_service(
            on_platforms(make_spec(name="win", replicas=1), ("windows", None))
        )
        await sim.advance(10)
        assert pending(sim, "win") == ["no suitable node (unsupported platform on 4 nodes)"]


async def test_the_reasons_are_listed_most_common_first(sim: Sim) -> None:
    # The manager fails the constraint first; the two workers then fail the platform.
    spec = on_platforms(make_spec(constraints=["node.role==worker"]), ("linux", "arm64"))
    sim.control.create_service(spec)
    await sim.advance(10)
    assert pending(sim, "web") == [
        "no suitable node (unsupported platform on 2 nodes; "
        "scheduling constraints not satisfied on 1 node)"
    ]


async def test_replicas_publishing_a_host_port_never_share_a_node(sim: Sim) -> None:
    sim.control.create_service(publishing(make_spec(replicas=4), host_port(8080)))
    await sim.converge("web", 3)
    await sim.advance(10)
    assert sim.per_node("web") == {"swarm-master": 1, "swarm-node-1": 1, "swarm-node-2": 1}
    assert pending(sim, "web") == ["no suitable node (host-mode port already in use on 3 nodes)"]
    # A node with the port free takes the fourth.
    sim.cluster.add_node("swarm-node-3")
    await sim.converge("web", 4)
    assert sim.per_node("web")["swarm-node-3"] == 1


async def test_services_publishing_the_same_host_port_share_no_node(sim: Sim) -> None:
    sim.control.create_service(publishing(make_spec(name="a", replicas=2), host_port(8080)))
    await sim.converge("a", 2)
    sim.control.create_service(publishing(make_spec(name="b", replicas=2), host_port(8080)))
    await sim.converge("b", 1)
    await sim.advance(10)
    assert hosts(sim, "a").isdisjoint(hosts(sim, "b"))
    assert pending(sim, "b") == ["no suitable node (host-mode port already in use on 3 nodes)"]
    # Removing the first service frees its nodes' port, and b's second task is placed.
    sim.control.remove_service("a")
    await sim.converge("b", 2)
    assert len(hosts(sim, "b")) == 2


async def test_the_same_number_over_another_protocol_is_another_port(sim: Sim) -> None:
    sim.control.create_service(publishing(make_spec(name="tcp", replicas=3), host_port(53)))
    await sim.converge("tcp", 3)
    sim.control.create_service(
        publishing(make_spec(name="udp", replicas=3), host_port(53, protocol="udp"))
    )
    await sim.converge("udp", 3)
    assert sim.per_node("udp") == {"swarm-master": 1, "swarm-node-1": 1, "swarm-node-2": 1}


async def test_an_ingress_port_does_not_tie_tasks_to_nodes(sim: Sim) -> None:
    ingress = PortConfig(target_port=80, published_port=8080, publish_mode="ingress")
    sim.control.create_service(publishing(make_spec(replicas=5), ingress))
    await sim.converge("web", 5)
    assert sorted(sim.per_node("web").values()) == [1, 2, 2]


async def test_a_global_task_whose_node_has_the_port_taken_waits_and_says_why(sim: Sim) -> None:
    only_node_1 = make_spec(name="holder", constraints=["node.hostname==swarm-node-1"])
    sim.control.create_service(publishing(only_node_1, host_port(8080)))
    await sim.converge("holder", 1)
    sim.control.create_service(publishing(make_spec(name="agent", mode="global"), host_port(8080)))
    await sim.converge("agent", 2)
    await sim.advance(10)
    assert hosts(sim, "agent") == {"swarm-master", "swarm-node-2"}
    (waiting,) = [t for t in sim.tasks("agent") if t.status.state == TaskState.PENDING]
    assert sim.hostname(waiting.node_id) == "swarm-node-1"
    # A global task's node is set: SwarmKit gives the reason alone, with no "no suitable node".
    assert waiting.status.err == "host-mode port already in use on 1 node"
    sim.control.remove_service("holder")
    await sim.converge("agent", 3)
    assert sim.per_node("agent")["swarm-node-1"] == 1
