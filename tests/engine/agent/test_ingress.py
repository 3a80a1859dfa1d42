"""The routing mesh on simulated nodes: every node answers a published port, round-robin over the
tasks that run, and a task that stops, fails its health check or sits on a down node leaves the
rotation."""

from __future__ import annotations

import asyncio
import random
import re
import socket as sockets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from msgspec.structs import replace

from engine.api.durations import SECOND
from engine.api.specs import EndpointSpec, HealthConfig, PortConfig, ServiceSpec
from engine.api.types import NodeState, TaskState
from engine.embedded import EmbeddedCluster
from engine.manager.defaults import HEARTBEAT_PERIOD
from engine.mesh.lb import HAProxyUpdater
from tests.conftest import make_spec
from tests.engine.mesh.conftest import eventually
from tests.engine.mesh.test_lb_haproxy import HAProxy

WELCOME = "Welcome to nginx!"


def free_port() -> int:
    with sockets.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


def published(spec: ServiceSpec, port: int, target: int = 80, mode: str = "ingress") -> ServiceSpec:
    endpoint = EndpointSpec(
        ports=[PortConfig(target_port=target, published_port=port, publish_mode=mode)]
    )
    return replace(spec, endpoint_spec=endpoint)


@pytest.fixture
async def cluster() -> AsyncIterator[EmbeddedCluster]:
    """Three simulated nodes on addresses of their own (127.X.Y.1-3), answering real traffic."""
    prefix = f"127.{random.randint(2, 254)}.{random.randint(1, 254)}"
    async with EmbeddedCluster(
        nodes=3, seed=7, heartbeat_period=0.5, heartbeat_epsilon=0, node_addresses=prefix, mesh=True
    ) as cluster:
        yield cluster


def addresses(cluster: EmbeddedCluster) -> list[str]:
    return [node.status.addr or "" for node in cluster.control.list_nodes()]


async def get(address: str, port: int, path: str = "/") -> str | None:
    """The body of an HTTP GET, or None when the connection is closed without an answer."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), 5)
    except OSError:
        return None
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = await asyncio.wait_for(reader.read(), 5)
    except OSError:
        return None
    finally:
        writer.close()
    return answer.decode() if answer else None


def served_by(page: str | None) -> str | None:
    match = re.search(r"Served by (\S+) on (\S+)\.", page or "")
    return match.group(1) if match else None


def running(cluster: EmbeddedCluster, service_id: str) -> set[str]:
    return {
        t.id
        for t in cluster.control.list_tasks(service_id)
        if t.status.state == TaskState.RUNNING and t.desired_state == TaskState.RUNNING
    }


async def test_every_node_answers_and_connections_go_round_robin(cluster: EmbeddedCluster) -> None:
    """The seed's demo: one replica answers on all three nodes; scaled to three, twelve GETs on
    one node are answered by the three tasks in turn, and their logs show the requests."""
    port = free_port()
    service = cluster.control.create_service(published(make_spec("nginx", replicas=1), port))
    ingress = cluster.ingress
    assert ingress is not None
    await eventually(lambda: ingress.rotation(service.id), "a task in rotation")
    for address in addresses(cluster):
        page = await get(address, port)
        assert page is not None and WELCOME in page and served_by(page)

    current = cluster.control.get_service(service.id)
    cluster.control.update_service(
        service.id, current.version.index, published(make_spec("nginx", replicas=3), port)
    )
    await eventually(lambda: len(ingress.rotation(service.id)) == 3, "three tasks in rotation")
    first = addresses(cluster)[0]
    answers = [served_by(await get(first, port, f"/?probe={i}")) for i in range(12)]
    assert None not in answers
    assert len(set(answers)) == 3
    assert all(answers[i] == answers[i % 3] for i in range(12))  # in turn, each four times

    logged = []
    for task in cluster.control.list_tasks(service.id):
        container = cluster.container(task)
        assert container is not None
        logged += [line.text for line in container.lines(0, cluster.clock.time() + 1)]
    for i in range(12):
        assert sum(f"GET /?probe={i} HTTP/1.1" in text for text in logged) == 1
    assert sum(ingress.connections_last_minute(service.id).values()) >= 12


async def test_a_drained_node_still_answers(cluster: EmbeddedCluster) -> None:
    port = free_port()
    service = cluster.control.create_service(published(make_spec("web", replicas=2), port))
    ingress = cluster.ingress
    assert ingress is not None
    drained = cluster.control.list_nodes()[2]
    cluster.control.update_node(
        drained.id, drained.version.index, replace(drained.spec, availability="drain")
    )
    await eventually(
        lambda: (
            len(ingress.rotation(service.id)) == 2
            and not any(
                t.node_id == drained.id
                for t in cluster.control.list_tasks(service.id)
                if t.id in ingress.rotation(service.id)
            )
        ),
        "two tasks in rotation, on the other nodes",
    )
    page = await get(drained.status.addr or "", port)
    assert page is not None and WELCOME in page
    elsewhere = {
        f"web.{t.slot}" for t in cluster.control.list_tasks(service.id) if t.node_id != drained.id
    }
    assert served_by(page) in elsewhere


async def test_tasks_on_a_down_node_leave_the_rotation(cluster: EmbeddedCluster) -> None:
    port = free_port()
    service = cluster.control.create_service(published(make_spec("web", replicas=3), port))
    ingress = cluster.ingress
    assert ingress is not None
    await eventually(lambda: len(ingress.rotation(service.id)) == 3, "three tasks in rotation")
    lost = next(n for n in cluster.control.list_nodes() if n.hostname == "swarm-node-2")
    on_lost = {t.id for t in cluster.control.list_tasks(service.id) if t.node_id == lost.id}
    assert on_lost
    cluster.stop_node("swarm-node-2")
    await eventually(
        lambda: cluster.control.get_node(lost.id).status.state == NodeState.DOWN, "the node down"
    )
    await eventually(
        lambda: not ingress.rotation(service.id) & on_lost, "its tasks out of rotation"
    )
    first = addresses(cluster)[0]
    pages = [await get(first, port) for _ in range(6)]
    assert all(page is not None and WELCOME in page for page in pages)
    assert not any("on swarm-node-2." in str(page) for page in pages)
    assert await get(lost.status.addr or "", port) is None  # a node off the network answers nothing


async def test_a_task_that_stopped_leaves_the_rotation(cluster: EmbeddedCluster) -> None:
    """A task whose container exits is out of the rotation within one heartbeat period of its
    failure, and before it is replaced (the restart delay is long): nothing answers, though the
    port is published on every node."""
    port = free_port()
    spec = make_spec(
        "worker", replicas=1, labels={"swarmdeck.sim.crash-loop": "2s"}, restart_delay=3600
    )
    service = cluster.control.create_service(published(spec, port))
    ingress = cluster.ingress
    assert ingress is not None
    await eventually(lambda: ingress.rotation(service.id), "the task in rotation")
    (task_id,) = ingress.rotation(service.id)
    assert served_by(await get(addresses(cluster)[1], port))
    await eventually(
        lambda: cluster.control.get_task(task_id).status.state == TaskState.FAILED, "the crash"
    )
    await eventually(
        lambda: not ingress.rotation(service.id), "the rotation empty", HEARTBEAT_PERIOD
    )
    assert await get(addresses(cluster)[1], port) is None


async def test_a_task_not_yet_healthy_gets_no_traffic(cluster: EmbeddedCluster) -> None:
    """Its container is up and listening, but its health check never passes: it never runs, and
    the mesh sends it nothing."""
    port = free_port()
    spec = make_spec("api", replicas=1, labels={"swarmdeck.sim.health": "unhealthy"})
    health = HealthConfig(test=["CMD", "true"], interval=SECOND // 5, retries=1000)
    template = spec.task_template
    assert template is not None and template.container_spec is not None
    spec = replace(
        spec,
        task_template=replace(
            template, container_spec=replace(template.container_spec, healthcheck=health)
        ),
    )
    service = cluster.control.create_service(published(spec, port))
    ingress = cluster.ingress
    assert ingress is not None

    def listening() -> bool:
        return any(
            (container := cluster.container(t)) is not None and container.ports is not None
            for t in cluster.control.list_tasks(service.id)
        )

    await eventually(listening, "the container listening")
    assert not running(cluster, service.id)
    assert not ingress.rotation(service.id)
    assert await get(addresses(cluster)[0], port) is None


async def test_haproxy_follows_the_service_as_it_scales(tmp_path: Path) -> None:
    """``--lb-haproxy``: HAProxy's backend for the published port holds the service's tasks,
    through scaling up and down, and HTTP through it reaches each of them; it is never
    reloaded."""
    haproxy = HAProxy(tmp_path, free_port())
    await haproxy.start()
    prefix = f"127.{random.randint(2, 254)}.{random.randint(1, 254)}"
    try:
        async with EmbeddedCluster(
            nodes=3,
            seed=8,
            node_addresses=prefix,
            mesh=True,
            balancers=[HAProxyUpdater(haproxy.socket)],
        ) as cluster:
            pid = await haproxy.pid()
            spec = published(make_spec("web", replicas=1), haproxy.published)
            service = cluster.control.create_service(spec)
            for replicas in (1, 3, 2):
                current = cluster.control.get_service(service.id)
                cluster.control.update_service(
                    service.id,
                    current.version.index,
                    published(make_spec("web", replicas=replicas), haproxy.published),
                )
                await eventually(
                    lambda n=replicas: _servers_are(haproxy, cluster, service.id, n),
                    f"{replicas} servers",
                )
                names = set()
                for _ in range(replicas * 2):
                    names.add(served_by(await get("127.0.0.1", haproxy.published)))
                assert len(names) == replicas and None not in names
            assert await haproxy.pid() == pid
    finally:
        await haproxy.stop()


async def _servers_are(haproxy: HAProxy, cluster: EmbeddedCluster, service_id: str, n: int) -> bool:
    held = await haproxy.servers()
    ready = {where[:2] for where in held.values() if where[2] == 0}
    ingress = cluster.ingress
    assert ingress is not None
    in_rotation = ingress.rotation(service_id)
    return len(in_rotation) == n and len(ready) == n and len(held) == n


async def test_a_host_mode_port_answers_on_the_nodes_of_its_tasks_only(
    cluster: EmbeddedCluster,
) -> None:
    """Each task answers on its own node's address, and only there; scaling keeps the
    listeners of the tasks already running."""
    port = free_port()
    spec = published(make_spec("web", replicas=2, max_replicas=1), port, mode="host")
    service = cluster.control.create_service(spec)
    ingress = cluster.ingress
    assert ingress is not None
    await eventually(lambda: len(ingress.rotation(service.id)) == 2, "two tasks answering")
    before = {key: ingress._listeners[key] for key in ingress.listening()}
    assert len(before) == 2
    for (address, _, _), _listener in before.items():
        node = next(n for n in cluster.control.list_nodes() if n.status.addr == address)
        page = await get(address, port)
        assert page is not None and f"on {node.hostname}." in page
    idle = {a for a in addresses(cluster)} - {address for address, _, _ in before}
    assert await get(idle.pop(), port) is None  # no task of it there

    current = cluster.control.get_service(service.id)
    scaled = published(make_spec("web", replicas=3, max_replicas=1), port, mode="host")
    cluster.control.update_service(service.id, current.version.index, scaled)
    await eventually(lambda: len(ingress.rotation(service.id)) == 3, "three tasks answering")
    assert all(ingress._listeners.get(key) is listener for key, listener in before.items())
