"""How a simulated container behaves: read from its container labels and its image.

Set the labels on the service (``docker service create --container-label ...``):

===================================  ======================================================
``swarmdeck.sim.exit-code``          exit with this code (after ``exit-after``, else at once)
``swarmdeck.sim.exit-after``         run this long, then exit (code 0 unless ``exit-code``)
``swarmdeck.sim.crash-loop``         exit with code 1 after this long, every time
``swarmdeck.sim.start-error``        fail to start with this message (the task FAILS)
``swarmdeck.sim.pull-error``         fail to pull with this message (the task is REJECTED)
``swarmdeck.sim.pull-time``          a pull that takes this long (default 1-3 s the first time)
``swarmdeck.sim.health``             ``unhealthy``: every health probe fails
``swarmdeck.sim.unhealthy-after``    health probes pass for this long after start, then fail
``swarmdeck.sim.say``                the container writes this line when it starts
``swarmdeck.sim.log-every``          it writes a line this often (else every 0.3-4 s)
===================================  ======================================================

Durations are Go-style: ``500ms``, ``3s``, ``1m30s``. Health probes run only for a container
with a health check: the service's ``Healthcheck``, else its image's (``IMAGE_HEALTHCHECKS``);
``Test: ["NONE"]`` turns the image's off.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.api.durations import SECOND, parse_duration
from engine.api.specs import ContainerSpec, HealthConfig

__all__ = [
    "IMAGE_HEALTHCHECKS",
    "LABEL_PREFIX",
    "Health",
    "SimBehaviour",
    "effective_health",
    "validate_sim_labels",
]

LABEL_PREFIX = "swarmdeck.sim."

# The simulated images that carry a HEALTHCHECK, by repository.
IMAGE_HEALTHCHECKS = {
    "example/api": HealthConfig(
        test=["CMD", "wget", "-q", "-O-", "http://localhost:8080/healthz"],
        interval=10 * SECOND,
        timeout=3 * SECOND,
        retries=3,
    ),
}

# Docker's defaults for what a health check leaves unset (moby daemon/health.go).
HEALTH_INTERVAL = 30.0
HEALTH_TIMEOUT = 30.0
HEALTH_RETRIES = 3


@dataclass(frozen=True, slots=True)
class Health:
    """An effective health check, in seconds."""

    test: tuple[str, ...]
    interval: float
    timeout: float
    retries: int
    start_period: float


def effective_health(container: ContainerSpec | None) -> Health | None:
    """The health check a container runs: its spec's, over its image's; None for none."""
    if container is None:
        return None
    image = IMAGE_HEALTHCHECKS.get(_repository(container.image or ""))
    spec = container.healthcheck
    if spec is not None and spec.test and spec.test[0] == "NONE":
        return None
    test = (spec.test if spec else None) or (image.test if image else None)
    if not test:
        return None

    def pick(field: str, default: float) -> float:
        for source in (spec, image):
            value = getattr(source, field, None) if source else None
            if value:
                return float(value) / SECOND
        return default

    retries = (spec.retries if spec else None) or (image.retries if image else None)
    return Health(
        test=tuple(test),
        interval=pick("interval", HEALTH_INTERVAL),
        timeout=pick("timeout", HEALTH_TIMEOUT),
        retries=retries or HEALTH_RETRIES,
        start_period=pick("start_period", 0.0),
    )


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name.rsplit(":", 1)[0]
    return name


@dataclass(frozen=True, slots=True)
class SimBehaviour:
    """What a container's labels ask of it."""

    exit_code: int | None = None
    exit_after: float | None = None
    start_error: str | None = None
    pull_error: str | None = None
    pull_time: float | None = None
    unhealthy: bool = False
    unhealthy_after: float | None = None
    say: str | None = None
    log_every: float | None = None

    @classmethod
    def from_labels(cls, labels: dict[str, str] | None) -> SimBehaviour:
        """Reads the ``swarmdeck.sim.*`` labels.

        Raises:
            ValueError: a label is unknown or its value malformed (checked at service create).
        """
        sim = {
            key[len(LABEL_PREFIX) :]: value
            for key, value in (labels or {}).items()
            if key.startswith(LABEL_PREFIX)
        }
        unknown = set(sim) - _KNOWN
        if unknown:
            raise ValueError(f"unknown simulation label {LABEL_PREFIX}{sorted(unknown)[0]}")
        exit_code = _int(sim, "exit-code")
        exit_after = _seconds(sim, "exit-after")
        crash = _seconds(sim, "crash-loop")
        if crash is not None:
            exit_code, exit_after = (1 if exit_code is None else exit_code), crash
        if exit_code is not None and exit_after is None:
            exit_after = 0.0
        if exit_after is not None and exit_code is None:
            exit_code = 0
        health = sim.get("health", "healthy")
        if health not in ("healthy", "unhealthy"):
            raise ValueError(f"{LABEL_PREFIX}health: healthy or unhealthy, not {health!r}")
        return cls(
            exit_code=exit_code,
            exit_after=exit_after,
            start_error=sim.get("start-error") or None,
            pull_error=sim.get("pull-error") or None,
            pull_time=_seconds(sim, "pull-time"),
            unhealthy=health == "unhealthy",
            unhealthy_after=_seconds(sim, "unhealthy-after"),
            say=sim.get("say"),
            log_every=_positive(sim, "log-every"),
        )

    def probe_passes(self, running_for: float) -> bool:
        """Whether a health probe passes this long after the container started."""
        if self.unhealthy:
            return False
        return self.unhealthy_after is None or running_for < self.unhealthy_after


_KNOWN = {
    "exit-code",
    "exit-after",
    "crash-loop",
    "start-error",
    "pull-error",
    "pull-time",
    "health",
    "unhealthy-after",
    "say",
    "log-every",
}


def _int(labels: dict[str, str], name: str) -> int | None:
    if name not in labels:
        return None
    try:
        return int(labels[name])
    except ValueError:
        raise ValueError(f"{LABEL_PREFIX}{name}: not a number: {labels[name]!r}") from None


def _seconds(labels: dict[str, str], name: str) -> float | None:
    if name not in labels:
        return None
    value = parse_duration(labels[name]) / SECOND
    if value < 0:
        raise ValueError(f"{LABEL_PREFIX}{name}: cannot be negative")
    return value


def _positive(labels: dict[str, str], name: str) -> float | None:
    value = _seconds(labels, name)
    if value == 0:
        raise ValueError(f"{LABEL_PREFIX}{name}: must be more than 0")
    return value


def validate_sim_labels(labels: dict[str, str] | None) -> None:
    """Raises ValueError if a ``swarmdeck.sim.*`` label is unknown or malformed."""
    SimBehaviour.from_labels(labels)
