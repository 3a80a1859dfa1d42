"""A clock the tests of the lines at the event loop (``engine.pace``) move by hand."""

from __future__ import annotations

from typing import cast

from engine.clock import Clock
from engine.pace import Pace


class Watch:
    """The only time a Pace reads: ``monotonic``, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def pace_on(watch: Watch) -> Pace:
    return Pace(cast(Clock, watch))
