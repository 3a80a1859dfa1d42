"""Malformed and hostile requests at every route: clear 4xx answers, no change, no crash."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import aiohttp
import pytest

from engine.httpapi.routes import ROUTES
from tests.integration.served import served_over_tcp

BODIES = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'"a string"',
    b"1e999",
    b"\xff\xfe\x00garbage",
    b"[" * 50_000 + b"]" * 50_000,
    b'{"Name": {"$gt": 1}, "Mode": "global"}',
    b'{"Name": "x", "Mode": {"Replicated": {"Replicas": "three"}}}',
    b'{"Name": "x", "Mode": {"Global": {}, "Replicated": {"Replicas": 1}},'
    b' "TaskTemplate": {"ContainerSpec": {"Image": "nginx"}}}',
    b'{"Name": "x", "TaskTemplate": {"ContainerSpec": {"Image": "nginx"},'
    b' "RestartPolicy": {"Condition": "sometimes"}}}',
    b'{"Name": "x", "TaskTemplate": {"ContainerSpec": {"Image": "nginx"},'
    b' "Placement": {"Constraints": ["node.role=>manager"]}}}',
    b'{"Role": "overlord", "Availability": "active"}',
    b'{"Role": "worker", "Availability": "sideways"}',
    b'{"Orchestration": "five"}',
    b"x" * (3 * 1024 * 1024),  # over the 2 MiB limit
]
IDS = ["nope", "../../etc/passwd", "%00", "x" * 5000, "ŝérvïçé", "%2e%2e%2f"]
QUERIES = [
    "version=abc",
    "version=-1",
    "version=99999999999999999999999",
    "filters=%7Bgarbage",
    "filters=%7B%22name%22%3A5%7D",
    "filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
    "filters=%5B1%2C2%5D",
    "tail=abc&stdout=1",
    "since=abc&stdout=1",
    "stdout=0&stderr=0",
    "rollback=sideways&version=1",
    "until=nan&stdout=1",
]
PREFIXES = ["", "/v1.41", "/v9.99", "/v0.1", "/vx.y"]
# The 5xx answers Docker gives on purpose; anything else would be a fault.
DOCKER_SERVER_ERRORS = {
    (500, "rpc error: code = Unknown desc = update out of sequence"),
    (
        503,
        'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm '
        "and join another one.",
    ),
}


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with served_over_tcp() as (url, _):
        yield url


def requests() -> list[tuple[str, str, bytes]]:
    """Every route, with each kind of bad id, query and body.

    Requests that name a real object carry ``version=0``, older than any object, so none of
    them is a valid write; removals name objects that do not exist.
    """
    made = []
    for method, path, _ in ROUTES:
        if method == "HEAD":
            continue
        real = "nope" if method == "DELETE" else "web"
        for index, bad_id in enumerate(IDS):
            target = path.replace("{id}", bad_id).replace("{name:.+}", bad_id)
            query = QUERIES[index % len(QUERIES)]
            body = BODIES[index % len(BODIES)]
            made.append((method, f"{target}?{query}", body))
        for query in QUERIES:
            target = path.replace("{id}", real).replace("{name:.+}", "x")
            stale = query.replace("version=1", "version=0")
            made.append((method, f"{target}?{stale}", b"{"))
        for body in BODIES:
            target = path.replace("{id}", real).replace("{name:.+}", "x")
            made.append((method, f"{target}?version=0", body))
    for prefix in PREFIXES:
        made.append(("GET", f"{prefix}/services", b""))
        made.append(("POST", f"{prefix}/services/create", b"{"))
    return made


async def snapshot(session: aiohttp.ClientSession, url: str) -> dict[str, object]:
    state = {}
    for path in ("/services", "/nodes", "/tasks", "/swarm"):
        async with session.get(url + path) as response:
            assert response.status == 200
            state[path] = json.loads(await response.text())
    return state


async def test_hostile_requests_change_nothing_and_the_manager_still_answers(served: str) -> None:
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        spec = {
            "Name": "web",
            "Mode": {"Replicated": {"Replicas": 2}},
            "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1.10"}},
        }
        async with session.post(served + "/services/create", json=spec) as response:
            assert response.status == 201

        async def settled() -> bool:
            async with session.get(served + "/services?status=true") as response:
                (service,) = await response.json()
                return service["ServiceStatus"]["RunningTasks"] == 2

        deadline = time.monotonic() + 30
        while not await settled():
            assert time.monotonic() < deadline, "web never ran"
            await asyncio.sleep(0.2)
        before = await snapshot(session, served)

        answers: dict[int, int] = {}
        for method, path, body in requests():
            if path.startswith("/events"):
                path += "&until=1"  # a past end: the stream answers and closes
            async with session.request(method, served + path, data=body) as response:
                text = await response.read()
                answers[response.status] = answers.get(response.status, 0) + 1
                if response.status >= 500:
                    message = json.loads(text)["message"]
                    assert (response.status, message) in DOCKER_SERVER_ERRORS, (
                        method,
                        path,
                        body[:80],
                        message,
                    )
                elif response.status >= 400:
                    assert json.loads(text)["message"], (method, path)

        after = await snapshot(session, served)
        assert after == before
        async with session.get(served + "/_ping") as response:
            assert response.status == 200 and await response.text() == "OK"
        assert sum(count for status, count in answers.items() if 400 <= status < 500) > 300
