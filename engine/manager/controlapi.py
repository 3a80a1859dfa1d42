"""ControlAPI: each API verb on swarm objects, validated and turned into store writes.

What SwarmKit's controlapi and the Docker daemon's cluster package do between them: fill in
moby's defaults, validate, resolve names and ID prefixes, check versions, and write. The HTTP
layer maps these calls and their errors one to one.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import TypeVar

from msgspec.structs import replace

from engine.api.base import Json
from engine.api.durations import SECOND, format_timestamp
from engine.api.networks import NetworkCreateRequest
from engine.api.objects import (
    Cluster,
    ClusterSpec,
    Config,
    EngineDescription,
    JobStatus,
    JoinTokens,
    ManagerStatus,
    Network,
    Node,
    NodeDescription,
    NodeStatus,
    Object,
    Secret,
    Service,
    Task,
    TaskStatus,
    UpdateStatus,
    Version,
)
from engine.api.secrets import DataRequest
from engine.api.specs import (
    EndpointSpec,
    FailureAction,
    NodeSpec,
    Platform,
    PortConfig,
    ReplicatedService,
    ResourceObject,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
    UpdateOrder,
)
from engine.api.swarm import SwarmInitRequest, SwarmRotations
from engine.api.types import Availability, NodeRole, NodeState, Reachability, TaskState
from engine.ca import RootCA, join_token, tls_info
from engine.clock import Clock
from engine.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    SequenceConflict,
    Unimplemented,
    the_one,
)
from engine.ids import IdGenerator
from engine.manager import defaults, secrets
from engine.manager import networks as nets
from engine.manager.allocator import check_port_conflicts
from engine.manager.names import random_name
from engine.manager.secrets import Kind, KindT
from engine.manager.validation import (
    PROTOCOLS,
    PUBLISH_MODES,
    json_field,
    validate_for_daemon,
    validate_node_spec,
    validate_service_spec,
)
from engine.mesh.ipam import DEFAULT_POOL, DEFAULT_SUBNET_SIZE, IpamError, check_pools
from engine.store import (
    MemoryStore,
    ReadTx,
    Tx,
    by,
    create_network,
    create_node,
    create_service,
    delete_network,
    delete_node,
    delete_service,
    find_networks,
    find_nodes,
    find_services,
    find_tasks,
    get_cluster,
    update_node,
    update_service,
    update_task,
)

__all__ = ["ControlAPI", "NodeResources"]

ObjectT = TypeVar("ObjectT", bound=Object)
T = TypeVar("T")

ENGINE_VERSION = "20.10.24"  # the Docker Engine whose API (1.41) we serve


class NodeResources:
    """What a joining node offers: CPUs, memory, platform and engine labels."""

    def __init__(
        self,
        cpus: float = 2.0,
        memory_bytes: int = 4 * 2**30,
        os: str = "linux",
        architecture: str = "x86_64",
        engine_labels: dict[str, str] | None = None,
    ) -> None:
        self.cpus = cpus
        self.memory_bytes = memory_bytes
        self.os = os
        self.architecture = architecture
        self.engine_labels = engine_labels

    def description(self, hostname: str) -> NodeDescription:
        return NodeDescription(
            hostname=hostname,
            platform=Platform(architecture=self.architecture, os=self.os),
            resources=ResourceObject(
                nano_cpus=int(self.cpus * SECOND), memory_bytes=self.memory_bytes
            ),
            engine=EngineDescription(
                engine_version=ENGINE_VERSION, labels=self.engine_labels or None
            ),
        )


ONE_MANAGER = (
    "swarmdeck builds no consensus between managers, so this swarm keeps its one manager and "
    "a node cannot be promoted; for highly available managers, use a Docker swarm"
)


class ControlAPI:
    """The swarm's control API. ``promotion=False`` for a swarm of real nodes, whose one
    manager cannot share the state: promotion is refused (the demo cluster, whose managers are
    all in one process, promotes)."""

    def __init__(
        self, store: MemoryStore, clock: Clock, ids: IdGenerator, promotion: bool = True
    ) -> None:
        self._promotion = promotion
        self._store = store
        self._clock = clock
        self._ids = ids
        self._names = random.Random(ids.new_id())
        self._root: RootCA | None = None  # the swarm's CA, from init_cluster

    # The swarm.

    def init_cluster(
        self,
        root: RootCA,
        heartbeat_period: float = defaults.HEARTBEAT_PERIOD,
        asked: SwarmInitRequest | None = None,
    ) -> Cluster:
        """Creates the swarm (``docker swarm init``) with ``root`` as its CA and the settings
        ``asked`` for, unless the store already holds one; and with it the ingress network and
        the swarm's own ``bridge`` and ``host`` networks, as SwarmKit does for a new swarm.
        A swarm whose CA is not ``root`` (its files were lost) takes it, and new join tokens
        that pin it."""
        asked = asked or SwarmInitRequest()
        spec = _merged(_default_cluster_spec(heartbeat_period), asked.spec)
        if asked.auto_lock_managers:
            spec = replace(spec, encryption_config={"AutoLockManagers": True})
        _validate_cluster_spec(spec)
        pools = asked.default_addr_pool or [DEFAULT_POOL]
        subnet_size = asked.subnet_size or DEFAULT_SUBNET_SIZE
        try:
            check_pools(pools, subnet_size)
        except IpamError as error:
            raise InvalidArgument(str(error), rpc=False) from None
        self._root = root

        def init(tx: Tx) -> Cluster:
            existing = get_cluster(tx)
            if existing is not None:
                if (existing.tls_info or {}).get("TrustRoot") == root.cert_pem.decode():
                    return existing
                tokens = JoinTokens(worker=self._join_token(), manager=self._join_token())
                return tx.update(replace(existing, tls_info=tls_info(root), join_tokens=tokens))
            cluster = Cluster(
                id=self._ids.new_id(),
                spec=spec,
                tls_info=tls_info(root),
                join_tokens=JoinTokens(worker=self._join_token(), manager=self._join_token()),
                default_addr_pool=pools,
                subnet_size=subnet_size,
                data_path_port=asked.data_path_port or 4789,
            )
            create_network(tx, nets.ingress_network(self._ids.new_id()))
            for network in nets.predefined_networks(self._ids.new_id(), self._ids.new_id()):
                create_network(tx, network)
            return tx.create(cluster)

        return self._store.update(init)

    def set_root_rotation(
        self, tls: dict[str, str], in_progress: bool, root: RootCA | None = None
    ) -> Cluster:
        """A root rotation's progress: the swarm's ``TLSInfo``, whether one is under way, and
        at its end the new ``root``, which new join tokens pin."""
        if root is not None:
            self._root = root

        def update(tx: Tx) -> Cluster:
            cluster = get_cluster(tx)
            if cluster is None:
                raise FailedPrecondition("This node is not a swarm manager.")
            tokens = cluster.join_tokens
            if root is not None:
                tokens = JoinTokens(worker=self._join_token(), manager=self._join_token())
            changed = replace(
                cluster, tls_info=tls, root_rotation_in_progress=in_progress, join_tokens=tokens
            )
            return tx.update(changed)

        return self._store.update(update)

    def _join_token(self) -> str:
        if self._root is None:
            raise FailedPrecondition("This node is not a swarm manager.")
        return join_token(self._root, bytes.fromhex(self._ids.token_hex(16)))

    def update_cluster(
        self, version: int, spec: ClusterSpec, rotate: SwarmRotations | None = None
    ) -> Cluster:
        """Changes the swarm's settings (``docker swarm update``) and rotates join tokens."""
        _validate_cluster_spec(spec)

        def update(tx: Tx) -> Cluster:
            cluster = get_cluster(tx)
            if cluster is None:
                raise FailedPrecondition("This node is not a swarm manager.")
            if cluster.version.index != version:
                raise SequenceConflict()
            tokens = cluster.join_tokens or JoinTokens()
            if rotate is not None and rotate.worker_token:
                tokens = replace(tokens, worker=self._join_token())
            if rotate is not None and rotate.manager_token:
                tokens = replace(tokens, manager=self._join_token())
            return tx.update(replace(cluster, spec=spec, join_tokens=tokens))

        return self._store.update(update)

    def get_cluster(self) -> Cluster:
        cluster = self._store.view(get_cluster)
        if cluster is None:
            raise FailedPrecondition("This node is not a swarm manager.")
        return cluster

    # Nodes.

    def join_node(
        self,
        hostname: str,
        role: NodeRole = NodeRole.WORKER,
        resources: NodeResources | None = None,
        addr: str = "",
        leader: bool = False,
        labels: dict[str, str] | None = None,
        description: NodeDescription | None = None,
        manager_addr: str = "",
    ) -> Node:
        """Adds a node, as a join with a token does. It is UNKNOWN until its agent registers.

        ``description`` is what the node says of itself; without one, ``resources`` make it.
        A manager's swarm port is at ``manager_addr`` (``addr``:2377 if not given).
        """
        resources = resources or NodeResources()
        node = Node(
            id=self._ids.new_id(),
            spec=NodeSpec(labels=labels or {}, role=role, availability=Availability.ACTIVE),
            description=description or resources.description(hostname),
            status=NodeStatus(state=NodeState.UNKNOWN, addr=addr or None),
            manager_status=_manager_status(role, leader, manager_addr or addr),
        )
        return self._store.update(lambda tx: create_node(tx, node))

    def admit_node(self, role: NodeRole, availability: Availability | None = None) -> Node:
        """A node that showed a valid join token, as SwarmKit's CA admits one: a new ID and the
        token's role. It is UNKNOWN, and says nothing of itself, until its agent registers."""
        node = Node(
            id=self._ids.new_id(),
            spec=NodeSpec(labels={}, role=role, availability=availability or Availability.ACTIVE),
            status=NodeStatus(state=NodeState.UNKNOWN),
            manager_status=_manager_status(role, False, ""),
        )
        return self._store.update(lambda tx: create_node(tx, node))

    def get_node(self, reference: str) -> Node:
        return self._store.view(lambda tx: _resolve(tx, Node, reference, "node"))

    def list_nodes(self) -> list[Node]:
        return self._store.view(lambda tx: find_nodes(tx, by.all()))

    def update_node(self, reference: str, version: int, spec: NodeSpec) -> Node:
        validate_node_spec(spec)

        def update(tx: Tx) -> Node:
            node = _resolve(tx, Node, reference, "node")
            if node.version.index != version:
                raise SequenceConflict()
            manager_status = node.manager_status
            if spec.role == NodeRole.MANAGER != node.spec.role and not self._promotion:
                raise FailedPrecondition(ONE_MANAGER)
            if spec.role != node.spec.role:
                if spec.role == NodeRole.WORKER:
                    managers = [
                        n for n in find_nodes(tx, by.all()) if n.spec.role == NodeRole.MANAGER
                    ]
                    if len(managers) <= 1:
                        raise FailedPrecondition(
                            "attempting to demote the last manager of the swarm"
                        )
                    if manager_status is not None and manager_status.leader:
                        raise FailedPrecondition(
                            "the leader cannot be demoted: this manager leads the swarm"
                        )
                manager_status = _manager_status(
                    spec.role or NodeRole.WORKER, False, node.status.addr or ""
                )
            return update_node(tx, replace(node, spec=spec, manager_status=manager_status))

        return self._store.update(update)

    def remove_node(self, reference: str, force: bool = False) -> None:
        def remove(tx: Tx) -> None:
            node = _resolve(tx, Node, reference, "node")
            if node.spec.role == NodeRole.MANAGER:
                raise FailedPrecondition(
                    f"node {node.id} is a cluster manager and is a member of the raft cluster. "
                    "It must be demoted to worker before removal"
                )
            if node.status.state == NodeState.READY and not force:
                raise FailedPrecondition(f"node {node.id} is not down and can't be removed")
            orphaned = TaskStatus(
                state=TaskState.ORPHANED,
                message="Task belonged to a node that has been deleted",
                timestamp=format_timestamp(self._clock.time()),
            )
            for task in find_tasks(tx, by.node_id(node.id)):
                if task.status.state <= TaskState.RUNNING:
                    update_task(tx, replace(task, status=orphaned))
            delete_node(tx, node.id)

        self._store.update(remove)

    # Services.

    def create_service(self, spec: ServiceSpec) -> Service:
        """Creates a service; raises InvalidArgument or AlreadyExists (name conflict)."""
        validate_for_daemon(spec)
        if not spec.name:
            spec = replace(spec, name=self._free_name())
        spec = _with_defaults(spec)
        validate_service_spec(spec)

        def create(tx: Tx) -> Service:
            resolved = nets.resolve_service_networks(tx, spec)
            check_port_conflicts(tx, resolved, "")
            secrets.check_references(tx, resolved)
            service = Service(
                id=self._ids.new_id(), spec=resolved, job_status=self._run(None, resolved)
            )
            return create_service(tx, service)

        return self._store.update(create)

    def _free_name(self) -> str:
        while True:
            name = random_name(self._names)
            taken = self._store.view(functools.partial(find_services, selector=by.name(name)))
            if not taken:
                return name

    def get_service(self, reference: str) -> Service:
        return self._store.view(lambda tx: _resolve(tx, Service, reference, "service"))

    def list_services(self) -> list[Service]:
        return self._store.view(lambda tx: find_services(tx, by.all()))

    def update_service(
        self, reference: str, version: int, spec: ServiceSpec | None, rollback: bool = False
    ) -> Service:
        """Updates a service to ``spec``, or back to its previous spec with ``rollback``.

        Raises:
            SequenceConflict: ``version`` is not the service's current version.
            FailedPrecondition: a rollback of a service with no previous spec.
            Unimplemented: a change of mode or of name.
        """
        if not rollback:
            if spec is None:
                raise InvalidArgument("spec must be provided")
            validate_for_daemon(spec)
            spec = _with_defaults(spec)
            validate_service_spec(spec)

        def update(tx: Tx) -> Service:
            service = _resolve(tx, Service, reference, "service")
            if service.version.index != version:
                raise SequenceConflict()
            if rollback:
                if service.previous_spec is None:
                    raise FailedPrecondition(f"service {service.id} does not have a previous spec")
                status = UpdateStatus(
                    state="rollback_started",
                    message="manually requested rollback",
                    started_at=format_timestamp(self._clock.time()),
                )
                changed = replace(
                    service,
                    spec=service.previous_spec,
                    previous_spec=service.spec,
                    update_status=status,
                    job_status=self._run(service, service.previous_spec),
                )
                return update_service(tx, changed)
            assert spec is not None
            if defaults.mode_name(spec) != defaults.mode_name(service.spec):
                raise Unimplemented("service mode change is not allowed")
            if (spec.name or "") != (service.spec.name or ""):
                raise Unimplemented("renaming services is not supported")
            resolved = nets.resolve_service_networks(tx, spec)
            check_port_conflicts(tx, resolved, service.id)
            secrets.check_references(tx, resolved)
            changed = replace(
                service,
                spec=resolved,
                previous_spec=service.spec,
                update_status=None,
                job_status=self._run(service, resolved),
            )
            return update_service(tx, changed)

        return self._store.update(update)

    def _run(self, service: Service | None, spec: ServiceSpec) -> JobStatus | None:
        """A job's next run, as ``spec`` makes it: its first, or the one after ``service``'s
        (each update of a job starts one); None for a service that is not a job."""
        if not defaults.is_job(spec):
            return None
        ran = service.job_status if service is not None else None
        return JobStatus(
            job_iteration=Version(index=0 if ran is None else ran.job_iteration.index + 1),
            last_execution=format_timestamp(self._clock.time()),
        )

    def remove_service(self, reference: str) -> None:
        def remove(tx: Tx) -> None:
            service = _resolve(tx, Service, reference, "service")
            delete_service(tx, service.id)

        self._store.update(remove)

    # Networks.

    def create_network(self, request: NetworkCreateRequest) -> Network:
        """Creates a swarm network (``docker network create -d overlay``); the allocator
        gives it its subnet.

        Raises:
            InvalidArgument, NotFound, AlreadyExists, PermissionDenied: with dockerd's and
                SwarmKit's words; nothing was written.
        """
        spec = nets.network_spec(request)

        def create(tx: Tx) -> Network:
            nets.check_new_network(tx, spec)
            return create_network(tx, Network(id=self._ids.new_id(), spec=spec))

        return self._store.update(create)

    def get_network(self, reference: str) -> Network:
        """A swarm network by ID, name or unique ID prefix."""
        return self._store.view(lambda tx: nets.resolve_network(tx, reference))

    def list_networks(self) -> list[Network]:
        """The swarm's networks, but its own ``bridge`` and ``host``, as dockerd lists them."""
        return self._store.view(
            lambda tx: [n for n in find_networks(tx, by.all()) if not nets.is_predefined(n)]
        )

    def remove_network(self, reference: str) -> None:
        """Removes a swarm network no service or task uses.

        Raises:
            FailedPrecondition: it is in use ("network X is in use by service Y").
        """

        def remove(tx: Tx) -> None:
            network = nets.resolve_network(tx, reference)
            nets.check_removable(tx, network)
            delete_network(tx, network.id)

        self._store.update(remove)

    def prune_networks(self, chosen: Callable[[Network], bool]) -> list[str]:
        """Removes the swarm networks ``chosen`` that nothing uses (never the ingress network);
        returns their names."""

        def prune(tx: Tx) -> list[str]:
            removed = []
            in_use = nets.networks_in_use(tx)
            for network in sorted(find_networks(tx, by.all()), key=lambda n: n.id):
                if (
                    nets.is_ingress(network)
                    or nets.is_predefined(network)
                    or network.id in in_use
                    or not chosen(network)
                ):
                    continue
                delete_network(tx, network.id)
                removed.append(network.name)
            return removed

        return self._store.update(prune)

    # Secrets and configs: ``kind`` is secrets.SECRETS or secrets.CONFIGS.

    def create_item(self, kind: Kind[KindT], request: DataRequest) -> KindT:
        """Creates a secret or config (``docker secret create``).

        Raises:
            InvalidArgument, AlreadyExists ("secret X already exists"), EngineError: with
                SwarmKit's and dockerd's words; nothing was written.
        """
        spec = secrets.new_spec(kind, request)

        def create(tx: Tx) -> KindT:
            if tx.find(kind.kind, by.name(spec.name or "")):
                raise AlreadyExists(f"{kind.word} {spec.name} already exists")
            return tx.create(kind.make(self._ids.new_id(), spec))

        return self._store.update(create)

    def get_item(self, kind: Kind[KindT], reference: str) -> KindT:
        """A secret or config by ID, name or unique ID prefix. A secret has its data in it:
        never show it."""
        return self._store.view(lambda tx: secrets.resolve(tx, kind, reference))

    def list_items(self, kind: Kind[KindT]) -> list[KindT]:
        return self._store.view(lambda tx: tx.find(kind.kind, by.all()))

    def update_item(
        self, kind: Kind[KindT], reference: str, version: int, request: DataRequest
    ) -> KindT:
        """Changes a secret's or config's labels, the only part of either that may change.

        Raises:
            NotFound, InvalidArgument ("only updates to Labels are allowed"),
                SequenceConflict: nothing was written.
        """

        def update(tx: Tx) -> KindT:
            current = secrets.resolve(tx, kind, reference)
            spec = secrets.check_update(kind, current, version, request)
            return tx.update(replace(current, spec=spec))

        return self._store.update(update)

    def remove_item(self, kind: Kind[KindT], reference: str) -> None:
        """Removes a secret or config no service refers to.

        Raises:
            NotFound, InvalidArgument ("secret 'X' is in use by the following service: Y"):
                nothing was written.
        """

        def remove(tx: Tx) -> None:
            found = secrets.resolve(tx, kind, reference)
            secrets.check_removable(tx, kind, found)
            tx.delete(kind.kind, found.id)

        self._store.update(remove)

    def dependency(self, dependency_id: str) -> Secret | Config | None:
        """A secret or config by its ID, for a node whose task mounts it (the dispatcher's
        part in SwarmKit); None once it is gone."""
        return self._store.view(
            lambda tx: tx.get(Secret, dependency_id) or tx.get(Config, dependency_id)
        )

    # Tasks.

    def get_task(self, reference: str) -> Task:
        return self._store.view(lambda tx: _resolve(tx, Task, reference, "task"))

    def list_tasks(self, service_id: str | None = None) -> list[Task]:
        selector = by.service_id(service_id) if service_id else by.all()
        return self._store.view(lambda tx: find_tasks(tx, selector))

    def view(self, fn: Callable[[ReadTx], T]) -> T:
        return self._store.view(fn)


def _manager_status(role: NodeRole, leader: bool, addr: str) -> ManagerStatus | None:
    """A manager's status; ``addr`` is its swarm port's (``HOST:PORT``; 2377 when only the
    host is given)."""
    if role != NodeRole.MANAGER:
        return None
    if addr and not addr.rpartition(":")[2].isdigit():
        addr = f"{addr}:2377"
    return ManagerStatus(
        leader=leader or None, reachability=Reachability.REACHABLE, addr=addr or None
    )


def _with_defaults(spec: ServiceSpec) -> ServiceSpec:
    """Fills in what the Docker daemon fills in before a spec reaches SwarmKit."""
    mode = spec.mode
    if defaults.mode_name(spec) == "replicated" and (
        mode is None or mode.replicated is None or mode.replicated.replicas is None
    ):
        mode = ServiceMode(replicated=ReplicatedService(replicas=1))
    task = spec.task_template or TaskSpec()
    if task.runtime is None and task.plugin_spec is None:
        task = replace(task, runtime="container")
    if task.force_update is None:
        task = replace(task, force_update=0)
    container = task.container_spec
    if container is not None and container.mounts:
        mounts = [_known_mount_type(mount) for mount in container.mounts]
        task = replace(task, container_spec=replace(container, mounts=mounts))
    endpoint = spec.endpoint_spec or EndpointSpec(mode="vip")
    if not endpoint.mode:
        endpoint = replace(endpoint, mode="vip")
    if endpoint.ports:
        endpoint = replace(endpoint, ports=[_known_port_kinds(port) for port in endpoint.ports])
    return replace(
        spec,
        mode=mode,
        task_template=task,
        endpoint_spec=endpoint,
        update_config=_set_update(spec.update_config),
        rollback_config=_set_update(spec.rollback_config),
    )


def _known_port_kinds(port: PortConfig) -> PortConfig:
    """A port's protocol and publish mode as moby reads them: whatever the case, and TCP and
    ingress for what it does not know (the zero values of SwarmKit's enumerations)."""
    protocol = (port.protocol or "").upper()
    publish_mode = (port.publish_mode or "").upper()
    return replace(
        port,
        protocol=(protocol if protocol in PROTOCOLS else "TCP").lower(),
        publish_mode=(publish_mode if publish_mode in PUBLISH_MODES else "INGRESS").lower(),
    )


def _known_mount_type(mount: Json) -> Json:
    """A mount's type as SwarmKit's enumeration names it back (``VOLUME`` reads ``volume``);
    moby refused one it does not know (validate_for_daemon), and an empty one is SwarmKit's
    zero value, a bind."""
    if not isinstance(mount, dict):
        return mount
    kind = str(json_field(mount, "Type") or "bind").lower()
    named = {key: value for key, value in mount.items() if key.lower() != "type"}
    return {"Type": kind, **named}


def _set_update(config: UpdateConfig | None) -> UpdateConfig | None:
    """An update config with the empty failure action and order Go's zero values leave, which
    the docker CLI sends, read as the daemon reads them: pause, stop-first."""
    if config is None:
        return None
    if config.failure_action == FailureAction.UNSET:
        config = replace(config, failure_action=FailureAction.PAUSE)
    if config.order == UpdateOrder.UNSET:
        config = replace(config, order=UpdateOrder.STOP_FIRST)
    return config


def _resolve(tx: ReadTx, kind: type[ObjectT], reference: str, what: str) -> ObjectT:
    """An object by full ID, then by name, then by unique ID prefix, as the Docker daemon does."""
    if not reference:
        raise InvalidArgument(f"{what} ID must be provided", rpc=False)
    found = tx.get(kind, reference)
    if found is not None:
        return found
    selectors = (
        [by.id_prefix(reference)] if kind is Task else [by.name(reference), by.id_prefix(reference)]
    )
    return the_one(what, reference, (tx.find(kind, selector) for selector in selectors))


def _default_cluster_spec(heartbeat_period: float) -> ClusterSpec:
    return ClusterSpec(
        name="default",
        labels={},
        orchestration={"TaskHistoryRetentionLimit": defaults.TASK_HISTORY_RETENTION_LIMIT},
        raft={
            "SnapshotInterval": 10000,
            "KeepOldSnapshots": 0,
            "LogEntriesForSlowFollowers": 500,
            "ElectionTick": 10,
            "HeartbeatTick": 1,
        },
        dispatcher={"HeartbeatPeriod": int(heartbeat_period * SECOND)},
        ca_config={"NodeCertExpiry": 90 * 24 * 3600 * SECOND},
        task_defaults={},
        encryption_config={"AutoLockManagers": False},
    )


# Raft ticks the docker CLI sends as 0 when not given: the daemon keeps its defaults (1 and 10).
_ZERO_IS_UNSET = frozenset({"ElectionTick", "HeartbeatTick"})


def _merged(spec: ClusterSpec, asked: ClusterSpec | None) -> ClusterSpec:
    """``spec`` with what ``asked`` sets: each section's keys over the default's."""
    if asked is None:
        return spec
    changes: dict[str, object] = {}
    for field in ClusterSpec.__struct_fields__:
        value = getattr(asked, field)
        if value is None:
            continue
        default = getattr(spec, field)
        if isinstance(value, dict) and isinstance(default, dict) and field != "labels":
            value = default | {
                key: item
                for key, item in value.items()
                if item is not None and not (item == 0 and key in _ZERO_IS_UNSET)
            }
        changes[field] = value
    return replace(spec, **changes)


def _validate_cluster_spec(spec: ClusterSpec) -> None:
    """The settings this engine acts on must be well formed; the rest is kept as given."""
    if spec.name not in (None, "", "default"):
        raise InvalidArgument('swarm spec must be named "default"', rpc=False)
    for section in (
        "orchestration",
        "raft",
        "dispatcher",
        "ca_config",
        "encryption_config",
        "task_defaults",
    ):
        value = getattr(spec, section)
        if value is not None and not isinstance(value, dict):
            raise InvalidArgument(f"SwarmSpec: {section} must be an object")
    period = (spec.dispatcher or {}).get("HeartbeatPeriod")
    if period is not None and period < 0:
        raise InvalidArgument("heartbeat time period cannot be a negative duration")
    ca_config = spec.ca_config or {}
    if ca_config.get("SigningCACert") or ca_config.get("SigningCAKey"):
        raise InvalidArgument(
            "this engine rotates to a root it makes itself: use docker swarm ca --rotate "
            "without --ca-cert and --ca-key"
        )
    forced = ca_config.get("ForceRotate")
    if forced is not None and (not isinstance(forced, int) or forced < 0):
        raise InvalidArgument("SwarmSpec: ForceRotate must be a positive integer")
    expiry = ca_config.get("NodeCertExpiry")
    if expiry is not None and (not isinstance(expiry, int) or expiry < 3600 * SECOND):
        raise InvalidArgument("minimum certificate expiry time is: 1h0m0s")
