"""SwarmKit's defaults (api/defaults/service.go) and the effective values of optional fields."""

from __future__ import annotations

from dataclasses import dataclass

from engine.api.durations import SECOND
from engine.api.objects import Cluster
from engine.api.specs import (
    FailureAction,
    RestartCondition,
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
    "replicas",
    "task_history_limit",
]

HEARTBEAT_PERIOD = 5.0  # seconds; SwarmKit's DefaultHeartBeatPeriod
TASK_HISTORY_RETENTION_LIMIT = 5  # SwarmKit's defaultTaskHistoryRetentionLimit
RESTART_DELAY = 5 * SECOND
UPDATE_MONITOR = 5 * SECOND


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
        monitor=(config.monitor if config.monitor is not None else UPDATE_MONITOR) / SECOND,
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
