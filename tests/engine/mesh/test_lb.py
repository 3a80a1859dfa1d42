"""What a load balancer is told about the swarm, and the runner that hands it every change.

``dockerd/`` (beside the API tests) holds what a real Docker Engine answered for a swarm whose
service ``web`` publishes 8080 and is half-way through a rolling update.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from engine.api.codec import decode, encode
from engine.api.networks import NetworkSpec
from engine.api.objects import (
    Endpoint,
    Network,
    NetworkAttachment,
    Node,
    NodeStatus,
    Service,
    Task,
    TaskStatus,
)
from engine.api.specs import NodeSpec, PortConfig, ServiceSpec
from engine.api.types import Availability, NodeState, TaskState
from engine.mesh.lb import (
    Endpoints,
    LoadBalancerSync,
    PortEndpoints,
    ServiceEndpoints,
    TaskEndpoint,
    build_endpoints,
)
from tests.engine.mesh.conftest import eventually

DOCKERD = Path(__file__).parents[1] / "api" / "dockerd"


def make_node(
    node_id: str,
    addr: str,
    state: NodeState = NodeState.READY,
    availability: Availability = Availability.ACTIVE,
) -> Node:
    return Node(
        id=node_id,
        spec=NodeSpec(availability=availability),
        status=NodeStatus(state=state, addr=addr),
    )


def attachment(
    addresses: Sequence[str], name: str = "ingress", net_id: str = ""
) -> NetworkAttachment:
    """A task's NetworksAttachments entry."""
    network = Network(id=net_id or f"{name}-id", spec=NetworkSpec(name=name))
    return NetworkAttachment(network=network, addresses=list(addresses))


def make_task(
    task_id: str,
    node_id: str = "n1",
    addr: str | None = "10.0.0.5/24",
    *,
    service_id: str = "s-web",
    state: TaskState = TaskState.RUNNING,
    desired: TaskState = TaskState.RUNNING,
    attachments: Any = None,
    host_ports: Sequence[tuple[int, int]] = (),
) -> Task:
    """A task of ``service_id``; ``host_ports`` are (target, published) ports it published."""
    if attachments is None:
        attachments = [attachment([addr])] if addr else None
    ports = [
        {"Protocol": "tcp", "TargetPort": t, "PublishedPort": p, "PublishMode": "host"}
        for t, p in host_ports
    ]
    return Task(
        id=task_id,
        service_id=service_id,
        node_id=node_id,
        desired_state=desired,
        status=TaskStatus(state=state, port_status={"Ports": ports} if ports else {}),
        networks_attachments=attachments,
    )


def port(
    published: int, target: int = 80, mode: str = "ingress", protocol: str = "tcp"
) -> PortConfig:
    return PortConfig(
        protocol=protocol, target_port=target, published_port=published, publish_mode=mode
    )


def make_service(
    service_id: str = "s-web", name: str = "web", ports: Sequence[PortConfig] = (port(8080),)
) -> Service:
    """A service whose ports the manager allocated (they are in ``Endpoint.Ports``)."""
    return Service(
        id=service_id,
        spec=ServiceSpec(name=name),
        endpoint=Endpoint(ports=list(ports)) if ports else None,
    )


NODES = [
    make_node("n1", "127.0.1.1"),
    make_node("n2", "127.0.1.2", availability=Availability.DRAIN),
    make_node("n3", "127.0.1.3", state=NodeState.DOWN),
]


def the_port(endpoints: Endpoints) -> PortEndpoints:
    """The one port of the one service described."""
    [service] = endpoints.services
    [published] = service.ports
    return published


def test_an_ingress_port_answers_on_every_ready_node_and_reaches_its_running_tasks() -> None:
    tasks = [
        make_task("t1", "n1", "10.0.0.5/24"),
        make_task("t2", "n2", "10.0.0.6/24"),  # a drained node's task is being moved, still up
        make_task("t3", "n3", "10.0.0.7/24"),  # on a down node: out at once
        make_task("t4", "n1", "10.0.0.8/24", desired=TaskState.SHUTDOWN),  # being stopped
        make_task("t5", "n1", "10.0.0.9/24", state=TaskState.STARTING),  # not healthy yet
        make_task("t6", "n1", "10.0.0.10/24", state=TaskState.FAILED),
        make_task("t7", "n1", None),  # no address: nothing to reach
        make_task("t8", "n9", "10.0.0.11/24"),  # on a node the swarm does not know
        make_task("o1", "n1", "10.0.0.12/24", service_id="s-other"),  # another service's
    ]
    assert build_endpoints([make_service()], tasks, NODES) == Endpoints(
        services=(
            ServiceEndpoints(
                id="s-web",
                name="web",
                ports=(
                    PortEndpoints(
                        published_port=8080,
                        target_port=80,
                        protocol="tcp",
                        publish_mode="ingress",
                        node_addrs=("127.0.1.1", "127.0.1.2"),
                        tasks=(
                            TaskEndpoint(task_id="t1", node_id="n1", addr="10.0.0.5", port=80),
                            TaskEndpoint(task_id="t2", node_id="n2", addr="10.0.0.6", port=80),
                        ),
                    ),
                ),
            ),
        )
    )


def test_a_task_address_comes_from_the_network_asked_for() -> None:
    task = make_task(
        "t1",
        attachments=[
            attachment(["10.0.0.5/24"]),
            attachment(["10.0.1.5/24"], name="backend", net_id="b-id"),
        ],
    )
    first, by_name, by_id, absent = (
        build_endpoints([make_service()], [task], NODES, network=network)
        for network in (None, "backend", "b-id", "elsewhere")
    )
    assert [the_port(e).tasks[0].addr for e in (first, by_name, by_id)] == [
        "10.0.0.5",
        "10.0.1.5",
        "10.0.1.5",
    ]
    assert the_port(absent).tasks == ()


@pytest.mark.parametrize("addresses", [[], ["not an address"], ["10.0.0.5/33"]])
def test_attachments_without_a_usable_address_leave_the_task_out(addresses: list[str]) -> None:
    task = make_task("t1", attachments=[attachment(addresses)])
    assert the_port(build_endpoints([make_service()], [task], NODES)).tasks == ()


def test_a_host_mode_port_is_answered_by_the_nodes_of_its_tasks_at_the_ports_they_published() -> (
    None
):
    nodes = [*NODES, make_node("n4", "127.0.1.4")]
    tasks = [
        make_task("t1", "n1", host_ports=[(80, 8080)]),
        make_task("t2", "n4"),  # reported no port yet: the spec's port is the one it binds
        make_task("t3", "n3", host_ports=[(80, 8080)]),  # node down
    ]
    service = make_service(ports=[port(8080, mode="host")])
    assert the_port(build_endpoints([service], tasks, nodes)) == PortEndpoints(
        published_port=8080,
        target_port=80,
        protocol="tcp",
        publish_mode="host",
        node_addrs=("127.0.1.1", "127.0.1.4"),
        tasks=(
            TaskEndpoint(task_id="t1", node_id="n1", addr="127.0.1.1", port=8080),
            TaskEndpoint(task_id="t2", node_id="n4", addr="127.0.1.4", port=8080),
        ),
    )


def test_a_host_mode_port_published_without_a_number_has_each_tasks_own_port() -> None:
    tasks = [
        make_task("t1", "n1", host_ports=[(80, 30001), (443, 30002)]),
        make_task("t2", "n2", host_ports=[(80, 30005)]),
        make_task("t3", "n1"),  # no port reported: nowhere to send anything
    ]
    service = make_service(ports=[port(0, mode="host")])
    published = the_port(build_endpoints([service], tasks, NODES))
    assert (published.published_port, published.node_addrs) == (0, ("127.0.1.1", "127.0.1.2"))
    assert [(t.task_id, t.addr, t.port) for t in published.tasks] == [
        ("t1", "127.0.1.1", 30001),
        ("t2", "127.0.1.2", 30005),
    ]


def test_only_services_with_allocated_published_ports_are_described_in_id_order() -> None:
    services = [
        make_service("s-b", "b", ports=[port(9090, 90, protocol="udp"), port(8081)]),
        make_service("s-none", "quiet", ports=()),
        make_service("s-unallocated", "soon", ports=[port(0)]),  # ingress, no number yet
        make_service("s-a", "a", ports=[port(8082)]),
    ]
    described = build_endpoints(services, [], NODES)
    assert [
        (s.id, [(p.published_port, p.protocol) for p in s.ports]) for s in described.services
    ] == [
        ("s-a", [(8082, "tcp")]),
        ("s-b", [(8081, "tcp"), (9090, "udp")]),
    ]


def test_a_real_dockerd_swarm_mid_update_has_its_node_and_no_task_in_the_rotation() -> None:
    """Of ``web``'s four tasks two are running but being stopped, two are prepared, not started."""
    services = decode((DOCKERD / "services.json").read_bytes(), list[Service])
    tasks = decode((DOCKERD / "tasks.json").read_bytes(), list[Task])
    nodes = decode((DOCKERD / "nodes.json").read_bytes(), list[Node])
    [web] = build_endpoints(services, tasks, nodes).services
    assert (web.name, web.ports) == (
        "web",
        (
            PortEndpoints(
                published_port=8080,
                target_port=80,
                protocol="tcp",
                publish_mode="ingress",
                node_addrs=("127.0.0.1",),
                tasks=(),
            ),
        ),
    )
    running = [
        replace(
            task,
            status=replace(task.status, state=TaskState.RUNNING),
            desired_state=TaskState.RUNNING,
        )
        for task in tasks
    ]
    [web] = build_endpoints(services, running, nodes).services
    assert sorted(t.addr for t in web.ports[0].tasks) == [
        "10.0.0.4",
        "10.0.0.5",
        "10.0.0.6",
        "10.0.0.7",
    ]


def test_the_json_a_receiver_gets_uses_the_api_names() -> None:
    tasks = [make_task("t1", "n1", "10.0.0.5/24")]
    [web] = build_endpoints([make_service()], tasks, NODES).services
    assert json.loads(encode(web)) == {
        "ID": "s-web",
        "Name": "web",
        "Ports": [
            {
                "PublishedPort": 8080,
                "TargetPort": 80,
                "Protocol": "tcp",
                "PublishMode": "ingress",
                "NodeAddrs": ["127.0.1.1", "127.0.1.2"],
                "Tasks": [{"TaskID": "t1", "NodeID": "n1", "Addr": "10.0.0.5", "Port": 80}],
            }
        ],
    }


class Recorder:
    """A balancer that remembers what it was handed."""

    def __init__(self) -> None:
        self.seen: list[Endpoints] = []
        self.running = False

    def update(self, endpoints: Endpoints) -> None:
        self.seen.append(endpoints)

    async def run(self) -> None:
        self.running = True
        await asyncio.Event().wait()


def scaled(replicas: int) -> Endpoints:
    tasks = [make_task(f"t{i}", "n1", f"10.0.0.{10 + i}/24") for i in range(replicas)]
    return build_endpoints([make_service()], tasks, NODES)


async def test_the_runner_hands_every_new_snapshot_of_an_iterator_to_every_balancer() -> None:
    snapshots: asyncio.Queue[Endpoints] = asyncio.Queue()

    async def each() -> AsyncIterator[Endpoints]:
        while True:
            yield await snapshots.get()

    first, second = Recorder(), Recorder()
    runner = asyncio.create_task(LoadBalancerSync(each(), [first, second]).run())
    try:
        for replicas in (1, 1, 3, 3, 2):
            snapshots.put_nowait(scaled(replicas))
        await eventually(lambda: len(first.seen) == 3 and snapshots.empty(), "three changes")
        assert first.running and second.running
        assert first.seen == second.seen == [scaled(1), scaled(3), scaled(2)]
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_the_runner_polls_a_callable_and_passes_on_only_changes() -> None:
    replicas = [1]
    calls = []

    def snapshot() -> Endpoints:
        calls.append(replicas[0])
        return scaled(replicas[0])

    recorder = Recorder()
    runner = asyncio.create_task(LoadBalancerSync(snapshot, [recorder], poll_interval=0.01).run())
    try:
        await eventually(lambda: len(calls) >= 3, "a few polls")
        replicas[0] = 3
        await eventually(lambda: len(recorder.seen) == 2, "the change")
        polled = len(calls)
        await eventually(lambda: len(calls) >= polled + 3, "more polls")
        assert recorder.seen == [scaled(1), scaled(3)]
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
