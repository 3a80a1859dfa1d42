"""Logs of services and tasks in Docker's stream format, with follow, tail, since and details.

Each line is framed (multiplexed) as ``[stream, 0, 0, 0, size (4 bytes, big-endian)]`` followed
by the line, unless the service has a TTY. With ``details`` the line starts with the task's
context (``com.docker.swarm.node.id=...,...``), which ``docker service logs`` reads to name tasks;
with ``timestamps`` it starts with the time, RFC 3339 with nine decimals.

Nothing is gathered whole: each task's lines are read as they are sent, merged by time (then by
the task's place in the list), and written ``CHUNK_BYTES`` at a time with a turn of the event
loop between chunks, so other requests are answered while a long history goes out and memory
stays bounded however long it is. A tail reads each task's lines newest first, without the
history before it. A follow sleeps until the next line is due: a simulated container knows when
it writes its next line, a real one's lines are told as they come.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote_plus

from aiohttp import web

from engine.api.logs import LogLine
from engine.api.objects import Task
from engine.errors import InvalidArgument
from engine.httpapi.backend import Backend, Container
from engine.httpapi.context import BACKEND, OPEN_STREAMS
from engine.httpapi.params import boolean, integer, timestamp

__all__ = ["frame", "stream_logs"]

# Bytes a write: a few hundred lines, a millisecond or two of work between two turns of the
# event loop, and writes big enough that a write's own cost does not count.
CHUNK_BYTES = 64 * 1024
# Seconds a follow sleeps at most: how soon it sees a new task of the service, or a client that
# left while nothing was written.
FOLLOW_WAIT = 1.0
# Seconds between two looks of a follow at least: containers writing thousands of lines a
# second are sent them in batches, not with a wake-up per line.
FOLLOW_BATCH = 0.005
RAW_STREAM = "application/vnd.docker.raw-stream"  # what API 1.41 sends, muxed or not
STREAMS = {"stdout": 1, "stderr": 2}
_HEADER = struct.Struct(">B3xI").pack  # the stream, three zero bytes, the size


def frame(stream: str, payload: bytes) -> bytes:
    """One frame of Docker's multiplexed stream."""
    return _HEADER(STREAMS[stream], len(payload)) + payload


@dataclass(frozen=True, slots=True)
class _Query:
    streams: frozenset[str]
    tail: int | None
    since: float
    until: float | None
    follow: bool
    timestamps: bool
    details: bool


def _read_query(query: Mapping[str, str]) -> _Query:
    streams = frozenset(name for name in STREAMS if boolean(query, name))
    if not streams:
        raise InvalidArgument("Bad parameters: you must choose at least one stream", rpc=False)
    tail_text = query.get("tail", "all")
    tail = None if tail_text in ("", "all") else integer(query, "tail")
    if tail is not None and tail < 0:
        tail = None  # Docker reads a negative tail as "all"
    return _Query(
        streams=streams,
        tail=tail,
        since=timestamp(query, "since") or 0.0,
        until=timestamp(query, "until"),
        follow=boolean(query, "follow"),
        timestamps=boolean(query, "timestamps"),
        details=boolean(query, "details"),
    )


async def stream_logs(
    request: web.Request, tasks_of: Callable[[], list[Task]], tty: bool
) -> web.StreamResponse:
    """Streams the logs of the tasks ``tasks_of()`` names (asked again while following)."""
    query = _read_query(request.query)
    backend = request.app[BACKEND]
    response = web.StreamResponse(status=200, headers={"Content-Type": RAW_STREAM})
    await response.prepare(request)
    logs = _Logs(backend, query, tty)
    open_streams = request.app[OPEN_STREAMS]
    open_streams["logs"] += 1
    try:
        now = backend.clock.time()
        await _send(response, logs.read(tasks_of(), now, query.tail))
        if query.follow:
            await logs.follow(request, response, tasks_of, now)
        await response.write_eof()
    except ConnectionError:  # the client left, or its connection was lost
        pass  # the client went away
    finally:
        logs.close()
        open_streams["logs"] -= 1
    return response


class _Logs:
    """The lines of one request's tasks, rendered, and how far each task's were read."""

    def __init__(self, backend: Backend, query: _Query, tty: bool) -> None:
        self._backend = backend
        self._query = query
        self._tty = tty
        self._until = math.inf if query.until is None else query.until
        self._stamp = _Stamps() if query.timestamps else None
        self._heads: dict[str, str] = {}  # task ID: what its lines start with
        self._read: dict[str, float] = {}  # task ID: its lines before this moment were read
        self._start = query.since  # where a task not read yet starts
        self._due: float | None = None  # when the earliest next line of the tasks comes
        self._woken = asyncio.Event()  # set by a container whose lines are not known ahead
        self._listened: dict[str, Container] = {}

    def read(self, tasks: list[Task], now: float, tail: int | None = None) -> Iterator[bytes]:
        """The tasks' lines from where each was read to ``now``, the last ``tail`` of each
        if given, merged by time then by task order, rendered; sets ``_due``."""
        streams = self._query.streams
        runs = []
        read: dict[str, float] = {}
        listened: dict[str, Container] = {}
        due = None
        for order, task in enumerate(tasks):
            start = self._read.get(task.id, self._start)
            read[task.id] = start
            container = self._backend.container(task)
            if container is None:
                continue
            end = min(container.written_until(now), self._until)
            if end > start:
                read[task.id] = end
                lines: Iterable[LogLine]
                if tail is not None:
                    lines = _tail(container, start, end, tail, streams)
                elif len(streams) < len(STREAMS):
                    lines = (line for line in container.lines(start, end) if line.stream in streams)
                else:
                    lines = container.lines(start, end)
                runs.append(_rendered(lines, order, self._head(task), self._stamp, self._tty))
            if self._query.follow:
                listened[container.id] = container
                container.listeners.add(self._woken)
                at = container.next_line_at(read[task.id])
                if at is not None and (due is None or at < due):
                    due = at
        for gone in self._listened.keys() - listened.keys():
            self._listened[gone].listeners.discard(self._woken)
        self._read, self._listened, self._due = read, listened, due
        if len(self._heads) > len(read):  # tasks that are gone
            self._heads = {key: head for key, head in self._heads.items() if key in read}
        return _merged(runs)

    async def follow(
        self,
        request: web.Request,
        response: web.StreamResponse,
        tasks_of: Callable[[], list[Task]],
        now: float,
    ) -> None:
        """Sends lines as they come until ``until``, or until the client leaves."""
        clock = self._backend.clock
        self._start = max(self._query.since, min(now, self._until))  # for tasks that come
        while _connected(request) and now < self._until:
            due = self._due
            wait = min(FOLLOW_WAIT, self._until - now)
            if due is not None and due - now <= wait:
                wait = max(due - now, FOLLOW_BATCH)
            else:
                due = None
            told = await clock.wait_event(self._woken, wait)
            self._woken.clear()
            now = clock.time()
            if due is not None and not told:  # woke for the line at ``due``: it is written
                now = max(now, math.nextafter(due, math.inf))
            await _send(response, self.read(tasks_of(), now))

    def close(self) -> None:
        for container in self._listened.values():
            container.listeners.discard(self._woken)
        self._listened = {}

    def _head(self, task: Task) -> str:
        """What ``task``'s lines start with: its context, made once and not once a line."""
        head = self._heads.get(task.id)
        if head is None:
            head = self._heads[task.id] = f"{_context(task)} " if self._query.details else ""
        return head


def _tail(
    container: Container, since: float, until: float, count: int, streams: frozenset[str]
) -> Iterator[LogLine]:
    """The last ``count`` lines of ``streams`` in ``[since, until)``, oldest first.

    They are found newest first, then read again oldest first from the moment of the first of
    them, so a long tail is never held whole.
    """
    first: float | None = None
    found = older = 0  # lines of the tail, and older lines at the moment of its first
    for line in container.lines_newest_first(since, until):
        if line.stream not in streams:
            continue
        if found < count:
            found += 1
            first = line.time
        elif line.time == first:
            older += 1
        else:
            break
    if first is None:
        return iter(())
    lines = (line for line in container.lines(first, until) if line.stream in streams)
    return itertools.islice(lines, older, None)


def _rendered(
    lines: Iterable[LogLine], order: int, head: str, stamp: _Stamps | None, tty: bool
) -> Iterator[tuple[float, int, bytes]]:
    """Each line as it is written, with its time and ``order`` to merge it by."""
    for moment, stream, text in lines:
        if stamp is None:
            payload = f"{head}{text}\n".encode("utf-8", "replace")
        else:
            payload = f"{stamp(moment)} {head}{text}\n".encode("utf-8", "replace")
        if not tty:
            payload = _HEADER(STREAMS[stream], len(payload)) + payload
        yield moment, order, payload


def _merged(runs: list[Iterator[tuple[float, int, bytes]]]) -> Iterator[bytes]:
    """The runs' payloads by time, then by task order (each run is one task, oldest first)."""
    if not runs:
        return iter(())
    merged = runs[0] if len(runs) == 1 else heapq.merge(*runs)
    return (payload for _, _, payload in merged)


def _context(task: Task) -> str:
    attrs = {
        "com.docker.swarm.node.id": task.node_id,
        "com.docker.swarm.service.id": task.service_id,
        "com.docker.swarm.task.id": task.id,
    }
    return ",".join(f"{k}={quote_plus(v)}" for k, v in sorted(attrs.items()))


class _Stamps:
    """Times as RFC 3339 with nine decimals; the date and time of day are made once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self, moment: float) -> str:
        whole = int(moment)
        nanos = round((moment - whole) * 1e9)
        if nanos >= 1_000_000_000:
            whole, nanos = whole + 1, nanos - 1_000_000_000
        if whole != self._second:
            self._second = whole
            self._text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._text}.{nanos:09d}Z"


async def _send(response: web.StreamResponse, payloads: Iterator[bytes]) -> None:
    """Writes ``payloads`` in chunks of about ``CHUNK_BYTES``, each made as it is written."""
    chunk: list[bytes] = []
    size = 0
    for payload in payloads:
        chunk.append(payload)
        size += len(payload)
        if size >= CHUNK_BYTES:
            await response.write(b"".join(chunk))
            chunk.clear()
            size = 0
            await asyncio.sleep(0)  # write() returns without a turn while its buffer has room
    if chunk:
        await response.write(b"".join(chunk))


def _connected(request: web.Request) -> bool:
    """Whether the client is still there: a follow that writes nothing would not notice."""
    return request.transport is not None and not request.transport.is_closing()
