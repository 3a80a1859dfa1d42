"""What a user asks for: the specs of services, tasks and nodes (Engine API v1.41)."""

from __future__ import annotations

import enum
from typing import Annotated, ClassVar

import msgspec

from engine.api.base import Json, Struct
from engine.api.networks import NetworkAttachmentConfig
from engine.api.secrets import ConfigReference, SecretReference
from engine.api.types import Availability, NodeRole

__all__ = [
    "ContainerSpec",
    "Duration",
    "EndpointSpec",
    "FailureAction",
    "GlobalJob",
    "GlobalService",
    "GoInt",
    "HealthConfig",
    "Int64",
    "Limit",
    "LogDriver",
    "NodeSpec",
    "Placement",
    "PlacementPreference",
    "Platform",
    "PortConfig",
    "ReplicatedJob",
    "ReplicatedService",
    "ResourceObject",
    "ResourceRequirements",
    "RestartCondition",
    "RestartPolicy",
    "ServiceMode",
    "ServiceSpec",
    "SpreadOver",
    "TaskSpec",
    "UInt32",
    "UInt64",
    "UpdateConfig",
    "UpdateOrder",
]

# Numbers as the daemon's Go structs hold them. Its JSON decoder refuses a number its field's type
# cannot hold, naming the type in the error: ``extra`` carries that name and range for the codec.
# msgspec bounds what it can (its bounds stop at int64), and refuses a negative count itself.
_INT64 = (-(2**63), 2**63 - 1)
Duration = Annotated[
    int,
    msgspec.Meta(
        ge=_INT64[0], le=_INT64[1], extra={"go_type": "time.Duration", "go_range": _INT64}
    ),
]
Int64 = Annotated[
    int, msgspec.Meta(ge=_INT64[0], le=_INT64[1], extra={"go_type": "int64", "go_range": _INT64})
]
GoInt = Annotated[  # Go's int, 64 bits on the platforms Docker Engine ships for
    int, msgspec.Meta(ge=_INT64[0], le=_INT64[1], extra={"go_type": "int", "go_range": _INT64})
]
UInt64 = Annotated[int, msgspec.Meta(ge=0, extra={"go_type": "uint64", "go_range": (0, 2**64 - 1)})]
UInt32 = Annotated[
    int, msgspec.Meta(ge=0, le=2**32 - 1, extra={"go_type": "uint32", "go_range": (0, 2**32 - 1)})
]


class NodeSpec(Struct, frozen=True):
    name: str | None = None
    labels: dict[str, str] | None = None
    role: (
        Annotated[
            NodeRole, msgspec.Meta(extra={"unknown": "invalid Role: {quoted}", "any_case": True})
        ]
        | None
    ) = None
    availability: (
        Annotated[
            Availability,
            msgspec.Meta(extra={"unknown": "invalid Availability: {quoted}", "any_case": True}),
        ]
        | None
    ) = None


class Platform(Struct, frozen=True):
    architecture: str | None = None
    os: str | None = None


class HealthConfig(Struct, frozen=True):
    test: list[str] | None = None
    interval: Duration | None = None
    timeout: Duration | None = None
    retries: GoInt | None = None
    start_period: Duration | None = None


class ContainerSpec(Struct, frozen=True):
    image: str | None = None
    labels: dict[str, str] | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    hostname: str | None = None
    env: list[str] | None = None
    dir: str | None = None
    user: str | None = None
    groups: list[str] | None = None
    privileges: Json = None
    tty: bool | None = None
    open_stdin: bool | None = None
    read_only: bool | None = None
    mounts: list[Json] | None = None
    stop_signal: str | None = None
    stop_grace_period: Duration | None = None
    healthcheck: HealthConfig | None = (
        None  # Docker writes "Healthcheck", its swagger "HealthCheck"
    )
    hosts: list[str] | None = None
    dns_config: Json = None
    secrets: list[SecretReference] | None = None
    configs: list[ConfigReference] | None = None
    isolation: str | None = None
    init: bool | None = None
    sysctls: dict[str, str] | None = None
    capability_add: list[str] | None = None
    capability_drop: list[str] | None = None
    ulimits: list[Json] | None = None


class ResourceObject(Struct, frozen=True):
    go_name: ClassVar[str] = "Resources"  # moby's type, which its JSON errors name

    nano_cpus: Int64 | None = None
    memory_bytes: Int64 | None = None
    generic_resources: list[Json] | None = None


class Limit(Struct, frozen=True):
    nano_cpus: Int64 | None = None
    memory_bytes: Int64 | None = None
    pids: Int64 | None = None


class ResourceRequirements(Struct, frozen=True):
    limits: Limit | None = None
    reservations: ResourceObject | None = None


class RestartCondition(enum.Enum):
    NONE = "none"
    ON_FAILURE = "on-failure"
    ANY = "any"


class RestartPolicy(Struct, frozen=True):
    condition: (
        Annotated[
            RestartCondition, msgspec.Meta(extra={"unknown": "invalid RestartCondition: {quoted}"})
        ]
        | None
    ) = None
    delay: Duration | None = None
    max_attempts: UInt64 | None = None
    window: Duration | None = None


class SpreadOver(Struct, frozen=True):
    spread_descriptor: str | None = None


class PlacementPreference(Struct, frozen=True):
    spread: SpreadOver | None = None


class Placement(Struct, frozen=True):
    constraints: list[str] | None = None
    preferences: list[PlacementPreference] | None = None
    max_replicas: UInt64 | None = None
    platforms: list[Platform] | None = None


class LogDriver(Struct, frozen=True):
    name: str | None = None
    options: dict[str, str] | None = None


class TaskSpec(Struct, frozen=True):
    plugin_spec: Json = None
    container_spec: ContainerSpec | None = None
    network_attachment_spec: Json = None
    resources: ResourceRequirements | None = None
    restart_policy: RestartPolicy | None = None
    placement: Placement | None = None
    force_update: UInt64 | None = None
    runtime: str | None = None
    networks: list[NetworkAttachmentConfig] | None = None
    log_driver: LogDriver | None = None


class ReplicatedService(Struct, frozen=True):
    replicas: UInt64 | None = None


class GlobalService(Struct, frozen=True):
    pass


class ReplicatedJob(Struct, frozen=True):
    """Tasks run to completion, ``max_concurrent`` at a time (1 when unset), until
    ``total_completions`` completed (``max_concurrent`` when unset)."""

    max_concurrent: UInt64 | None = None
    total_completions: UInt64 | None = None


class GlobalJob(Struct, frozen=True):
    """A task run to completion on every eligible node."""


class ServiceMode(Struct, frozen=True):
    """One of the modes; the daemon refuses more than one and, as Go's decoder, leaves out a
    mode it does not know (none is replicated, one task)."""

    replicated: ReplicatedService | None = None
    global_: GlobalService | None = msgspec.field(default=None, name="Global")
    replicated_job: ReplicatedJob | None = None
    global_job: GlobalJob | None = None


class FailureAction(enum.Enum):
    CONTINUE = "continue"
    PAUSE = "pause"
    ROLLBACK = "rollback"
    UNSET = ""  # Go's zero value, which the docker CLI sends: the daemon reads it as pause


class UpdateOrder(enum.Enum):
    STOP_FIRST = "stop-first"
    START_FIRST = "start-first"
    UNSET = ""  # Go's zero value, which the docker CLI sends: the daemon reads it as stop-first


class UpdateConfig(Struct, frozen=True):
    parallelism: UInt64 | None = None
    delay: Duration | None = None
    failure_action: (
        Annotated[
            FailureAction,
            msgspec.Meta(extra={"unknown": "unrecognized update failure action {value}"}),
        ]
        | None
    ) = None
    monitor: Duration | None = None
    max_failure_ratio: float | None = None
    order: (
        Annotated[UpdateOrder, msgspec.Meta(extra={"unknown": "unrecognized update order {value}"})]
        | None
    ) = None


class PortConfig(Struct, frozen=True):
    name: str | None = None
    protocol: str | None = None
    target_port: UInt32 | None = None
    published_port: UInt32 | None = None
    publish_mode: str | None = None


class EndpointSpec(Struct, frozen=True):
    mode: str | None = None
    ports: list[PortConfig] | None = None


class ServiceSpec(Struct, frozen=True):
    name: str | None = None
    labels: dict[str, str] | None = None
    task_template: TaskSpec | None = None
    mode: ServiceMode | None = None
    update_config: UpdateConfig | None = None
    rollback_config: UpdateConfig | None = None
    networks: list[NetworkAttachmentConfig] | None = None  # deprecated: TaskTemplate.Networks
    endpoint_spec: EndpointSpec | None = None
