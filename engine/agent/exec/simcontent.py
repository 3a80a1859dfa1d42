"""What a simulated container says and uses: log lines and CPU/memory, computed from a seed.

Nothing is stored: line ``i`` of a container and its usage at time ``t`` are functions of the
seed, the task and ``i`` or ``t``, so any window can be read at any time and reads the same twice.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from datetime import UTC, datetime

from engine.api.logs import LogLine

__all__ = ["SimContent"]

_PATHS = (
    "/",
    "/index.html",
    "/api/v1/items",
    "/api/v1/orders",
    "/static/app.js",
    "/static/style.css",
    "/healthz",
    "/login",
    "/favicon.ico",
    "/api/v1/users/42",
)
_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64)",
    "curl/7.88.1",
    "Go-http-client/1.1",
    "python-requests/2.31.0",
    "kube-probe/1.27",
)
_STATUSES = (200, 200, 200, 200, 200, 200, 304, 301, 404, 500)
_WORDS = (
    "processed job",
    "cache refresh",
    "flushed batch",
    "accepted connection",
    "checkpoint written",
    "synced state",
    "handled request",
    "rotated key",
)
_LEVELS = ("INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN", "INFO", "ERROR")


class SimContent:
    """The logs and usage of one simulated container that started at ``started``."""

    def __init__(
        self,
        seed: int,
        task_id: str,
        image: str,
        started: float,
        say: str | None = None,
        every: float | None = None,
    ) -> None:
        self._key = f"{seed}:{task_id}"
        self.image = image
        self.started = started
        self._nginx = _is_nginx(image)
        self._say = say
        unit = self._unit(0)
        self.interval = every or (0.6 if self._nginx else 2.0) * (0.5 + unit)  # between lines
        self.cpu_base = 0.02 + 0.25 * self._unit(1)  # cores
        self.cpu_period = 60.0 + 240.0 * self._unit(2)
        self.cpu_phase = 2 * math.pi * self._unit(3)
        self.memory_base = int((16 + 180 * self._unit(4)) * 2**20)
        self.memory_growth = int(8 * self._unit(5) * 2**20)

    def _unit(self, *parts: object) -> float:
        """A number in [0, 1) from the seed, the task and ``parts``."""
        digest = hashlib.blake2b(f"{self._key}:{parts}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def lines(self, since: float, until: float) -> Iterator[LogLine]:
        """The lines written in ``[since, until)``, oldest first."""
        since = max(since, self.started)
        if until <= since:
            return
        for index, text in enumerate(self._banner()):
            moment = self.started + 0.001 * (index + 1)
            if since <= moment < until:
                yield LogLine(moment, "stdout", text)
        first = max(0, int((since - self.started) / self.interval) - 1)
        index = first
        while True:
            moment = self.started + self.interval * (index + 1 + 0.9 * self._unit("t", index))
            if moment >= until:
                return
            if moment >= since:
                yield self._line(index, moment)
            index += 1

    def _banner(self) -> tuple[str, ...]:
        if self._say is not None:
            return (self._say,)
        if self._nginx:
            return (
                "/docker-entrypoint.sh: Configuration complete; ready for start up",
                "nginx: [notice] start worker processes",
            )
        return (f"starting {self.image}", "listening on :8080")

    def _line(self, index: int, moment: float) -> LogLine:
        pick = self._unit("l", index)
        if self._nginx:
            status = _STATUSES[int(pick * len(_STATUSES))]
            path = _PATHS[int(self._unit("p", index) * len(_PATHS))]
            agent = _AGENTS[int(self._unit("a", index) * len(_AGENTS))]
            size = 0 if status == 304 else int(200 + 9000 * self._unit("s", index))
            client = f"10.255.0.{2 + int(self._unit('c', index) * 200)}"
            when = datetime.fromtimestamp(moment, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
            text = f'{client} - - [{when}] "GET {path} HTTP/1.1" {status} {size} "-" "{agent}"'
            return LogLine(moment, "stderr" if status >= 500 else "stdout", text)
        level = _LEVELS[int(pick * len(_LEVELS))]
        word = _WORDS[int(self._unit("w", index) * len(_WORDS))]
        took = int(1 + 250 * self._unit("d", index))
        text = f"{level:<5} {word} #{index + 1} in {took}ms"
        return LogLine(moment, "stderr" if level in ("WARN", "ERROR") else "stdout", text)

    def cpu_seconds(self, moment: float) -> float:
        """Total CPU seconds used by ``moment``; never decreases."""
        elapsed = max(0.0, moment - self.started)
        omega = 2 * math.pi / self.cpu_period
        wave = (math.cos(self.cpu_phase) - math.cos(omega * elapsed + self.cpu_phase)) / omega
        return self.cpu_base * (elapsed + 0.5 * wave)

    def cpu_cores(self, moment: float) -> float:
        elapsed = max(0.0, moment - self.started)
        omega = 2 * math.pi / self.cpu_period
        return self.cpu_base * (1 + 0.5 * math.sin(omega * elapsed + self.cpu_phase))

    def memory_bytes(self, moment: float) -> int:
        elapsed = max(0.0, moment - self.started)
        return self.memory_base + int(self.memory_growth * (1 - math.exp(-elapsed / 600.0)))


def _is_nginx(image: str) -> bool:
    name = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    return name == "nginx"
