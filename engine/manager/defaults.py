"""SwarmKit's defaults (api/defaults/service.go) and the effective values of optional fields."""

from __future__ import annotations

from dataclasses import dataclass

from msgspec.structs import replace

from engine.api.durations import SECOND
from engine.api.objects import Cluster
from engine.api.specs import (
    FailureAction,
    Placement,
    ResourceRequirements,
    RestartCondition,
    RestartPolicy,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
    UpdateOrder,
)

__all__ = [
    "HEARTBEAT_PERIOD",
    "TASK_HISTORY_RETENTION_LIMIT",
    "Restart",
    "Update",
    "effective_restart",
    "effective_update",
    "heartbeat_period",
    "interpolate_service",
    "replicas",
    "task_history_limit",
]

HEARTBEAT_PERIOD = 5.0  # seconds; SwarmKit's DefaultHeartBeatPeriod
TASK_HISTORY_RETENTION_LIMIT = 5  # SwarmKit's defaultTaskHistoryRetentionLimit
# SwarmKit's defaults.Service (api/defaults/service.go), for what a spec leaves out:
RESTART_DELAY = 5 * SECOND
UPDATE_MONITOR = 5 * SECOND
STOP_GRACE_PERIOD = 10 * SECOND


@dataclass(frozen=True, slots=True)
class Restart:
    condition: RestartCondition
    delay: float  # seconds
    max_attempts: int
    window: float  # seconds; 0 is unbounded


def effective_restart(spec: TaskSpec) -> Restart:
    """The task's restart policy with SwarmKit's defaults for what it leaves out."""
    policy = spec.restart_policy
    if policy is None:
        return Restart(RestartCondition.ANY, RESTART_DELAY / SECOND, 0, 0.0)
    delay = policy.delay if policy.delay is not None else RESTART_DELAY
    return Restart(
        policy.condition or RestartCondition.ANY,
        delay / SECOND,
        policy.max_attempts or 0,
        (policy.window or 0) / SECOND,
    )


@dataclass(frozen=True, slots=True)
class Update:
    parallelism: int
    delay: float
    failure_action: FailureAction
    monitor: float
    max_failure_ratio: float
    order: UpdateOrder


def effective_update(config: UpdateConfig | None) -> Update:
    """An UpdateConfig or RollbackConfig with SwarmKit's defaults for what it leaves out."""
    config = config or UpdateConfig(parallelism=1)
    return Update(
        parallelism=config.parallelism or 0,
        delay=(config.delay or 0) / SECOND,
        failure_action=config.failure_action or FailureAction.PAUSE,
        # moby sends SwarmKit no Monitor for 0, so 0 is the default too, not "do not watch"
        monitor=(config.monitor or UPDATE_MONITOR) / SECOND,
        max_failure_ratio=config.max_failure_ratio or 0.0,
        order=config.order or UpdateOrder.STOP_FIRST,
    )


def interpolate_service(spec: ServiceSpec) -> ServiceSpec:
    """``spec`` as a manager shows it for ``insertDefaults=true``: SwarmKit's
    defaults.InterpolateService fills in what the spec leaves out, and moby's conversion to the
    Engine API writes every field of a restart policy and an update config it has no
    ``omitempty`` for. The previous spec is shown as stored, as the daemon does.
    """
    task = spec.task_template or TaskSpec()
    container = task.container_spec
    if container is not None:
        container = replace(
            container,
            stop_grace_period=(
                STOP_GRACE_PERIOD
                if container.stop_grace_period is None
                else container.stop_grace_period
            ),
            dns_config={} if container.dns_config is None else container.dns_config,
        )
    policy = task.restart_policy or RestartPolicy()
    restart = replace(
        policy,
        condition=policy.condition or RestartCondition.ANY,
        delay=RESTART_DELAY if policy.delay is None else policy.delay,
        max_attempts=policy.max_attempts or 0,
    )
    task = replace(
        task,
        container_spec=container,
        resources=task.resources or ResourceRequirements(),
        restart_policy=restart,
        placement=task.placement or Placement(),
    )
    return replace(
        spec,
        task_template=task,
        update_config=_interpolate_update(spec.update_config),
        rollback_config=_interpolate_update(spec.rollback_config),
    )


def _interpolate_update(config: UpdateConfig | None) -> UpdateConfig:
    if config is None:
        return UpdateConfig(
            parallelism=1,
            failure_action=FailureAction.PAUSE,
            monitor=UPDATE_MONITOR,
            max_failure_ratio=0.0,
            order=UpdateOrder.STOP_FIRST,
        )
    return replace(
        config,
        parallelism=config.parallelism or 0,
        failure_action=config.failure_action or FailureAction.PAUSE,
        monitor=config.monitor or UPDATE_MONITOR,
        max_failure_ratio=config.max_failure_ratio or 0.0,
        order=config.order or UpdateOrder.STOP_FIRST,
    )


def replicas(spec: ServiceSpec) -> int:
    """Desired replicas of a replicated service; 1 when the spec names no count (moby's default)."""
    if spec.mode is None or spec.mode.replicated is None:
        return 1
    count = spec.mode.replicated.replicas
    return 1 if count is None else count


def is_global(spec: ServiceSpec) -> bool:
    return spec.mode is not None and spec.mode.global_ is not None


def is_job(spec: ServiceSpec) -> bool:
    """Whether the service runs a job (replicated or global): tasks run to completion."""
    mode = spec.mode
    return mode is not None and (mode.replicated_job is not None or mode.global_job is not None)


def mode_name(spec: ServiceSpec) -> str:
    """``replicated``, ``global``, ``replicated-job`` or ``global-job``."""
    mode = spec.mode
    if mode is not None and mode.global_ is not None:
        return "global"
    if mode is not None and mode.replicated_job is not None:
        return "replicated-job"
    if mode is not None and mode.global_job is not None:
        return "global-job"
    return "replicated"


def per_node(spec: ServiceSpec) -> bool:
    """Whether the service has a task per node (global, global job), not numbered slots."""
    return mode_name(spec) in ("global", "global-job")


def job_concurrency(spec: ServiceSpec) -> tuple[int, int]:
    """A replicated job's most tasks at once and its completions (SwarmKit's defaults: 1, and
    as many as at once)."""
    job = spec.mode.replicated_job if spec.mode is not None else None
    most = (job.max_concurrent if job is not None else None) or 1
    total = job.total_completions if job is not None else None
    return most, most if total is None else total


def task_history_limit(cluster: Cluster | None) -> int:
    orchestration = cluster.spec.orchestration if cluster else None
    if isinstance(orchestration, dict) and "TaskHistoryRetentionLimit" in orchestration:
        return int(orchestration["TaskHistoryRetentionLimit"])
    return TASK_HISTORY_RETENTION_LIMIT


def heartbeat_period(cluster: Cluster | None) -> float:
    dispatcher = cluster.spec.dispatcher if cluster else None
    if isinstance(dispatcher, dict) and dispatcher.get("HeartbeatPeriod"):
        return int(dispatcher["HeartbeatPeriod"]) / SECOND
    return HEARTBEAT_PERIOD
