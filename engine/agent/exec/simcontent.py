"""What a simulated container says and uses: log lines and CPU/memory, computed from a seed.

Nothing is stored: line ``i`` of a container and its usage at time ``t`` are functions of the
seed, the task and ``i`` or ``t``, so any window can be read at any time and reads the same twice.
Line ``i`` is written at ``started + interval * (i + 1 + 0.9 * u)`` with ``u`` in [0, 1), so the
lines of a window are found from its ends without reading the lines before it, in either
direction; one hash of ``i`` gives ``u`` and everything the line says.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Iterator
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
_BANNER_STEP = 0.001  # seconds between the lines a container writes as it starts
# A line's hash, unpacked: when in its slot it is written (a 32-bit fraction of 0.9 intervals),
# then what it says, by lookup: an access line's status and path (one byte each, 10 of each),
# agent (a byte), size and client (16 bits each); a worker's level, words (a byte each) and
# duration (16 bits).
_ACCESS = struct.Struct(">IBBBHH")
_WORKER = struct.Struct(">IBBH")
_WHEN_SCALE = 0.9 / 2**32


def _by_byte(choices: tuple[str, ...]) -> tuple[str, ...]:
    """``choices`` spread over the 256 values of a byte, as evenly as they go."""
    return tuple(choices[value * len(choices) // 256] for value in range(256))


_REQUESTS = tuple(  # by status byte, then path byte: the request and status of an access line
    tuple(f'"GET {path} HTTP/1.1" {status}' for path in _by_byte(_PATHS))
    for status in _by_byte(tuple(map(str, _STATUSES)))
)
_AGENT_ENDS = _by_byte(tuple(f' "-" "{agent}"' for agent in _AGENTS))
_CLIENTS = tuple(f"10.255.0.{2 + n}" for n in range(200))
_LEVEL_NAMES = _by_byte(tuple(f"{level:<5}" for level in _LEVELS))
_WORD_TEXTS = _by_byte(_WORDS)


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
        self._hashes = hashlib.blake2b(f"{self._key}:lines".encode(), digest_size=16)
        self._banner = tuple(
            LogLine(started + _BANNER_STEP * (index + 1), "stdout", text)
            for index, text in enumerate(self._banner_texts())
        )
        self._unpack = (_ACCESS if self._nginx else _WORKER).unpack_from
        self._second = -1  # the second whose access-log time is in _second_text
        self._second_text = ""

    @property
    def _say_line(self) -> Callable[[int, float, tuple[int, ...]], LogLine]:
        """The line maker of its kind. Not kept on the object: a bound method kept there makes
        a reference cycle, and the content of a removed task would stay until a full
        collection of everything (the served engine's are hourly)."""
        return self._access_line if self._nginx else self._worker_line

    def _unit(self, *parts: object) -> float:
        """A number in [0, 1) from the seed, the task and ``parts``."""
        digest = hashlib.blake2b(f"{self._key}:{parts}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def _slot(self, index: int) -> tuple[float, tuple[int, ...]]:
        """When line ``index`` is written, and the numbers that say what it says."""
        hashes = self._hashes.copy()
        hashes.update(index.to_bytes(8, "big"))
        drawn = self._unpack(hashes.digest())
        return self.started + self.interval * (index + 1 + drawn[0] * _WHEN_SCALE), drawn

    def lines(self, since: float, until: float) -> Iterator[LogLine]:
        """The lines written in ``[since, until)``, oldest first."""
        since = max(since, self.started)
        if until <= since:
            return
        banner = [line for line in self._banner if since <= line.time < until]
        index = max(0, int((since - self.started) / self.interval) - 1)
        slot, say = self._slot, self._say_line
        while True:
            moment, drawn = slot(index)
            if moment >= until:
                break
            if moment >= since:
                while banner and banner[0].time <= moment:
                    yield banner.pop(0)
                yield say(index, moment, drawn)
            index += 1
        yield from banner

    def lines_newest_first(self, since: float, until: float) -> Iterator[LogLine]:
        """The lines written in ``[since, until)``, newest first: ``lines`` backwards."""
        since = max(since, self.started)
        if until <= since:
            return
        banner = [line for line in self._banner if since <= line.time < until]
        index = int((until - self.started) / self.interval)  # its slot starts after ``until``
        slot, say = self._slot, self._say_line
        while index >= 0:
            moment, drawn = slot(index)
            if moment < since:
                break
            if moment < until:
                while banner and banner[-1].time > moment:
                    yield banner.pop()
                yield say(index, moment, drawn)
            index -= 1
        yield from reversed(banner)

    def next_line_at(self, moment: float) -> float:
        """When it writes its first line at or after ``moment``."""
        return next(self.lines(moment, math.inf)).time

    def _banner_texts(self) -> tuple[str, ...]:
        if self._say is not None:
            return (self._say,)
        if self._nginx:
            return (
                "/docker-entrypoint.sh: Configuration complete; ready for start up",
                "nginx: [notice] start worker processes",
            )
        return (f"starting {self.image}", "listening on :8080")

    def _access_line(self, index: int, moment: float, drawn: tuple[int, ...]) -> LogLine:
        _, status, path, agent, size, client = drawn
        second = int(moment)
        if second != self._second:  # lines come many a second: the date is made once a second
            when = datetime.fromtimestamp(second, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
            self._second, self._second_text = second, f" - - [{when}] "
        request = _REQUESTS[status][path]
        code = request[-3:]
        size_text = "0" if code == "304" else str(200 + size * 9000 // 65536)
        text = (
            f"{_CLIENTS[client * 200 // 65536]}{self._second_text}{request} {size_text}"
            f"{_AGENT_ENDS[agent]}"
        )
        return LogLine(moment, "stderr" if code[0] == "5" else "stdout", text)

    def _worker_line(self, index: int, moment: float, drawn: tuple[int, ...]) -> LogLine:
        _, level, word, took = drawn
        name = _LEVEL_NAMES[level]
        text = f"{name} {_WORD_TEXTS[word]} #{index + 1} in {1 + took * 250 // 65536}ms"
        return LogLine(moment, "stderr" if name.startswith(("WARN", "ERROR")) else "stdout", text)

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
