"""The HTTP transports: our engine served in-process through AppTransport, what HTTPTransport
makes of URLs and failures, and that a stream the client leaves ends at the server."""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

import engine.client.transport as transport_module
from engine.api.objects import Task
from engine.api.types import TaskState
from engine.client import AppTransport, ConnectError, EngineClient, HTTPTransport, NotFound
from engine.embedded import EmbeddedCluster
from engine.httpapi.app import make_app
from engine.httpapi.events import EventLog
from engine.httpapi.logs import frame
from tests.conftest import make_spec

TIMEOUT = 30.0  # seconds a condition gets before the test fails


async def eventually(condition: Callable[[], object], what: str) -> None:
    """Waits until ``condition()`` holds: what a real server does runs on real time."""
    try:
        async with asyncio.timeout(TIMEOUT):
            while not condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {TIMEOUT}s waiting for {what}") from None


@pytest.fixture
async def engine() -> AsyncIterator[EngineClient]:
    """Our engine (three simulated nodes) served in this process, and a client of it."""
    cluster = EmbeddedCluster(seed=3, heartbeat_epsilon=0)
    await cluster.start()
    events = EventLog(cluster.store, cluster.clock)
    event_task = asyncio.create_task(events.run())
    client = EngineClient(transport=AppTransport(make_app(cluster, events)))
    try:
        yield client
    finally:
        await client.close()
        event_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await event_task
        await cluster.stop()


async def test_the_real_engine_through_an_app_transport(engine: EngineClient) -> None:
    assert await engine.ping()
    assert len(await engine.nodes()) == 3
    assert (await engine.swarm()).id
    service_id = await engine.create_service(make_spec(name="web", replicas=2))
    assert [s.spec.name for s in await engine.services()] == ["web"]
    with pytest.raises(NotFound, match="service nope not found"):
        await engine.modify_service("nope", lambda spec: spec)
    await engine.remove_service(service_id)
    assert await engine.services() == []


async def test_a_followed_log_of_the_real_engine(engine: EngineClient) -> None:
    service_id = await engine.create_service(make_spec(name="web", replicas=1))
    running: list[Task] = []

    async def poll() -> bool:
        running[:] = [t for t in await engine.tasks() if t.status.state == TaskState.RUNNING]
        return bool(running)

    async with asyncio.timeout(TIMEOUT):
        while not await poll():
            await asyncio.sleep(0.05)
        lines = engine.logs("services", service_id, tail=None, follow=True)
        async with contextlib.aclosing(lines):
            entry = await anext(lines)
    assert entry.task_id == running[0].id
    assert entry.text and entry.time > 0


async def test_the_app_is_served_in_a_private_directory_removed_at_close() -> None:
    app = web.Application()
    async with AppTransport(app) as transport:
        socket = Path(transport.url.removeprefix("unix://"))
        assert stat.S_IMODE(socket.parent.stat().st_mode) == 0o700
        async with transport.request("GET", "/nodes") as response:
            assert response.status == 404
    assert not socket.parent.exists()


class Following:
    """An application whose ``/v1.41/services/{id}/logs`` follows forever, and which counts
    the handlers still following."""

    def __init__(self) -> None:
        self.open = 0
        self.app = web.Application()
        self.app.router.add_get("/v1.41/services/{id}/logs", self.logs)
        self.app.router.add_get("/v1.41/slow", self.slow)

    async def logs(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        self.open += 1
        try:
            while True:  # as the engine follows: a line now and then, until writing fails
                line = "2026-01-01T00:00:00.000000000Z a line\n"
                await response.write(frame("stdout", line.encode()))
                await asyncio.sleep(0.02)
        except ConnectionResetError:
            return response
        finally:
            self.open -= 1

    async def slow(self, request: web.Request) -> web.StreamResponse:
        """Two chunks a while apart: longer than the request limit the test sets."""
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"first ")
        await asyncio.sleep(0.6)
        await response.write(b"second")
        await response.write_eof()
        return response


async def test_leaving_a_followed_log_ends_it_at_the_server() -> None:
    following = Following()
    client = EngineClient(transport=AppTransport(following.app))
    try:
        for _ in range(3):  # and again: connections are not left behind following
            lines = client.logs("services", "s1", follow=True)
            async with contextlib.aclosing(lines):
                assert (await anext(lines)).text == "a line"
                assert following.open == 1
            await eventually(lambda: following.open == 0, "the server's handler ending")
    finally:
        await client.close()


async def test_a_stream_has_no_time_limit_but_a_request_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport_module, "REQUEST_TIMEOUT", 0.3)
    async with AppTransport(Following().app) as transport:
        async with transport.request("GET", "/slow", stream=True) as response:
            assert b"".join([chunk async for chunk in response.chunks()]) == b"first second"
        with pytest.raises(TimeoutError, match=r"no answer within 0\.3 s"):
            async with transport.request("GET", "/slow") as response:
                await response.read()


async def test_an_endpoint_that_is_not_there_cannot_be_reached(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/nothing.sock"
    client = EngineClient(url)
    try:
        with pytest.raises(ConnectError, match=f"^cannot reach {url}: ") as raised:
            await client.nodes()
        assert raised.value.status == 0
        assert not await client.ping()
        with pytest.raises(ConnectError, match=r"^event stream from .* ended: "):
            async for _ in client.events():
                pass
    finally:
        await client.close()


@pytest.mark.parametrize("url", ["ssh://ops@host", "ftp://host", "localhost:2375", "unix://"])
def test_urls_the_transport_cannot_use_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported URL"):
        HTTPTransport(url)


async def test_loading_aiohttp_waits_for_the_first_request() -> None:
    """The console draws its first frame before aiohttp loads: making a client loads none."""
    import subprocess
    import sys

    code = (
        "import sys; from engine.client import EngineClient; "
        "EngineClient('tcp://127.0.0.1:1'); print('aiohttp' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
