"""What a user asks for: the specs of services, tasks and nodes (Engine API v1.41)."""

from __future__ import annotations

import enum

import msgspec

from engine.api.base import Json, Struct, UInt
from engine.api.types import Availability, NodeRole

__all__ = [
    "ContainerSpec",
    "EndpointSpec",
    "FailureAction",
    "GlobalService",
    "HealthConfig",
    "Limit",
    "LogDriver",
    "NodeSpec",
    "Placement",
    "PlacementPreference",
    "Platform",
    "PortConfig",
    "ReplicatedService",
    "ResourceObject",
    "ResourceRequirements",
    "RestartCondition",
    "RestartPolicy",
    "ServiceMode",
    "ServiceSpec",
    "SpreadOver",
    "TaskSpec",
    "UpdateConfig",
    "UpdateOrder",
]


class NodeSpec(Struct, frozen=True):
    name: str | None = None
    labels: dict[str, str] | None = None
    role: NodeRole | None = None
    availability: Availability | None = None


class Platform(Struct, frozen=True):
    architecture: str | None = None
    os: str | None = None


class HealthConfig(Struct, frozen=True):
    test: list[str] | None = None
    interval: int | None = None
    timeout: int | None = None
    retries: int | None = None
    start_period: int | None = None


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
    stop_grace_period: int | None = None
    healthcheck: HealthConfig | None = (
        None  # Docker writes "Healthcheck", its swagger "HealthCheck"
    )
    hosts: list[str] | None = None
    dns_config: Json = None
    secrets: list[Json] | None = None
    configs: list[Json] | None = None
    isolation: str | None = None
    init: bool | None = None
    sysctls: dict[str, str] | None = None
    capability_add: list[str] | None = None
    capability_drop: list[str] | None = None
    ulimits: list[Json] | None = None


class ResourceObject(Struct, frozen=True):
    nano_cpus: int | None = None
    memory_bytes: int | None = None
    generic_resources: list[Json] | None = None


class Limit(Struct, frozen=True):
    nano_cpus: int | None = None
    memory_bytes: int | None = None
    pids: int | None = None


class ResourceRequirements(Struct, frozen=True):
    limits: Limit | None = None
    reservations: ResourceObject | None = None


class RestartCondition(enum.Enum):
    NONE = "none"
    ON_FAILURE = "on-failure"
    ANY = "any"


class RestartPolicy(Struct, frozen=True):
    condition: RestartCondition | None = None
    delay: int | None = None
    max_attempts: UInt | None = None
    window: int | None = None


class SpreadOver(Struct, frozen=True):
    spread_descriptor: str | None = None


class PlacementPreference(Struct, frozen=True):
    spread: SpreadOver | None = None


class Placement(Struct, frozen=True):
    constraints: list[str] | None = None
    preferences: list[PlacementPreference] | None = None
    max_replicas: UInt | None = None
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
    force_update: UInt | None = None
    runtime: str | None = None
    networks: list[Json] | None = None
    log_driver: LogDriver | None = None


class ReplicatedService(Struct, frozen=True):
    replicas: UInt | None = None


class GlobalService(Struct, frozen=True):
    pass


class ServiceMode(Struct, frozen=True, forbid_unknown_fields=True):
    """Exactly one of the modes; an unknown mode is an error, not a silent default."""

    replicated: ReplicatedService | None = None
    global_: GlobalService | None = msgspec.field(default=None, name="Global")
    replicated_job: Json = None
    global_job: Json = None


class FailureAction(enum.Enum):
    CONTINUE = "continue"
    PAUSE = "pause"
    ROLLBACK = "rollback"


class UpdateOrder(enum.Enum):
    STOP_FIRST = "stop-first"
    START_FIRST = "start-first"


class UpdateConfig(Struct, frozen=True):
    parallelism: UInt | None = None
    delay: int | None = None
    failure_action: FailureAction | None = None
    monitor: int | None = None
    max_failure_ratio: float | None = None
    order: UpdateOrder | None = None


class PortConfig(Struct, frozen=True):
    name: str | None = None
    protocol: str | None = None
    target_port: UInt | None = None
    published_port: UInt | None = None
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
    networks: list[Json] | None = None
    endpoint_spec: EndpointSpec | None = None
