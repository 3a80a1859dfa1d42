"""FakeTransport: an endpoint scripted by a test, for EngineClient and whatever uses it.

    fake = FakeTransport()
    fake.answer("GET", "/nodes", [node_a], [node_a, node_b])      # then [a, b] from then on
    fake.answer("GET", "/services", Answer({"message": "no leader"}, status=503), HOLD)
    events = fake.stream("GET", "/events")
    client = EngineClient(transport=fake)

    await client.nodes()                        # [a]; the next polls get [a, b]
    events.push(b'{"Type": "service", ')        # the consumer sees the event once the
    events.push(b'"Action": "update"}\\n')       # rest of its line has come
    events.fail()                               # the connection drops mid-stream
    fake.drop()                                 # every request: "cannot reach fake://engine"
    fake.restore()
    assert fake.requests[0] == ("GET", "/nodes", {}, None)

Routes are matched on the method and the path as the client asks it, without the API version
and the query string; ``requests`` keeps the query's parameters. A route nobody scripted
answers 404 ``{"message": "page not found"}``, as our engine does.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from engine.client.transport import Response

__all__ = ["HOLD", "Answer", "FakeStream", "FakeTransport", "Request"]

_VERSION = re.compile(r"^/v\d+\.\d+(?=/)")


class _Hold(enum.Enum):
    HOLD = "HOLD"


HOLD: Final = _Hold.HOLD
"""An answer that is never given: the request waits until the route is scripted again, the
transport is closed or dropped. As a route's last answer, it freezes a replay after the rest."""


@dataclass(frozen=True)
class Answer:
    """A scripted answer: ``body`` is sent as it is when bytes, else as JSON."""

    body: object = b""
    status: int = 200

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        """The body's bytes and the headers that say what they are."""
        if isinstance(self.body, bytes):
            return self.body, {}
        return json.dumps(self.body).encode(), {"Content-Type": "application/json"}


NOT_FOUND = Answer({"message": "page not found"}, status=404)  # as our engine answers it


class Request(NamedTuple):
    """A request the fake was asked: path without version and query; the query in params."""

    method: str
    path: str
    params: dict[str, str]
    body: bytes | None


class FakeStream:
    """The body of a streamed route, which the test writes as the consumer reads it.

    What is pushed before anyone reads waits for the reader. One reader at a time: two
    requests open on the same stream take turns at its chunks.
    """

    def __init__(self, changed: Callable[[], None], status: int = 200) -> None:
        self.status = status
        self._changed = changed
        self._chunks: collections.deque[bytes] = collections.deque()
        self._ended = False
        self._failure: str | None = None

    def push(self, data: bytes) -> None:
        """Sends ``data`` (any piece of the body: half a frame, three lines)."""
        if data:
            self._chunks.append(data)
            self._changed()

    def end(self) -> None:
        """Ends the body, as an endpoint that has nothing more to say does."""
        self._ended = True
        self._changed()

    def fail(self, reason: str = "connection reset by the fake") -> None:
        """Drops the connection once what was pushed has been read."""
        self._failure = reason
        self._changed()

    def _next(self) -> bytes | OSError | None:
        """The next chunk; None at the end; the failure once all was read; else b""."""
        if self._chunks:
            return self._chunks.popleft()
        if self._failure is not None:
            return ConnectionResetError(self._failure)
        return None if self._ended else b""


class FakeTransport:
    """A Transport whose endpoint is a script (see the module for an example)."""

    def __init__(self, url: str = "fake://engine") -> None:
        self._url = url
        self.requests: list[Request] = []
        self._answers: dict[tuple[str, str], collections.deque[Answer | _Hold]] = {}
        self._streams: dict[tuple[str, str], FakeStream] = {}
        self._open: collections.Counter[str] = collections.Counter()
        self._dropped = False
        self._closes = 0  # a request held or streaming when this changes ends
        self._event = asyncio.Event()

    @property
    def url(self) -> str:
        return self._url

    # Scripting.

    def answer(self, method: str, path: str, *answers: object) -> None:
        """From now on ``method path`` gets ``answers`` in turn, the last one again and again
        (unless it is HOLD). An answer is an Answer, HOLD, or a body answered with 200."""
        if not answers:
            raise ValueError("a route needs at least one answer")
        if HOLD in answers[:-1]:
            raise ValueError("HOLD can only be the last answer: nothing after it is given")
        queue: collections.deque[Answer | _Hold] = collections.deque(
            item if isinstance(item, Answer | _Hold) else Answer(item) for item in answers
        )
        key = (method, _route(path))
        self._streams.pop(key, None)
        self._answers[key] = queue
        self._changed()

    def stream(self, method: str, path: str, status: int = 200) -> FakeStream:
        """From now on ``method path`` is answered by the stream this returns."""
        key = (method, _route(path))
        self._answers.pop(key, None)
        self._streams[key] = stream = FakeStream(self._changed, status)
        self._changed()
        return stream

    def drop(self) -> None:
        """The endpoint becomes unreachable: every request fails to connect, held requests and
        open streams fail, until ``restore()``."""
        self._dropped = True
        self._changed()

    def restore(self) -> None:
        """The endpoint answers again."""
        self._dropped = False
        self._changed()

    # Looking.

    def open_streams(self, path: str) -> int:
        """Requests made with ``stream=True`` on ``path`` whose block has not been left."""
        return self._open[_route(path)]

    async def wait_open_streams(self, path: str, count: int) -> None:
        """Until exactly ``count`` streams are open on ``path``."""
        await self._wait(lambda: self.open_streams(path) == count)

    async def wait_requests(self, count: int) -> None:
        """Until ``count`` requests have been asked in all (answered or not)."""
        await self._wait(lambda: len(self.requests) >= count)

    # The transport.

    @contextlib.asynccontextmanager
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        versioned: bool = True,
    ) -> AsyncIterator[Response]:
        route = _route(path)
        query = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
        self.requests.append(Request(method, route, {**query, **(params or {})}, body))
        self._changed()
        closes = self._closes
        self._check(closes, ConnectionRefusedError)
        key = (method, route)
        response: Response
        if key in self._streams:
            response = _StreamedResponse(self, self._streams[key], closes)
        else:
            answer = await self._next_answer(key, closes)
            response = _FakeResponse(answer.status, *answer.encoded())
        if stream:
            self._open[route] += 1
            self._changed()
        try:
            yield response
        finally:
            if stream:
                self._open[route] -= 1
                self._changed()

    async def close(self) -> None:
        """Ends what is held or streaming now; later requests are answered as before."""
        self._closes += 1
        self._changed()

    # Inside.

    def _changed(self) -> None:
        """Wakes whoever waits on the script, the streams or the endpoint's state."""
        self._event.set()
        self._event = asyncio.Event()

    async def _wait(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._event.wait()

    def _check(self, closes: int, failure: type[OSError]) -> None:
        """Raises ``failure`` when the endpoint dropped, or the transport closed since
        ``closes``."""
        if self._dropped:
            raise failure(f"{self._url} dropped by the test")
        if self._closes != closes:
            raise failure("the transport was closed")

    async def _next_answer(self, key: tuple[str, str], closes: int) -> Answer:
        while True:
            queue = self._answers.get(key)
            if queue is None:
                return NOT_FOUND
            head = queue[0]
            if isinstance(head, Answer):
                if len(queue) > 1:
                    queue.popleft()
                return head
            await self._event.wait()
            self._check(closes, ConnectionResetError)

    async def _next_chunk(self, stream: FakeStream, closes: int) -> bytes | None:
        """The stream's next chunk, None at its end; raises as the connection drops."""
        while True:
            chunk = stream._next()
            if isinstance(chunk, OSError):
                raise chunk
            if chunk != b"":
                return chunk
            self._check(closes, ConnectionResetError)
            await self._event.wait()


class _FakeResponse:
    def __init__(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.status = status
        self.headers = headers
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._body:
            yield self._body


class _StreamedResponse:
    def __init__(self, fake: FakeTransport, stream: FakeStream, closes: int) -> None:
        self.status = stream.status
        self.headers: Mapping[str, str] = {}
        self._fake = fake
        self._stream = stream
        self._closes = closes

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self._fake._next_chunk(self._stream, self._closes)) is not None:
            yield chunk


def _route(path: str) -> str:
    """``path`` as routes are matched: without the API version and the query."""
    return _VERSION.sub("", urlsplit(path).path)
