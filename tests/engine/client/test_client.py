"""EngineClient over a FakeTransport: what it asks, what it makes of the answers, and which
error it raises for each way an exchange can fail."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

from engine.api.objects import Service
from engine.api.types import TaskState
from engine.client import (
    APIError,
    ClientError,
    ConnectError,
    EngineClient,
    LogEntry,
    NotFound,
    UnreadableAnswer,
)
from engine.client.fake import HOLD, Answer, FakeTransport
from engine.httpapi.logs import frame
from tests.conftest import make_spec

NODE_ID, SERVICE_ID, TASK_ID = "n1", "s1", "t1"


def service(version: int = 5, name: str = "web") -> dict[str, Any]:
    return {"ID": SERVICE_ID, "Version": {"Index": version}, "Spec": {"Name": name}}


def task(task_id: str = TASK_ID, state: str = "running") -> dict[str, Any]:
    return {"ID": task_id, "DesiredState": "running", "Status": {"State": state}}


def log_line(text: str, moment: str = "2026-01-01T00:00:00.500000000Z") -> bytes:
    """A line as the logs API writes it with details and timestamps."""
    details = (
        f"com.docker.swarm.node.id={NODE_ID},com.docker.swarm.service.id={SERVICE_ID},"
        f"com.docker.swarm.task.id={TASK_ID}"
    )
    return f"{moment} {details} {text}\n".encode()


def event(action: str, name: str = "web") -> bytes:
    return json.dumps({"Type": "service", "Action": action, "Actor": {"ID": name}}).encode()


@pytest.fixture
def fake() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
async def client(fake: FakeTransport) -> Any:
    engine = EngineClient(transport=fake)
    yield engine
    await engine.close()


async def test_polls_read_the_lists_and_say_what_they_asked(
    fake: FakeTransport, client: EngineClient
) -> None:
    fake.answer("GET", "/nodes", [{"ID": NODE_ID}])
    fake.answer("GET", "/services", [service()])
    fake.answer("GET", "/tasks", [task()], [task(state="failed")])
    assert [node.id for node in await client.nodes()] == [NODE_ID]
    assert [s.spec.name for s in await client.services()] == ["web"]
    assert (await client.tasks())[0].status.state == TaskState.RUNNING
    assert (await client.tasks())[0].status.state == TaskState.FAILED
    assert [(r.method, r.path, r.params) for r in fake.requests[:2]] == [
        ("GET", "/nodes", {}),
        ("GET", "/services", {"status": "true"}),
    ]
    assert client.url == "fake://engine" and client.transport is fake


async def test_an_error_answer_is_an_api_error_with_the_endpoints_message(
    fake: FakeTransport, client: EngineClient
) -> None:
    fake.answer("GET", "/nodes", Answer({"message": "rpc error: no leader"}, status=503))
    fake.answer("GET", "/tasks", Answer(b"<html>bad gateway</html>\n", status=502))
    with pytest.raises(APIError) as raised:
        await client.nodes()
    assert (raised.value.message, raised.value.status) == ("rpc error: no leader", 503)
    assert not isinstance(raised.value, NotFound)
    with pytest.raises(APIError, match="bad gateway") as raised:
        await client.tasks()
    assert raised.value.status == 502


async def test_404_is_not_found_and_stats_of_a_gone_container_are_none(
    fake: FakeTransport, client: EngineClient
) -> None:
    with pytest.raises(NotFound) as raised:
        await client.swarm()
    assert (raised.value.message, raised.value.status) == ("page not found", 404)
    assert await client.container_stats("gone") is None
    assert fake.requests[-1].params == {"stream": "0", "one-shot": "1"}
    fake.answer("GET", "/containers/c1/stats", Answer({"message": "boom"}, status=500))
    with pytest.raises(APIError, match="boom"):
        await client.container_stats("c1")


async def test_an_unreachable_endpoint_is_a_connect_error(
    fake: FakeTransport, client: EngineClient
) -> None:
    fake.answer("GET", "/nodes", [])
    fake.answer("GET", "/_ping", b"OK")
    fake.answer("GET", "/metrics", b"up 1\n")
    assert await client.ping() and await client.metrics() == "up 1\n"
    fake.drop()
    with pytest.raises(ConnectError) as raised:
        await client.nodes()
    assert raised.value.message.startswith("cannot reach fake://engine: ")
    assert raised.value.status == 0
    assert not await client.ping()
    assert await client.metrics() is None
    fake.restore()
    assert await client.nodes() == []


async def test_closing_the_client_ends_a_held_poll_as_a_connect_error(
    fake: FakeTransport, client: EngineClient
) -> None:
    fake.answer("GET", "/nodes", [], HOLD)
    assert await client.nodes() == []
    poll = asyncio.create_task(client.nodes())
    await asyncio.wait_for(fake.wait_requests(2), 5)
    await client.close()
    with pytest.raises(ConnectError, match="closed"):
        await asyncio.wait_for(poll, 5)


@pytest.mark.parametrize(
    ("path", "call", "body"),
    [
        ("/nodes", "nodes", b"{"),
        ("/info", "info", b"<html>"),
        ("/services/create", "create_service", {"Warnings": []}),
    ],
)
async def test_an_answer_that_is_not_what_the_api_says_is_unreadable(
    fake: FakeTransport, client: EngineClient, path: str, call: str, body: object
) -> None:
    fake.answer("POST" if call == "create_service" else "GET", path, body)
    arguments = (make_spec(),) if call == "create_service" else ()
    with pytest.raises(UnreadableAnswer, match="unreadable answer") as raised:
        await getattr(client, call)(*arguments)
    assert isinstance(raised.value, ClientError) and raised.value.status == 0


async def test_actions_send_the_spec_with_the_version_read(
    fake: FakeTransport, client: EngineClient
) -> None:
    fake.answer("GET", "/services/s1", service(version=7))
    fake.answer("POST", "/services/s1/update", {"Warnings": None})
    fake.answer("POST", "/services/create", Answer({"ID": "s2"}, status=201))
    fake.answer("DELETE", "/services/s1", b"")

    def rename(spec: Any) -> Any:
        from msgspec.structs import replace

        return replace(spec, name="api")

    await client.modify_service(SERVICE_ID, rename)
    await client.rollback_service(SERVICE_ID)
    assert await client.create_service(make_spec(name="cache")) == "s2"
    await client.remove_service(SERVICE_ID)
    update, rollback = (r for r in fake.requests if r.path == "/services/s1/update")
    assert update.params == {"version": "7"}
    assert update.body is not None and json.loads(update.body)["Name"] == "api"
    assert rollback.params == {"version": "7", "rollback": "previous"}
    create = next(r for r in fake.requests if r.path == "/services/create")
    assert create.body is not None and json.loads(create.body)["Name"] == "cache"
    assert fake.requests[-1][:2] == ("DELETE", "/services/s1")


async def test_a_stale_version_is_the_endpoints_conflict(
    fake: FakeTransport, client: EngineClient
) -> None:
    from engine.api.codec import from_builtins

    message = "update out of sequence"
    fake.answer("POST", "/services/s1/update", Answer({"message": message}, status=500))
    with pytest.raises(APIError, match=message):
        await client.update_service(from_builtins(service(), Service))


async def test_events_are_read_as_their_lines_arrive(
    fake: FakeTransport, client: EngineClient
) -> None:
    stream = fake.stream("GET", "/events")
    seen: list[dict[str, Any]] = []
    got_two = asyncio.Event()

    async def consume() -> None:
        async for one in client.events(since=1.5):
            seen.append(one)
            if len(seen) == 2:
                got_two.set()

    consumer = asyncio.create_task(consume())
    created = event("create")
    stream.push(created[:10])  # an event split across two chunks
    stream.push(created[10:] + b"\n\n" + event("update") + b"\n")
    await asyncio.wait_for(got_two.wait(), 5)
    stream.push(event("remove"))  # the last line need not end with a newline
    stream.end()
    await asyncio.wait_for(consumer, 5)
    assert [one["Action"] for one in seen] == ["create", "update", "remove"]
    params = fake.requests[0].params
    assert json.loads(params["filters"]) == {"type": ["service", "node"]}
    assert params["since"] == "1.500000000"


async def test_an_event_stream_that_drops_or_garbles_says_it_ended(
    fake: FakeTransport, client: EngineClient
) -> None:
    stream = fake.stream("GET", "/events")
    stream.push(event("create") + b"\n")
    stream.fail()
    seen = []
    with pytest.raises(ConnectError, match=r"^event stream from fake://engine ended: "):
        async for one in client.events():
            seen.append(one["Action"])
    assert seen == ["create"]
    fake.stream("GET", "/events").push(b"not json\n")
    with pytest.raises(UnreadableAnswer, match=r"^event stream from fake://engine ended: "):
        async for _ in client.events():
            pass
    fake.answer("GET", "/events", Answer({"message": "invalid filter 'type'"}, status=400))
    with pytest.raises(APIError, match="invalid filter"):
        async for _ in client.events():
            pass


async def test_log_frames_are_read_whole_even_when_split_across_chunks(
    fake: FakeTransport, client: EngineClient
) -> None:
    stream = fake.stream("GET", "/services/s1/logs")
    first, second = frame("stdout", log_line("hello")), frame("stderr", log_line("oops"))
    stream.push(first[:5])  # inside the frame's header
    stream.push(first[5:] + second[:20])  # inside the second frame's text
    stream.push(second[20:])
    stream.end()
    entries = [entry async for entry in client.logs("services", SERVICE_ID, tail=50)]
    assert entries == [
        LogEntry(1767225600.5, "stdout", TASK_ID, NODE_ID, "hello"),
        LogEntry(1767225600.5, "stderr", TASK_ID, NODE_ID, "oops"),
    ]
    assert fake.requests[0].params == {
        "stdout": "1",
        "stderr": "1",
        "details": "1",
        "timestamps": "1",
        "follow": "0",
        "tail": "50",
    }


async def test_logs_of_a_tty_service_are_raw_lines(
    fake: FakeTransport, client: EngineClient
) -> None:
    line = log_line("no frames here")
    stream = fake.stream("GET", "/tasks/t1/logs")
    stream.push(line[:30])
    stream.push(line[30:])
    stream.end()
    entries = [entry async for entry in client.logs("tasks", TASK_ID, tail=None)]
    assert [(e.stream, e.text) for e in entries] == [("stdout", "no frames here")]
    assert fake.requests[-1].params["tail"] == "all"


async def test_leaving_a_followed_log_closes_its_stream(
    fake: FakeTransport, client: EngineClient
) -> None:
    stream = fake.stream("GET", "/services/s1/logs")
    stream.push(frame("stdout", log_line("one")) + frame("stdout", log_line("two")))
    async with contextlib.aclosing(client.logs("services", SERVICE_ID, follow=True)) as lines:
        async for entry in lines:
            assert entry.text == "one"
            assert fake.open_streams("/services/s1/logs") == 1
            break
    assert fake.open_streams("/services/s1/logs") == 0
    assert fake.requests[0].params["follow"] == "1"


async def test_a_cancelled_log_reader_closes_its_stream(
    fake: FakeTransport, client: EngineClient
) -> None:
    fake.stream("GET", "/services/s1/logs")

    async def follow() -> None:
        async for _ in client.logs("services", SERVICE_ID, follow=True):
            pass

    reader = asyncio.create_task(follow())
    await asyncio.wait_for(fake.wait_open_streams("/services/s1/logs", 1), 5)
    reader.cancel()
    await asyncio.wait_for(fake.wait_open_streams("/services/s1/logs", 0), 5)


def test_a_client_is_made_from_a_url_or_a_transport_not_both() -> None:
    with pytest.raises(TypeError):
        EngineClient()
    with pytest.raises(TypeError):
        EngineClient("unix:///x.sock", transport=FakeTransport())
    with pytest.raises(ValueError, match="unsupported URL"):
        EngineClient("ftp://example.com")
