"""One engine daemon, one node, as dockerd in swarm mode: outside any swarm until
``docker swarm init`` makes it the manager of a new one, or ``docker swarm join`` a worker of
another's; ``docker swarm leave`` takes it out again.

A manager runs the swarm's components, its own node's agent, and the swarm port (the CA and the
node protocol, ``engine.node.swarmport``). A worker runs its agent against the manager over
mutual TLS (``engine.node.remote``). Which one it is, is kept in ``<data dir>/node.json``
beside its certificates, so a restarted daemon is what it was.

    daemon = NodeDaemon(data_dir, hostname="swarm-master")
    await daemon.start()
    node_id = await daemon.init_swarm(SwarmInitRequest(listen_addr="127.0.0.1:2377"))
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import shutil
import socket as sockets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from msgspec.structs import replace

from engine.agent.agent import Agent
from engine.agent.exec.docker import DockerContainer, DockerExecutor
from engine.agent.exec.sim import SimContainer, SimExecutor
from engine.api.objects import ClusterSpec, Config, NodeDescription, Secret, Service, Task
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
from engine.api.types import Availability, NodeRole
from engine.ca import (
    CERTIFICATES,
    MANAGER,
    WORKER,
    CAError,
    NodeFiles,
    NodeIdentity,
    issue_node_certificate,
    load_or_create_root,
    new_node_key,
    node_csr,
    node_tls_info,
    parse_join_token,
    renewal_delay,
    root_rotation,
    utc,
)
from engine.ca.files import write_private
from engine.ca.lock import InvalidUnlockKey, KeyLock
from engine.clock import SystemClock
from engine.errors import (
    EngineError,
    Failure,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from engine.ids import IdGenerator
from engine.manager import defaults
from engine.manager.controlapi import ControlAPI, NodeResources
from engine.manager.manager import Manager
from engine.node.containers import RemoteContainer, Shipper
from engine.node.remote import RemoteDispatcher, RemoteSession, join, renew
from engine.node.rotation import RootRotator
from engine.node.swarmport import SwarmCA, SwarmPort, cert_expiry
from engine.pace import Pace
from engine.store import (
    MemoryStore,
    SqlitePersistence,
    Tx,
    by,
    find_nodes,
    find_services,
    find_tasks,
    get_cluster,
    node_tasks,
)

__all__ = ["Executor", "NodeDaemon"]

log = logging.getLogger(__name__)

MEMBERSHIP = "node.json"
RENEW_RETRY = 60.0  # seconds before a renewal that failed is tried again
SHIP_EVERY = 0.25  # seconds between two reports of a worker's containers to the manager
SWARM_PORT = 2377
NOT_IN_SWARM = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)
WORKER_ONLY = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
    "state. Please run this command on a manager node or promote the current node to a manager."
)
NOT_PART = "This node is not part of a swarm"
LOCKED = (
    "Swarm is encrypted and needs to be unlocked before it can be used. "
    'Please use "docker swarm unlock" to unlock it.'
)
LAST_MANAGER = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing the last manager erases all current state of the swarm. Use `--force` to "
    "ignore this message."
)


@dataclass(frozen=True)
class Executor:
    """What runs this node's tasks: simulated containers, or a Docker Engine's at ``docker``."""

    docker: str | None = None


class Membership(msgspec.Struct, frozen=True):
    """This node's place in a swarm, as kept in ``node.json``."""

    role: str  # MANAGER or WORKER
    node_id: str
    listen_addr: str
    advertise_addr: str
    manager_addr: str = ""  # a worker's manager


class NodeDaemon:
    """A node's daemon. It is the API's backend: ``control`` answers as a manager only."""

    def __init__(
        self,
        data_dir: Path,
        hostname: str,
        executor: Executor | None = None,
        heartbeat_period: float = defaults.HEARTBEAT_PERIOD,
        seed: int | None = None,
    ) -> None:
        self.clock = SystemClock()
        self._state = SqlitePersistence(data_dir)
        self.store = MemoryStore(self.clock.time, self._state)
        self.hostname = hostname
        self.seed = seed if seed is not None else 0
        self._data_dir = Path(data_dir)
        self._files = NodeFiles.of(self._data_dir)
        self._lock = KeyLock(self._data_dir / CERTIFICATES)
        self._executor_choice = executor or Executor()
        self._heartbeat_period = heartbeat_period
        self._ids = IdGenerator(seed)
        self._random = random.Random(seed)
        self._pace = Pace(self.clock)
        self._membership = self._read_membership()
        self._changing = asyncio.Lock()  # init, join and leave one at a time
        self._manager: Manager | None = None
        self._ca: SwarmCA | None = None  # the swarm's CA, on its manager
        self._port: SwarmPort | None = None
        self._agent: Agent | None = None
        self._renewing: asyncio.Future[None] | None = None
        self._remote: RemoteDispatcher | None = None
        self._executor: SimExecutor | DockerExecutor | None = None
        self._runner: asyncio.Task[None] | None = None
        self.failure = Failure()  # what its components failed on, once they did

    # The backend of the API.

    @property
    def control(self) -> ControlAPI:
        if self._manager is not None:
            return self._manager.control
        if self._membership is not None and self._lock.locked:
            raise Unavailable(LOCKED, rpc=False)
        raise Unavailable(WORKER_ONLY if self._membership else NOT_IN_SWARM, rpc=False)

    @property
    def local_node_id(self) -> str:
        return self._membership.node_id if self._membership else ""

    def container(self, task: Task) -> SimContainer | DockerContainer | RemoteContainer | None:
        """The task's container: this node's own, or, on a manager, another node's as it
        reported it."""
        if task.node_id != self.local_node_id:
            return self._port.containers.get(task.id) if self._port is not None else None
        return self._executor.containers.get(task.id) if self._executor is not None else None

    def local_tasks(self) -> tuple[dict[str, Service], list[Task]]:
        if self._remote is not None and self._agent is not None:  # a worker
            return dict(self._remote.services), self._agent.tasks()
        return self.store.view(lambda tx: node_tasks(tx, self.local_node_id))

    def mesh_connections(self) -> dict[str, dict[str, int]]:
        return {}  # the mesh runs in a process of simulated nodes (engine serve --nodes)

    def local_node(self) -> LocalNode:
        membership = self._membership
        if membership is None:
            return LocalNode()
        if self._lock.locked:
            return LocalNode(local_node_state="locked", node_id=membership.node_id)
        if membership.role == MANAGER:
            managers = [RemoteManager(node_id=membership.node_id, addr=membership.advertise_addr)]
        else:
            managers = [RemoteManager(node_id="", addr=membership.manager_addr)]
        return LocalNode(
            local_node_state="error" if self._remote and self._remote.error else "active",
            node_id=membership.node_id,
            node_addr=_host(membership.advertise_addr),
            control_available=membership.role == MANAGER,
            error=self._remote.error if self._remote else "",
            remote_managers=managers,
        )

    # Starting and stopping.

    async def start(self) -> None:
        """Starts as what the node was when it stopped: outside a swarm, manager or worker."""
        if self._membership is not None:
            await self._start(self._membership)

    async def stop(self) -> None:
        try:
            await self._stop_swarm()
        finally:
            self.store.close()

    async def _start(self, membership: Membership) -> None:
        if membership.role == MANAGER:
            await self._start_manager(membership)
        else:
            self._remote = RemoteDispatcher(
                membership.manager_addr, self._files, renew=self._renew_asked
            )
            self._executor = self._executor or await self._new_executor()
            description = await self._describe()
            agent = self._agent = Agent(
                membership.node_id,
                description,
                _host(membership.advertise_addr),
                self._remote,
                self._executor,
                self.clock,
                self._pace,
            )
            self._runner = asyncio.create_task(
                self._run(agent.run, self._renew_forever, self._ship_forever)
            )

    async def _start_manager(self, membership: Membership) -> None:
        if self._lock.locked:
            log.warning('the swarm is locked: "docker swarm unlock" starts this manager')
            return
        password = self._files.password = self._lock.password
        if not self._state.readable:  # sealed, and just unlocked
            assert password is not None
            self._state.open(password)
            self.store.load()
        root = load_or_create_root(self._data_dir, utc(self.clock.time()), password)
        manager = Manager(self.store, self.clock, self._ids, self.seed, promotion=False)
        cluster = manager.control.init_cluster(root, self._heartbeat_period)
        await self._follow_autolock(cluster.spec)  # a change a crash cut short is finished
        self._manager = manager
        self._ca = SwarmCA(root, root_rotation(self._data_dir, password), self._files)
        self._executor = self._executor or await self._new_executor()
        agent = self._agent = Agent(
            membership.node_id,
            await self._describe(),
            _host(membership.advertise_addr),
            manager.dispatcher,
            self._executor,
            self.clock,
            self._pace,
        )
        if isinstance(self._executor, DockerExecutor):
            tasks = {task.id: task for task in manager.control.list_tasks()}
            await self._executor.load(membership.node_id, tasks)
        port = self._port = SwarmPort(manager, self._ca, self.clock, cluster.id)
        host, port_number = _split(membership.listen_addr)
        await port.serve(host, port_number, self._ca.context)
        rotator = RootRotator(
            manager, self._ca, self._lock, self._data_dir, self.clock, self._renew_all
        )
        self._runner = asyncio.create_task(
            self._run(manager.run, agent.run, self._renew_forever, rotator.run)
        )
        log.info("manager of swarm %s, swarm port on %s", cluster.id, membership.listen_addr)

    async def _run(self, *components: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for run in components:
                    group.create_task(run())
        except Exception as error:
            self.failure.record(error)
            raise

    async def _ship_forever(self) -> None:
        """Sends the manager what this worker's containers write and use, as it comes."""
        assert self._remote is not None and self._executor is not None
        shipper = Shipper(self._executor.containers)
        shipped_to: RemoteSession | None = None
        while True:
            await self.clock.sleep(SHIP_EVERY)
            session = self._remote.session
            if session is None or not session.open:
                continue
            if session is not shipped_to:  # a new session: the manager may know nothing
                shipper.restart()
                shipped_to = session
            report = shipper.report(self.clock.time())
            if report is not None:
                session.ship(report)

    async def _renew_forever(self) -> None:
        """Renews the node's certificate at a random point between 50 % and 80 % of its
        lifetime (SwarmKit's); a renewal that fails is tried again a minute later."""
        while True:
            now = utc(self.clock.time())
            delay = renewal_delay(self._files.cert.read_bytes(), now, self._random)
            await self.clock.sleep(delay.total_seconds())
            try:
                await self.renew()
            except (EngineError, CAError, OSError) as error:
                log.warning("could not renew the node's certificate: %s", error)
                await self.clock.sleep(RENEW_RETRY)

    async def renew(self) -> None:
        """A new key and certificate for this node, the same node as before; it tells the
        manager what it trusts and who issued its certificate now."""
        membership = self._membership
        assert membership is not None
        if self._manager is None or self._ca is None:
            await renew(membership.manager_addr, self._files)
        else:
            cluster = self._manager.control.get_cluster()
            key = new_node_key()
            identity = NodeIdentity(membership.node_id, MANAGER, cluster.id)
            now, expiry = utc(self.clock.time()), cert_expiry(cluster)
            signer, chain = self._ca.signer()
            cert = issue_node_certificate(signer, node_csr(key), identity, now, expiry, chain)
            self._files.save(None, cert, key)
            self._ca.reload()
        if self._agent is not None:
            self._agent.describe(await self._describe())
        log.info("renewed the node's certificate")

    async def _renew_all(self, own: bool) -> None:
        """Every node told to renew its certificate; the manager's own renewed if ``own``, else
        its agent describes it anew (its root changed)."""
        if own:
            await self.renew()
        elif self._agent is not None:
            self._agent.describe(await self._describe())
        if self._port is not None:
            await self._port.renew_all()

    def _renew_asked(self) -> None:
        """The manager asked this worker to renew now (a root rotation)."""
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.ensure_future(self._renew_logged())

    async def _renew_logged(self) -> None:
        try:
            await self.renew()
        except (EngineError, CAError, OSError) as error:
            log.warning("could not renew the node's certificate: %s", error)

    async def _stop_swarm(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        if self._port is not None:
            await self._port.close()
        remote, self._remote = self._remote, None
        if remote is not None:
            await remote.close()
        executor, self._executor = self._executor, None
        if isinstance(executor, DockerExecutor):
            await executor.close()
        if self._renewing is not None:
            self._renewing.cancel()
        self._manager = self._ca = self._port = self._agent = None

    async def _new_executor(self) -> SimExecutor | DockerExecutor:
        url = self._executor_choice.docker
        if url is None:
            return SimExecutor(
                self.hostname, self.seed, self.clock, self._pace, dependency=self._dependency
            )
        return DockerExecutor(url, self._service, self._dependency)

    async def _describe(self) -> NodeDescription:
        """What the node says of itself: its resources and the root it trusts."""
        if isinstance(self._executor, DockerExecutor):
            description = await self._executor.describe(self.hostname)
        else:
            description = NodeResources().description(self.hostname)
        if not self._files.exist():
            return description  # a manager being made: it has no certificate yet
        info = node_tls_info(self._files.root.read_bytes(), self._files.cert.read_bytes())
        return replace(description, tls_info=info)

    def _dependency(self, dependency_id: str) -> Secret | Config | None:
        """A secret or config of this node's tasks: the swarm's on a manager, as it was sent
        with the tasks on a worker."""
        if self._remote is not None:
            return self._remote.dependencies.get(dependency_id)
        return self._manager.control.dependency(dependency_id) if self._manager else None

    def _service(self, service_id: str) -> Service | None:
        """A service of this node's tasks: the swarm's on a manager, as it was sent with the
        tasks on a worker."""
        if self._remote is not None:
            return self._remote.services.get(service_id)
        if self._manager is None:
            return None
        try:
            return self._manager.control.get_service(service_id)
        except NotFound:
            return None

    # docker swarm init, join and leave.

    async def init_swarm(self, asked: SwarmInitRequest) -> str:
        """Makes this node the manager of a new swarm; returns its node ID."""
        async with self._changing:
            if self._membership is not None:
                raise Unavailable(ALREADY_IN_SWARM, rpc=False)
            availability = _availability(asked.availability)
            listen, advertise = _addresses(asked.listen_addr, asked.advertise_addr)
            _check_free(listen)
            now = utc(self.clock.time())
            root = load_or_create_root(self._data_dir, now)
            control = ControlAPI(self.store, self.clock, self._ids)
            cluster = control.init_cluster(root, self._heartbeat_period, asked)
            self._executor = await self._new_executor()
            node = control.join_node(
                self.hostname,
                NodeRole.MANAGER,
                addr=_host(advertise),
                leader=True,
                manager_addr=advertise,
                description=await self._describe(),
            )
            if availability is not None:
                spec = replace(node.spec, availability=availability)
                control.update_node(node.id, node.version.index, spec)
            key = new_node_key()
            identity = NodeIdentity(node.id, MANAGER, cluster.id)
            cert = issue_node_certificate(root, node_csr(key), identity, now, cert_expiry(cluster))
            self._files.save(None, cert, key)
            await self.store.saved()
            await self._follow_autolock(cluster.spec)
            membership = Membership(MANAGER, node.id, listen, advertise)
            self._write_membership(membership)
            await self._start(membership)
            return node.id

    async def join_swarm(self, asked: SwarmJoinRequest) -> None:
        """Joins the swarm of the manager at ``asked.remote_addrs`` as a worker."""
        async with self._changing:
            if self._membership is not None:
                raise Unavailable(ALREADY_IN_SWARM, rpc=False)
            if not asked.remote_addrs:
                raise InvalidArgument("at least 1 RemoteAddr is required to join", rpc=False)
            try:
                parse_join_token(asked.join_token)
            except CAError as error:
                raise InvalidArgument(str(error), rpc=False) from None
            availability = _availability(asked.availability)
            listen, advertise = _addresses(asked.listen_addr, asked.advertise_addr, needed=False)
            manager_addr = _with_port(asked.remote_addrs[0], SWARM_PORT)
            joined = await join(manager_addr, asked.join_token, self._files, availability)
            if not advertise and joined.local_addr:
                advertise = _with_port(joined.local_addr, _split(listen)[1])
            membership = Membership(WORKER, joined.node_id, listen, advertise, manager_addr)
            self._write_membership(membership)
            await self._start(membership)
            log.info("joined the swarm of %s as node %s", manager_addr, joined.node_id)

    async def leave_swarm(self, force: bool) -> None:
        async with self._changing:
            membership = self._membership
            if membership is None:
                raise Unavailable(NOT_PART, rpc=False)
            if membership.role == MANAGER and not force:
                raise Unavailable(LAST_MANAGER, rpc=False)
            await self._stop_swarm()
            if membership.role == MANAGER:
                self.store.update(_forget_swarm)
                await self.store.saved()
                await self._state.forget()  # and what a locked manager could not read
            shutil.rmtree(self._data_dir / CERTIFICATES, ignore_errors=True)
            self._lock = KeyLock(self._data_dir / CERTIFICATES)
            self._files = NodeFiles.of(self._data_dir)
            (self._data_dir / MEMBERSHIP).unlink(missing_ok=True)
            self._membership = None
            log.info("left the swarm")

    # docker swarm update, unlock-key and unlock.

    async def update_swarm(self, version: int, spec: ClusterSpec, rotate: SwarmRotations) -> None:
        """Updates the swarm's settings; turns autolock on or off as they say, and gives it a
        new unlock key if asked."""
        self.control.update_cluster(version, spec, rotate)
        if autolocked(spec) == self._lock.autolocked:
            if rotate.unlock_key and self._lock.autolocked:
                self._lock.rotate()
                log.info("the unlock key was rotated")
            return
        await self._follow_autolock(spec)
        log.info("autolock %s", "on" if autolocked(spec) else "off")

    async def _follow_autolock(self, spec: ClusterSpec) -> None:
        """Turns autolock on or off as ``spec`` says: the keys on disk and the store, sealed with
        the data key or in the clear. The steps go in the order that lets the next start finish
        a change a crash cut short: on, the keys first (they hold the data key), then the store;
        off, the store first, then the keys."""
        if autolocked(spec):
            if not self._lock.autolocked:
                self._lock.turn_on()
            if not self._state.sealed:
                await self._state.reseal(self._lock.password)
        else:
            if self._state.sealed:
                await self._state.reseal(None)
            if self._lock.autolocked:
                self._lock.turn_off()
        self._files.password = self._lock.password

    def unlock_key(self) -> str:
        self.control.get_cluster()  # a manager's only
        return self._lock.unlock_key

    async def unlock_swarm(self, key: str) -> None:
        async with self._changing:
            if self._membership is None:
                raise Unavailable(NOT_PART, rpc=False)
            if not self._lock.locked:
                raise NotLocked()
            try:
                self._lock.unlock(key)
            except InvalidUnlockKey as error:
                raise Unauthenticated(str(error), rpc=False) from None
            except ValueError as error:
                raise InvalidArgument(str(error), rpc=False) from None
            await self._start(self._membership)
            log.info("unlocked")

    # node.json

    def _read_membership(self) -> Membership | None:
        path = self._data_dir / MEMBERSHIP
        try:
            return msgspec.json.decode(path.read_bytes(), type=Membership)
        except FileNotFoundError:
            return None
        except (msgspec.DecodeError, OSError) as error:
            raise ValueError(f"{path}: unreadable: {error}") from None

    def _write_membership(self, membership: Membership) -> None:
        write_private(self._data_dir / MEMBERSHIP, msgspec.json.encode(membership))
        self._membership = membership


def _forget_swarm(tx: Tx) -> None:
    """Deletes every object of the swarm: what a manager that leaves it keeps of it."""
    for task in find_tasks(tx, by.all()):
        tx.delete(Task, task.id)
    for service in find_services(tx, by.all()):
        tx.delete(Service, service.id)
    for node in find_nodes(tx, by.all()):
        tx.delete(type(node), node.id)
    cluster = get_cluster(tx)
    if cluster is not None:
        tx.delete(type(cluster), cluster.id)


def _availability(text: str) -> Availability | None:
    if not text:
        return None
    try:
        return Availability(text)
    except ValueError:
        raise InvalidArgument(
            f"invalid availability {text!r}: expected active, pause or drain", rpc=False
        ) from None


def _addresses(listen: str, advertise: str, needed: bool = True) -> tuple[str, str]:
    """The listen address (``HOST:PORT``) and the advertised one, as dockerd settles them."""
    listen = _with_port(listen or f"0.0.0.0:{SWARM_PORT}", SWARM_PORT)
    host, port = _split(listen)
    if not advertise:
        if ipaddress.ip_address(host).is_unspecified:
            if not needed:
                return listen, ""
            raise InvalidArgument(
                "could not find the system's IP address - specify one with --advertise-addr",
                rpc=False,
            )
        advertise = host
    return listen, _with_port(advertise, port)


def _with_port(addr: str, port: int) -> str:
    host, separator, given = addr.rpartition(":")
    if separator and given.isdigit() and not host.endswith(":"):
        _split(addr)
        return addr
    _split(f"{addr}:{port}")
    return f"{addr}:{port}"


def _split(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise InvalidArgument(
            f"invalid address {addr!r}: expected an IP address and a port", rpc=False
        ) from None
    if not 0 < number < 65536:
        raise InvalidArgument(f"invalid port in {addr!r}", rpc=False)
    return host, number


def _host(addr: str) -> str:
    return _split(addr)[0] if addr else ""


def _check_free(listen: str) -> None:
    """Refuses a listen address something else holds, before the swarm is made."""
    host, port = _split(listen)
    probe = sockets.socket(sockets.AF_INET6 if ":" in host else sockets.AF_INET)
    probe.setsockopt(sockets.SOL_SOCKET, sockets.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise Unavailable(f"listen tcp {listen}: bind: {reason}", rpc=False) from None
    finally:
        probe.close()
