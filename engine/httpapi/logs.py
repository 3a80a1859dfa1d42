"""Logs of services and tasks in Docker's stream format, with follow, tail, since and details.

Each line is framed (multiplexed) as ``[stream, 0, 0, 0, size (4 bytes, big-endian)]`` followed
by the line, unless the service has a TTY. With ``details`` the line starts with the task's
context (``com.docker.swarm.node.id=...,...``), which ``docker service logs`` reads to name tasks;
with ``timestamps`` it starts with the time, RFC 3339 with nine decimals.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote_plus

from aiohttp import web

from engine.api.logs import LogLine
from engine.api.objects import Task
from engine.errors import InvalidArgument
from engine.httpapi.context import BACKEND, OPEN_STREAMS
from engine.httpapi.params import boolean, integer, timestamp

__all__ = ["frame", "stream_logs"]

FOLLOW_POLL = 0.25  # seconds between looks for new lines when following
RAW_STREAM = "application/vnd.docker.raw-stream"  # what API 1.41 sends, muxed or not
STREAMS = {"stdout": 1, "stderr": 2}


def frame(stream: str, payload: bytes) -> bytes:
    """One frame of Docker's multiplexed stream."""
    return bytes((STREAMS[stream], 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload


def _fixed_time(moment: float) -> str:
    whole = int(moment)
    nanos = round((moment - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


async def stream_logs(
    request: web.Request, tasks_of: Callable[[], list[Task]], tty: bool
) -> web.StreamResponse:
    """Streams the logs of the tasks ``tasks_of()`` names (asked again while following)."""
    query = request.query
    streams = {name for name in STREAMS if boolean(query, name)}
    if not streams:
        raise InvalidArgument("Bad parameters: you must choose at least one stream", rpc=False)
    tail_text = query.get("tail", "all")
    tail = None if tail_text in ("", "all") else integer(query, "tail")
    if tail is not None and tail < 0:
        tail = None  # Docker reads a negative tail as "all"
    since = timestamp(query, "since") or 0.0
    until = timestamp(query, "until")
    follow = boolean(query, "follow")
    timestamps = boolean(query, "timestamps")
    details = boolean(query, "details")
    backend = request.app[BACKEND]

    def render(task: Task, line: LogLine) -> bytes:
        text = line.text
        if details:
            attrs = {
                "com.docker.swarm.node.id": task.node_id,
                "com.docker.swarm.service.id": task.service_id,
                "com.docker.swarm.task.id": task.id,
            }
            context = ",".join(f"{k}={quote_plus(v)}" for k, v in sorted(attrs.items()))
            text = f"{context} {text}"
        if timestamps:
            text = f"{_fixed_time(line.time)} {text}"
        payload = (text + "\n").encode("utf-8", "replace")
        return payload if tty else frame(line.stream, payload)

    def collect(start: float, end: float, last: int | None) -> list[bytes]:
        found: list[tuple[float, int, Task, LogLine]] = []
        for order, task in enumerate(tasks_of()):
            container = backend.container(task)
            if container is None:
                continue
            lines = [line for line in container.lines(start, end) if line.stream in streams]
            if last is not None:
                lines = lines[-last:] if last else []
            found.extend((line.time, order, task, line) for line in lines)
        found.sort(key=lambda entry: (entry[0], entry[1]))
        return [render(task, line) for _, _, task, line in found]

    response = web.StreamResponse(status=200, headers={"Content-Type": RAW_STREAM})
    await response.prepare(request)
    now = backend.clock.time()
    end = now if until is None else min(now, until)
    open_streams = request.app[OPEN_STREAMS]
    open_streams["logs"] += 1
    try:
        await _write(response, collect(since, end, tail))
        while follow and (until is None or end < until) and _connected(request):
            await backend.clock.sleep(FOLLOW_POLL)
            start, end = end, backend.clock.time()
            if until is not None:
                end = min(end, until)
            await _write(response, collect(start, end, None))
        await response.write_eof()
    except ConnectionError:  # the client left, or its connection was lost
        pass  # the client went away
    finally:
        open_streams["logs"] -= 1
    return response


async def _write(response: web.StreamResponse, chunk: list[bytes]) -> None:
    if chunk:
        await response.write(b"".join(chunk))


def _connected(request: web.Request) -> bool:
    """Whether the client is still there: a follow that writes nothing would not notice."""
    return request.transport is not None and not request.transport.is_closing()
