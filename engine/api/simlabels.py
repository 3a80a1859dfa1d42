"""How a simulated container behaves, read from its container labels. Set them on the
service (``docker service create --container-label swarmdeck.sim.exit-code=3 ...``):

==============================  ===========================================================
``swarmdeck.sim.exit-code``     exit with this code (after ``exit-after``, default at once)
``swarmdeck.sim.exit-after``    run this long, then exit (code 0 unless ``exit-code`` says)
``swarmdeck.sim.crash-loop``    exit with code 1 after this long, every time: a crash loop
``swarmdeck.sim.start-error``   fail to start with this message (the task FAILS)
``swarmdeck.sim.pull-error``    fail to pull with this message (the task is REJECTED)
``swarmdeck.sim.pull-time``     a pull that takes this long (default 1-3 s the first time)
==============================  ===========================================================

Durations are Go-style: ``500ms``, ``3s``, ``1m30s``.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.api.durations import SECOND, parse_duration

__all__ = ["LABEL_PREFIX", "SimBehaviour", "validate_sim_labels"]

LABEL_PREFIX = "swarmdeck.sim."


@dataclass(frozen=True, slots=True)
class SimBehaviour:
    """What a container's labels ask of it."""

    exit_code: int | None = None
    exit_after: float | None = None
    start_error: str | None = None
    pull_error: str | None = None
    pull_time: float | None = None

    @classmethod
    def from_labels(cls, labels: dict[str, str] | None) -> SimBehaviour:
        """Reads the ``swarmdeck.sim.*`` labels.

        Raises:
            ValueError: a label's value is malformed (checked when the service is created).
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
            exit_code, exit_after = 1 if exit_code is None else exit_code, crash
        if exit_code is not None and exit_after is None:
            exit_after = 0.0
        return cls(
            exit_code=exit_code
            if exit_code is not None
            else (0 if exit_after is not None else None),
            exit_after=exit_after,
            start_error=sim.get("start-error") or None,
            pull_error=sim.get("pull-error") or None,
            pull_time=_seconds(sim, "pull-time"),
        )


_KNOWN = {"exit-code", "exit-after", "crash-loop", "start-error", "pull-error", "pull-time"}


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


def validate_sim_labels(labels: dict[str, str] | None) -> None:
    """Raises ValueError if a ``swarmdeck.sim.*`` label is unknown or malformed."""
    SimBehaviour.from_labels(labels)
