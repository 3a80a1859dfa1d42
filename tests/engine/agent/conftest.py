"""A clock the agents' tests move by hand."""

from __future__ import annotations

from typing import cast

from engine.agent.pace import Pace
from engine.clock import Clock


class Watch:
    """The only time a Pace reads: ``monotonic``, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def pace_on(watch: Watch) -> Pace:
    return Pace(cast(Clock, watch))
