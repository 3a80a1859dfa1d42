"""FakeTransport, the scripted endpoint other tests stand on: it must answer as it is told."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from engine.client.fake import HOLD, Answer, FakeTransport, Request


async def ask(fake: FakeTransport, path: str, method: str = "GET", **options: Any) -> Any:
    """The status and the decoded body of one request."""
    async with fake.request(method, path, **options) as response:
        body = await response.read()
    return response.status, json.loads(body) if body else None


async def settle() -> None:
    """Lets every task that can run do so; the fake does no I/O, so this is deterministic."""
    for _ in range(20):
        await asyncio.sleep(0)


async def read_stream(fake: FakeTransport, path: str) -> list[bytes]:
    async with fake.request("GET", path, stream=True) as response:
        return [chunk async for chunk in response.chunks()]


async def test_queued_answers_in_turn_then_the_last_again() -> None:
    fake = FakeTransport()
    fake.answer("GET", "/nodes", ["a"], Answer({"message": "no leader"}, status=503), ["a", "b"])
    answers = [await ask(fake, "/nodes") for _ in range(4)]
    assert answers == [
        (200, ["a"]),
        (503, {"message": "no leader"}),
        (200, ["a", "b"]),
        (200, ["a", "b"]),
    ]


async def test_bytes_go_as_they_are_and_objects_as_json() -> None:
    fake = FakeTransport()
    fake.answer("GET", "/metrics", b"up 1\n")
    fake.answer("GET", "/info", {"Name": "m1"})
    async with fake.request("GET", "/metrics", versioned=False) as response:
        assert await response.read() == b"up 1\n"
        assert "Content-Type" not in response.headers
    async with fake.request("GET", "/info") as response:
        assert json.loads(await response.read()) == {"Name": "m1"}
        assert response.headers["Content-Type"] == "application/json"


async def test_routes_match_without_version_or_query_and_requests_keep_the_params() -> None:
    fake = FakeTransport()
    fake.answer("GET", "/v1.41/services", [])
    assert await ask(fake, "/services?status=true", params={"filters": "{}"}) == (200, [])
    assert await ask(fake, "/v1.24/services") == (200, [])
    assert await ask(fake, "/services", "DELETE") == (404, {"message": "page not found"})
    await ask(fake, "/services/create", "POST", body=b"{}")
    assert fake.requests == [
        Request("GET", "/services", {"status": "true", "filters": "{}"}, None),
        ("GET", "/services", {}, None),
        ("DELETE", "/services", {}, None),
        ("POST", "/services/create", {}, b"{}"),
    ]


async def test_an_unknown_route_is_404_as_the_engine_says_it() -> None:
    assert await ask(FakeTransport(), "/nope") == (404, {"message": "page not found"})


async def test_hold_waits_until_the_script_changes() -> None:
    fake = FakeTransport()
    fake.answer("GET", "/tasks", ["first"], HOLD)
    assert await ask(fake, "/tasks") == (200, ["first"])
    held = asyncio.create_task(ask(fake, "/tasks"))
    await settle()
    assert not held.done()
    fake.answer("GET", "/tasks", ["second"])
    assert await asyncio.wait_for(held, 5) == (200, ["second"])


@pytest.mark.parametrize("end", ["close", "drop"])
async def test_hold_waits_until_the_transport_closes_or_drops(end: str) -> None:
    fake = FakeTransport()
    fake.answer("GET", "/tasks", HOLD)
    held = asyncio.create_task(ask(fake, "/tasks"))
    await settle()
    assert not held.done()
    if end == "close":
        await fake.close()
    else:
        fake.drop()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(held, 5)


def test_hold_can_only_come_last() -> None:
    with pytest.raises(ValueError, match="last"):
        FakeTransport().answer("GET", "/tasks", HOLD, [])


async def test_a_stream_gives_what_was_pushed_then_ends() -> None:
    fake = FakeTransport()
    stream = fake.stream("GET", "/events")
    stream.push(b"before anyone reads ")
    reader = asyncio.create_task(read_stream(fake, "/v1.41/events?since=1"))
    await settle()
    stream.push(b"and after")
    await settle()
    assert not reader.done()
    stream.end()
    assert await asyncio.wait_for(reader, 5) == [b"before anyone reads ", b"and after"]


async def test_a_failed_stream_drops_after_what_was_pushed() -> None:
    fake = FakeTransport()
    stream = fake.stream("GET", "/events")
    got: list[bytes] = []

    async def consume() -> None:
        async with fake.request("GET", "/events", stream=True) as response:
            async for chunk in response.chunks():
                got.append(chunk)

    stream.push(b"one")
    stream.fail("reset by peer")
    with pytest.raises(ConnectionResetError, match="reset by peer"):
        await asyncio.wait_for(consume(), 5)
    assert got == [b"one"]


async def test_open_streams_are_counted_until_their_block_is_left() -> None:
    fake = FakeTransport()
    fake.stream("GET", "/services/x/logs")
    fake.answer("GET", "/services", [])
    await ask(fake, "/services")
    assert fake.open_streams("/services") == 0  # not streamed, and over
    readers = [asyncio.create_task(read_stream(fake, "/services/x/logs")) for _ in range(2)]
    await asyncio.wait_for(fake.wait_open_streams("/services/x/logs", 2), 5)
    readers[0].cancel()
    await asyncio.wait_for(fake.wait_open_streams("/services/x/logs", 1), 5)
    readers[1].cancel()
    await asyncio.wait_for(fake.wait_open_streams("/v1.41/services/x/logs", 0), 5)
    assert fake.open_streams("/services/x/logs") == 0


async def test_a_dropped_endpoint_refuses_everything_until_restored() -> None:
    fake = FakeTransport()
    fake.answer("GET", "/nodes", [])
    stream = fake.stream("GET", "/events")
    reader = asyncio.create_task(read_stream(fake, "/events"))
    await asyncio.wait_for(fake.wait_open_streams("/events", 1), 5)
    fake.drop()
    with pytest.raises(ConnectionRefusedError, match="fake://engine"):
        await ask(fake, "/nodes")
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader, 5)
    fake.restore()
    assert await ask(fake, "/nodes") == (200, [])
    stream.push(b"again")
    stream.end()
    assert await read_stream(fake, "/events") == [b"again"]
    assert [request.path for request in fake.requests] == ["/events", "/nodes", "/nodes", "/events"]
