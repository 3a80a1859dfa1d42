"""The swarm's objects as the Engine API shows them: Node, Service, Task, Network, Secret,
Config and the Cluster (Swarm).

Each has an ``id``, a ``version`` (``Version.Index``, the store's commit index of the last write)
and ``created_at``/``updated_at``. ``spec`` is what the user asked for; the rest is what happened.
"""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from engine.api.base import Json, Struct, UInt
from engine.api.networks import Driver, EndpointVirtualIP, IPAMOptions, NetworkSpec
from engine.api.secrets import ConfigSpec, SecretSpec
from engine.api.specs import (
    Duration,
    EndpointSpec,
    GoInt,
    Int64,
    NodeSpec,
    Platform,
    PortConfig,
    ResourceObject,
    ServiceSpec,
    TaskSpec,
    UInt64,
)
from engine.api.types import NodeState, Reachability, TaskState

__all__ = [
    "Cluster",
    "ClusterSpec",
    "Config",
    "ContainerStatus",
    "Endpoint",
    "EngineDescription",
    "JobStatus",
    "JoinTokens",
    "ManagerStatus",
    "Network",
    "NetworkAttachment",
    "Node",
    "NodeDescription",
    "NodeStatus",
    "Object",
    "Secret",
    "Service",
    "ServiceStatus",
    "Task",
    "TaskStatus",
    "UpdateStatus",
    "Version",
]


class Version(Struct, frozen=True, kw_only=True):
    index: UInt


class Object(Struct, frozen=True):
    """What every stored object has. Subclasses add ``spec`` and their status fields."""

    id: str = ""
    version: Version = msgspec.field(default_factory=lambda: Version(index=0))
    created_at: str | None = None
    updated_at: str | None = None


class EngineDescription(Struct, frozen=True):
    engine_version: str | None = None
    labels: dict[str, str] | None = None
    plugins: list[Json] | None = None


class NodeDescription(Struct, frozen=True):
    hostname: str | None = None
    platform: Platform | None = None
    resources: ResourceObject | None = None
    engine: EngineDescription | None = None
    tls_info: Json = None


class NodeStatus(Struct, frozen=True, kw_only=True):
    state: NodeState
    message: str | None = None
    addr: str | None = None


class ManagerStatus(Struct, frozen=True):
    leader: bool | None = None
    reachability: Reachability | None = None
    addr: str | None = None


class Node(Object, frozen=True):
    spec: NodeSpec = msgspec.field(default_factory=NodeSpec)
    description: NodeDescription | None = None
    status: NodeStatus = msgspec.field(default_factory=lambda: NodeStatus(state=NodeState.UNKNOWN))
    manager_status: ManagerStatus | None = None

    @property
    def hostname(self) -> str:
        """The hostname the node reported, "" before it reported one."""
        return (self.description.hostname if self.description else None) or ""


class Endpoint(Struct, frozen=True):
    spec: EndpointSpec | None = None
    ports: list[PortConfig] | None = None
    virtual_ips: list[EndpointVirtualIP] | None = None


class UpdateStatus(Struct, frozen=True):
    state: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    message: str | None = None


class ServiceStatus(Struct, frozen=True, kw_only=True):
    """Always written in full, as Docker does (no field is left out when zero)."""

    running_tasks: UInt
    desired_tasks: UInt
    completed_tasks: UInt


class JobStatus(Struct, frozen=True):
    """A job's runs: the one under way (a new one with every update), and when it began."""

    job_iteration: Version = msgspec.field(default_factory=lambda: Version(index=0))
    last_execution: str | None = None


class Service(Object, frozen=True):
    spec: ServiceSpec = msgspec.field(default_factory=ServiceSpec)
    previous_spec: ServiceSpec | None = None
    endpoint: Endpoint | None = None
    update_status: UpdateStatus | None = None
    service_status: ServiceStatus | None = None
    job_status: JobStatus | None = None


class ContainerStatus(Struct, frozen=True):
    container_id: str | None = None
    pid: int | None = None
    exit_code: int | None = None


class TaskStatus(Struct, frozen=True, kw_only=True):
    state: TaskState
    timestamp: str | None = None
    message: str | None = None
    err: str | None = None
    container_status: ContainerStatus | None = None
    port_status: Json = None


class Task(Object, frozen=True, kw_only=True):
    name: str | None = None
    labels: dict[str, str] | None = None
    spec: TaskSpec = msgspec.field(default_factory=TaskSpec)
    service_id: str = ""
    slot: UInt = 0
    node_id: str = ""
    assigned_generic_resources: list[Json] | None = None
    status: TaskStatus = msgspec.field(default_factory=lambda: TaskStatus(state=TaskState.NEW))
    desired_state: TaskState
    networks_attachments: list[NetworkAttachment] | None = None
    job_iteration: Version | None = None  # a job's run this task belongs to

    @property
    def meant_to_run(self) -> bool:
        """Whether the task is meant to run, or to run to completion (a job's): its desired
        state is at most COMPLETE, not SHUTDOWN or REMOVE."""
        return self.desired_state <= TaskState.COMPLETE


class Network(Object, frozen=True):
    """A swarm-scoped network. ``driver_state`` and ``ipam_options`` are what the allocator
    gave it (the driver, its VXLAN IDs, the subnets and gateways); both are unset until then."""

    spec: NetworkSpec = msgspec.field(default_factory=NetworkSpec)
    driver_state: Driver | None = None
    ipam_options: IPAMOptions | None = None

    @property
    def name(self) -> str:
        return self.spec.name or ""


class NetworkAttachment(Struct, frozen=True):
    """A task's place on a network: the network as it was when the task was allocated, and
    the task's addresses on it (``10.0.1.5/24``)."""

    network: Network | None = None
    addresses: list[str] | None = None


class Secret(Object, frozen=True):
    """A secret: its spec holds its data, which no API answer shows (see engine.api.secrets)."""

    spec: SecretSpec = msgspec.field(default_factory=SecretSpec)

    @property
    def name(self) -> str:
        return self.spec.name or ""


class Config(Object, frozen=True):
    spec: ConfigSpec = msgspec.field(default_factory=ConfigSpec)

    @property
    def name(self) -> str:
        return self.spec.name or ""


class JoinTokens(Struct, frozen=True):
    worker: str | None = None
    manager: str | None = None


# The sections of a swarm's spec, as the daemon's Go structs type them: a section is kept as the
# JSON it was given (only some settings are acted on), checked against its shape on the way in.


class OrchestrationConfig(Struct, frozen=True):
    task_history_retention_limit: Int64 | None = None


class RaftConfig(Struct, frozen=True):
    snapshot_interval: UInt64 | None = None
    keep_old_snapshots: UInt64 | None = None
    log_entries_for_slow_followers: UInt64 | None = None
    election_tick: GoInt | None = None
    heartbeat_tick: GoInt | None = None


class DispatcherConfig(Struct, frozen=True):
    heartbeat_period: Duration | None = None


class ExternalCAProtocol(enum.Enum):
    CFSSL = "cfssl"


class ExternalCA(Struct, frozen=True):
    protocol: (
        Annotated[
            ExternalCAProtocol,
            msgspec.Meta(extra={"unknown": "invalid protocol: {quoted}", "any_case": True}),
        ]
        | None
    ) = None
    url: str | None = None
    options: dict[str, str] | None = None
    ca_cert: str | None = None


class CAConfig(Struct, frozen=True):
    node_cert_expiry: Duration | None = None
    external_cas: list[ExternalCA] | None = msgspec.field(default=None, name="ExternalCAs")
    signing_ca_cert: str | None = None
    signing_ca_key: str | None = None
    force_rotate: UInt64 | None = None


class EncryptionConfig(Struct, frozen=True):
    auto_lock_managers: bool | None = None


class TaskDefaults(Struct, frozen=True):
    log_driver: Json = None


# A section kept as JSON, read in as the Go struct ``extra["go_shape"]`` names.
Orchestration = Annotated[Json, msgspec.Meta(extra={"go_shape": OrchestrationConfig})]
Raft = Annotated[Json, msgspec.Meta(extra={"go_shape": RaftConfig})]
Dispatcher = Annotated[Json, msgspec.Meta(extra={"go_shape": DispatcherConfig})]
CA = Annotated[Json, msgspec.Meta(extra={"go_shape": CAConfig})]
Encryption = Annotated[Json, msgspec.Meta(extra={"go_shape": EncryptionConfig})]
Defaults = Annotated[Json, msgspec.Meta(extra={"go_shape": TaskDefaults})]


class ClusterSpec(Struct, frozen=True):
    name: str | None = None
    labels: dict[str, str] | None = None
    orchestration: Orchestration = None
    raft: Raft = None
    dispatcher: Dispatcher = None
    ca_config: CA = None
    encryption_config: Encryption = None
    task_defaults: Defaults = None


class Cluster(Object, frozen=True):
    """The swarm itself (``GET /swarm``): its spec, join tokens and TLS information."""

    spec: ClusterSpec = msgspec.field(default_factory=ClusterSpec)
    tls_info: Json = None
    root_rotation_in_progress: bool | None = None
    data_path_port: int | None = None
    default_addr_pool: list[str] | None = None
    subnet_size: int | None = None
    join_tokens: JoinTokens | None = None
