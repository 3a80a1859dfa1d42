"""A whole swarm in one process: a manager and N nodes. The console's default target.

The default is the DockerCon demo cluster of simulated nodes: ``swarm-master`` (manager,
leader), ``swarm-node-1`` and ``swarm-node-2``. With ``docker_nodes`` each node is a Docker
Engine instead, and tasks run as real containers on it; a node whose engine stops answering
stops heartbeating, as a real node that died. With a data directory the state persists, and
starting again on it brings the same cluster back (and its running containers).

    async with EmbeddedCluster(nodes=3) as cluster:
        cluster.control.create_service(spec)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import Awaitable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from msgspec.structs import replace

from engine.agent.agent import Agent
from engine.agent.exec.docker import ENGINE_ERRORS, DockerContainer, DockerExecutor
from engine.agent.exec.sim import SimContainer, SimExecutor
from engine.agent.ingress import Ingress, MeshNode
from engine.agent.names import Names, host_resolvers
from engine.api.durations import parse_timestamp
from engine.api.objects import ClusterSpec, Node, NodeDescription, Service, Task
from engine.api.swarm import (
    ALREADY_IN_SWARM,
    LocalNode,
    NotLocked,
    RemoteManager,
    SwarmInitRequest,
    SwarmJoinRequest,
    SwarmRotations,
    autolocked,
)
from engine.api.types import NodeRole
from engine.ca import (
    MANAGER,
    WORKER,
    NodeIdentity,
    issue_node_certificate,
    load_or_create_root,
    new_node_key,
    node_csr,
    node_tls_info,
    utc,
)
from engine.clock import Clock, SystemClock
from engine.errors import FailedPrecondition, Failure, NotFound, Unavailable
from engine.ids import IdGenerator
from engine.manager import defaults
from engine.manager.controlapi import ControlAPI, NodeResources
from engine.manager.dispatcher import HEARTBEAT_EPSILON
from engine.manager.manager import Manager
from engine.mesh.dns import DNS_PORT, DnsServer, serve_dns
from engine.mesh.lb import Balancer, LoadBalancerSync
from engine.pace import Pace
from engine.store import MemoryStore, SqlitePersistence, by, find_nodes, node_tasks

__all__ = [
    "NODE_ADDRESSES",
    "ClusterNode",
    "EmbeddedCluster",
    "check_address_prefix",
    "demo_node_names",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
NODE_ADDRESSES = "127.0.1"  # simulated node N is 127.0.1.N
LAST_HOST = 254  # PREFIX.255 is the broadcast address of the /24
# Seconds between looks at whether a docker node's engine answers. A real node that dies sends
# no more heartbeats; ours stops when this finds its engine gone, so the look is frequent.
ENGINE_CHECK = 0.25


def check_address_prefix(prefix: str) -> str:
    """``prefix`` if it is the first three parts of an IPv4 address (``127.0.1``).

    Raises:
        ValueError: it is not.
    """
    parts = prefix.split(".")
    if len(parts) != 3 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError(
            f"node addresses: {prefix!r} is not the first three parts of an IPv4 address"
        )
    return prefix


def demo_node_names(count: int) -> list[str]:
    """``swarm-master``, then ``swarm-node-1``, ``swarm-node-2``..."""
    return ["swarm-master"] + [f"swarm-node-{index}" for index in range(1, count)]


@dataclass
class ClusterNode:
    """A node of the cluster: its store object's id, hostname, agent and executor."""

    id: str
    hostname: str
    agent: Agent
    executor: SimExecutor | DockerExecutor
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class EmbeddedCluster:
    """A manager and simulated nodes, in this process and event loop.

    Args:
        nodes: how many nodes a new cluster has (the first is the manager).
        data_dir: where the state persists; None keeps it in memory.
        clock: the clock for everything (FakeClock in tests).
        seed: makes IDs, timings, logs and usage repeat run to run.
        heartbeat_period: seconds between heartbeats (SwarmKit's default 5).
        heartbeat_epsilon: jitter of the heartbeat period, 0.5 s as SwarmKit; 0 for exact timing.
        node_resources: what each simulated node offers.
        docker_nodes: hostname to Docker Engine URL of each node, the first the manager; tasks
            then run as containers on those engines.
        node_addresses: the first three parts of the simulated nodes' IPv4 addresses: node N
            (from 1, in the order they joined) is ``PREFIX.N``. In 127/8 by default, so every
            node of the process has an address of its own on this host that answers.
        mesh: whether the nodes answer on their addresses: the routing mesh (every node on
            every published port) and the simulated containers behind it.
        balancers: external load balancers kept in step with the mesh.
        dns_port: where each node answers DNS for service discovery, with the mesh on.
        dns_upstreams: where it sends the names it does not know; the host's name servers
            (``resolv.conf``) by default, as Docker's resolver.
    """

    def __init__(
        self,
        nodes: int = 3,
        data_dir: Path | str | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        heartbeat_period: float = defaults.HEARTBEAT_PERIOD,
        heartbeat_epsilon: float = HEARTBEAT_EPSILON,
        node_resources: NodeResources | None = None,
        docker_nodes: dict[str, str] | None = None,
        node_addresses: str = NODE_ADDRESSES,
        mesh: bool = False,
        balancers: Sequence[Balancer] = (),
        dns_port: int = DNS_PORT,
        dns_upstreams: Sequence[str] | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self._address_prefix = check_address_prefix(node_addresses)
        self._docker_nodes = dict(docker_nodes or {})
        if self._docker_nodes:
            nodes = len(self._docker_nodes)
        self.clock: Clock = clock or SystemClock()
        self.seed = seed if seed is not None else 0
        self._initial_nodes = nodes
        self._heartbeat_period = heartbeat_period
        self._resources = node_resources or NodeResources()
        self._ids = IdGenerator(seed)
        persistence = None
        if data_dir is not None:
            persistence = SqlitePersistence(data_dir, behind=isinstance(self.clock, SystemClock))
        self.store = MemoryStore(self.clock.time, persistence)
        self._ca_seed = None if seed is None else f"swarmdeck {seed}"
        self.ca = load_or_create_root(
            None if data_dir is None else Path(data_dir),
            utc(self.clock.time()),
            seed=self._ca_seed,
        )
        self.manager = Manager(self.store, self.clock, self._ids, seed, heartbeat_epsilon)
        self.nodes: dict[str, ClusterNode] = {}
        self._executors = {
            name: DockerExecutor(url, self._service, self.manager.control.dependency)
            for name, url in self._docker_nodes.items()
        }
        self._pace = Pace(self.clock)  # one event loop runs every agent: they step in one line
        self._balancers = tuple(balancers)
        describe = bool(self._balancers)
        self.ingress = Ingress(self.store, self._mesh_nodes, describe) if mesh else None
        self._dns_port = dns_port
        self._dns_upstreams = dns_upstreams
        self.dns: dict[str, DnsServer] = {}  # by node hostname, with the mesh on
        if self._balancers and self.ingress is None:
            raise ValueError("load balancers follow the mesh: it must be on")
        self._group: asyncio.TaskGroup | None = None
        self._runner: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self.failure = Failure()  # what its components failed on, once they did

    @property
    def control(self) -> ControlAPI:
        return self.manager.control

    async def __aenter__(self) -> EmbeddedCluster:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self, offline: Iterable[str] = ()) -> None:
        """Initialises the swarm if new, then starts the manager and every node's agent.

        Args:
            offline: hostnames whose agents start disconnected, as nodes that do not come back.
        """
        self.control.init_cluster(self.ca, self._heartbeat_period)
        if self.ingress is not None:
            for hostname in self._executors:
                await self._locate(hostname)
        existing = self.store.view(lambda tx: find_nodes(tx, by.all()))
        if not existing:
            names = list(self._docker_nodes) or demo_node_names(self._initial_nodes)
            for index, hostname in enumerate(names):
                executor = self._executors.get(hostname)
                self.control.join_node(
                    hostname,
                    NodeRole.MANAGER if index == 0 else NodeRole.WORKER,
                    self._resources,
                    addr=self._node_address(hostname, index),
                    leader=index == 0,
                    description=await self._describe(hostname) if executor else None,
                )
            existing = self.store.view(lambda tx: find_nodes(tx, by.all()))
        tasks = {task.id: task for task in self.control.list_tasks()}
        for node in existing:
            executor = self._executors.get(node.hostname or "")
            if executor is not None:
                await self._reach(node.hostname or "", executor.load(node.id, tasks))
        self._runner = asyncio.create_task(self._run(existing, set(offline)))
        await self._started.wait()

    async def _run(self, nodes: list[Node], offline: set[str]) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(self.manager.run(), name="manager")
                if self.ingress is not None:
                    group.create_task(self.ingress.run(), name="ingress")
                    if self._balancers:
                        changes = self.ingress.endpoint_changes()
                        sync = LoadBalancerSync(changes, self._balancers)
                        group.create_task(sync.run(), name="load balancers")
                for node in sorted(nodes, key=_join_order):
                    sim = self._start_agent(node)
                    if sim.hostname in offline:
                        sim.agent.disconnect()
                if self.ingress is not None:
                    await self._answer_names()
                self._started.set()
        except Exception as error:
            self.failure.record(error)
            self._started.set()  # a start that was waiting for it returns: the failure tells
            raise

    def _start_agent(self, node: Node) -> ClusterNode:
        assert self._group is not None
        hostname = node.hostname or node.id
        executor = self._executors.get(hostname) or SimExecutor(
            hostname,
            self.seed,
            self.clock,
            self._pace,
            address=node.status.addr if self.ingress is not None else None,
            service=self._service,
            dependency=self.manager.control.dependency,
        )
        if isinstance(executor, DockerExecutor) and executor.address is None:
            executor.address = node.status.addr  # its URL's host, or one of this host's
        description = node.description or self._resources.description(hostname)
        description = replace(description, tls_info=self._tls_info(node))
        agent = Agent(
            node.id,
            description,
            node.status.addr or "",
            self.manager.dispatcher,
            executor,
            self.clock,
            self._pace,
        )
        sim = ClusterNode(node.id, hostname, agent, executor)
        sim.task = self._group.create_task(agent.run(), name=f"agent {hostname}")
        if isinstance(executor, DockerExecutor):
            self._group.create_task(self._watch_engine(sim), name=f"engine of {hostname}")
        self.nodes[hostname] = sim
        return sim

    def _tls_info(self, node: Node) -> dict[str, str]:
        """A certificate for a node of this process, from the swarm's CA, as a joining node
        gets one; what the node then says of it (the same every time for a seeded cluster)."""
        role = MANAGER if node.spec.role == NodeRole.MANAGER else WORKER
        cluster = self.control.get_cluster()
        seed = None if self._ca_seed is None else f"{self._ca_seed} {node.id}"
        cert = issue_node_certificate(
            self.ca,
            node_csr(new_node_key(seed)),
            NodeIdentity(node.id, role, cluster.id),
            utc(_renewed_at(node, self.clock.time())),
            seed=seed,
        )
        return node_tls_info(self.ca.cert_pem, cert)

    async def _watch_engine(self, node: ClusterNode) -> None:
        """Keeps a docker node's agent talking only while its engine answers."""
        assert isinstance(node.executor, DockerExecutor)
        while True:
            alive = await node.executor.alive()
            if alive and not node.agent.online:
                node.agent.connect()
            elif not alive and node.agent.online:
                node.agent.disconnect()
            await self.clock.sleep(ENGINE_CHECK)

    async def _locate(self, hostname: str) -> None:
        """Finds where a docker node is reached for the mesh (``DockerExecutor.locate``); one
        in a network namespace of its own answers names there, and its containers ask it."""
        executor = self._executors[hostname]
        await self._reach(hostname, executor.locate())
        if executor.netns is not None and executor.address is not None:
            executor.dns = [executor.address]

    async def _describe(self, hostname: str) -> NodeDescription:
        return await self._reach(hostname, self._executors[hostname].describe(hostname))

    async def _reach(self, hostname: str, call: Awaitable[T]) -> T:
        """``call`` to a docker node's engine; ConnectionError, saying which, if it fails."""
        try:
            return await call
        except ENGINE_ERRORS as error:
            url = self._docker_nodes[hostname]
            raise ConnectionError(
                f"node {hostname}: cannot use its engine at {url}: {error}"
            ) from None

    async def _answer_names(self) -> None:
        """Each node answers DNS on its address (Docker's embedded resolver), until stopped."""
        names = Names(self.store)
        upstreams = host_resolvers() if self._dns_upstreams is None else self._dns_upstreams
        for hostname, node in self._answering():
            try:
                self.dns[hostname] = await serve_dns(
                    names.resolve,
                    node.address,
                    self._dns_port,
                    upstreams=upstreams,
                    sockets=node.sockets,
                )
            except OSError as error:
                log.warning("%s: no DNS on %s: %s", hostname, node.address, error)

    def _mesh_nodes(self) -> dict[str, MeshNode]:
        """The nodes the mesh runs on: every node of this process with an address."""
        return {self.nodes[hostname].id: node for hostname, node in self._answering()}

    def _answering(self) -> Iterator[tuple[str, MeshNode]]:
        """The nodes that answer on an address of their own (the mesh is on): simulated ones,
        and docker ones in the network namespace of their engine."""
        for sim in list(self.nodes.values()):
            executor = sim.executor
            if isinstance(executor, SimExecutor) and executor.address:
                yield sim.hostname, MeshNode(executor.address, executor)
            elif isinstance(executor, DockerExecutor) and executor.address:
                node = MeshNode(executor.address, executor, executor.netns, binds_host_ports=True)
                yield sim.hostname, node

    def _service(self, service_id: str) -> Service | None:
        try:
            return self.control.get_service(service_id)
        except NotFound:
            return None

    def add_node(self, hostname: str, role: NodeRole = NodeRole.WORKER) -> ClusterNode:
        """Joins a new simulated node and starts its agent."""
        addr = self._node_address(hostname, len(self.nodes))
        node = self.control.join_node(hostname, role, self._resources, addr=addr)
        return self._start_agent(node)

    def _node_address(self, hostname: str, index: int) -> str:
        """A docker node's is its engine's host (its address in its engine's network namespace,
        or its URL's); any other node's is the next of the prefix."""
        executor = self._executors.get(hostname)
        if executor is not None and executor.address is not None:
            return executor.address
        url = urllib.parse.urlsplit(self._docker_nodes.get(hostname, ""))
        if url.scheme == "tcp" and url.hostname:
            return url.hostname
        if index + 1 > LAST_HOST:
            raise ValueError(f"no address left for {hostname}: {LAST_HOST} nodes have them all")
        return f"{self._address_prefix}.{index + 1}"

    def node(self, hostname: str) -> ClusterNode:
        return self.nodes[hostname]

    def container(self, task: Task) -> SimContainer | DockerContainer | None:
        """The container of ``task`` on its node, while the node keeps it."""
        for sim in self.nodes.values():
            if sim.id == task.node_id:
                return sim.executor.containers.get(task.id)
        return None

    def mesh_connections(self) -> dict[str, dict[str, int]]:
        return self.ingress.connections() if self.ingress is not None else {}

    def local_tasks(self) -> tuple[dict[str, Service], list[Task]]:
        return self.store.view(lambda tx: node_tasks(tx, self.local_node_id))

    @property
    def local_node_id(self) -> str:
        """The node this manager runs on: the leader, swarm-master in the demo cluster."""
        for node in self.control.list_nodes():
            if node.manager_status is not None and node.manager_status.leader:
                return node.id
        return next(iter(self.nodes.values())).id

    def local_node(self) -> LocalNode:
        node_id = self.local_node_id
        node = self.control.get_node(node_id)
        addr = node.manager_status.addr if node.manager_status else ""
        return LocalNode(
            local_node_state="active",
            node_id=node_id,
            node_addr=node.status.addr or "",
            control_available=True,
            remote_managers=[RemoteManager(node_id=node_id, addr=addr or "")],
        )

    async def init_swarm(self, asked: SwarmInitRequest) -> str:
        raise Unavailable(ALREADY_IN_SWARM, rpc=False)

    async def join_swarm(self, asked: SwarmJoinRequest) -> None:
        raise Unavailable(ALREADY_IN_SWARM, rpc=False)

    async def leave_swarm(self, force: bool) -> None:
        raise FailedPrecondition(
            "this engine is the swarm's only manager: stop `swarmdeck engine serve` to leave",
            rpc=False,
        )

    async def update_swarm(self, version: int, spec: ClusterSpec, rotate: SwarmRotations) -> None:
        """Autolock and root rotation are for a swarm of node daemons, whose keys are on disk
        and whose nodes hold certificates; this one refuses them, saying so."""
        forced = (spec.ca_config or {}).get("ForceRotate")
        if forced != (self.control.get_cluster().spec.ca_config or {}).get("ForceRotate"):
            raise FailedPrecondition(
                "this swarm's nodes are simulated in one process: rotating the root CA is for "
                "a swarm of `swarmdeck engine serve` daemons (without --nodes)",
                rpc=False,
            )
        if autolocked(spec):
            raise FailedPrecondition(
                "autolock is for a swarm of node daemons, whose keys are on disk: "
                "serve one with `swarmdeck engine serve` without --nodes",
                rpc=False,
            )
        self.control.update_cluster(version, spec, rotate)

    def unlock_key(self) -> str:
        self.control.get_cluster()  # a manager's: this engine's always is
        return ""

    async def unlock_swarm(self, key: str) -> None:
        raise NotLocked()

    def stop_node(self, hostname: str) -> None:
        """The node drops off the network: no heartbeats, no reports; its containers go on."""
        self.nodes[hostname].agent.disconnect()

    def start_node(self, hostname: str) -> None:
        """The node comes back: it registers again and reports what happened meanwhile."""
        self.nodes[hostname].agent.connect()

    async def stop(self) -> None:
        """Stops every component and agent, then closes the store (also when a component had
        failed: its error is in ``failure.error``)."""
        try:
            if self._runner is not None:
                runner, self._runner = self._runner, None
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError, *_once_failed(self.failure.error)):
                    await runner
        finally:
            servers, self.dns = self.dns, {}
            for server in servers.values():
                await server.close()
            for executor in self._executors.values():
                await executor.close()
            self.store.close()


SIMULATED_RENEWAL = 60 * 24 * 3600.0  # seconds: a simulated node renews every 60 days


def _renewed_at(node: Node, now: float) -> float:
    """When a simulated node last renewed its certificate: every SIMULATED_RENEWAL seconds
    since it joined (two thirds of the default lifetime, as a node renews between 50 % and
    80 %), so a restart in between shows the same certificate."""
    try:
        joined = parse_timestamp(node.created_at or "")
    except ValueError:
        return now
    return joined + (now - joined) // SIMULATED_RENEWAL * SIMULATED_RENEWAL


def _once_failed(failure: BaseException | None) -> tuple[type[BaseException], ...]:
    """What awaiting a runner that failed raises again, once its failure is known."""
    return (Exception,) if failure is not None else ()


def _join_order(node: Node) -> tuple[str, str]:
    return (node.created_at or "", node.id)
