"""Answers that grow with the cluster come in chunks, each a bounded step of work with a turn of
the event loop between them, and say what a whole answer would: the task list, services with
their status, ``/metrics`` (all of it, or the families asked for), while ``/_ping`` is answered."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.api.codec import decode
from engine.api.objects import Service, Task
from engine.api.types import TaskState
from engine.clock import FakeClock
from engine.embedded import EmbeddedCluster
from engine.httpapi.routes.containers import FAMILIES
from engine.httpapi.stream import STEP, stream_json, stream_lines
from engine.serve import served
from tests.conftest import Sim, make_spec

REPLICAS = 1_000  # tasks of "web": several steps of STEP, and megabytes of /metrics
USAGE = ("container_cpu_usage_seconds_total", "container_memory_usage_bytes")
LAST_FAMILY = list(FAMILIES)[-1]  # the answer is whole once it has come


@contextlib.asynccontextmanager
async def big_engine(tmp_path: Path) -> AsyncIterator[tuple[Sim, aiohttp.ClientSession]]:
    """An engine on a unix socket, its cluster on a fake clock running ``REPLICAS`` tasks of
    "web" and two of "api"; and a session that asks it."""
    clock = FakeClock()
    cluster = EmbeddedCluster(nodes=3, clock=clock, seed=5, heartbeat_epsilon=0.0)
    socket = tmp_path / "engine.sock"
    async with served(cluster, socket):
        sim = Sim(cluster, clock)
        await sim.until(
            lambda: all(n.status.state.value == "ready" for n in sim.control.list_nodes()),
            what="nodes ready",
        )
        sim.control.create_service(make_spec(name="web", replicas=REPLICAS))
        sim.control.create_service(make_spec(name="api", replicas=2))
        await sim.converge("web", REPLICAS, timeout=600)
        await sim.converge("api", 2)
        connector = aiohttp.UnixConnector(path=str(socket))
        async with aiohttp.ClientSession("http://docker", connector=connector) as session:
            yield sim, session


async def chunks_of(session: aiohttp.ClientSession, path: str) -> list[bytes]:
    """The body of ``GET path``, as the chunks the engine sent it in."""
    async with session.get(path) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Transfer-Encoding"] == "chunked"
        chunks, part = [], b""
        async for data, end_of_chunk in response.content.iter_chunks():
            part += data
            if end_of_chunk:
                chunks.append(part)
                part = b""
        return chunks


def families(text: str) -> list[str]:
    return re.findall(r"^# TYPE (\S+) ", text, re.M)


class Ticker:
    """Counts the turns the event loop gives it, to tell which step a piece of work ran in."""

    def __init__(self) -> None:
        self.turns = 0

    async def run(self) -> None:
        while True:
            self.turns += 1
            await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def serving(handler: web.Handler) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    app.router.add_get("/", handler)
    async with TestClient(TestServer(app)) as client:
        yield client


def runs(turns: list[int]) -> list[int]:
    """How many pieces of work ran in each turn, in order."""
    return [len(list(group)) for _, group in itertools.groupby(turns)]


async def test_json_is_made_step_by_step_with_a_turn_of_the_loop_between_steps() -> None:
    ticker = Ticker()
    items = list(range(3 * STEP + 10))

    async def handler(request: web.Request) -> web.StreamResponse:
        def render(item: int) -> dict[str, int] | None:
            return {"item": item, "turn": ticker.turns} if item % 7 else None

        return await stream_json(request, items[::-1], render, key=lambda value: value["item"])

    ticking = asyncio.create_task(ticker.run())
    try:
        async with serving(handler) as client:
            answer = await (await client.get("/")).json()
    finally:
        ticking.cancel()
    assert [value["item"] for value in answer] == [item for item in items if item % 7]
    rendered = sorted(answer, key=lambda value: -value["item"])  # in the order of the steps
    steps = [items[::-1][start : start + STEP] for start in range(0, len(items), STEP)]
    assert runs([value["turn"] for value in rendered]) == [
        len([item for item in step if item % 7]) for step in steps
    ]


async def test_lines_are_made_as_they_are_written_a_step_at_a_time() -> None:
    ticker = Ticker()
    turns: list[int] = []

    def lines() -> Iterator[str]:
        for number in range(2 * STEP + 3):
            turns.append(ticker.turns)
            yield f"line {number}"

    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream_lines(request, lines())

    ticking = asyncio.create_task(ticker.run())
    try:
        async with serving(handler) as client:
            response = await client.get("/")
            text = await response.text()
    finally:
        ticking.cancel()
    assert text == "".join(f"line {number}\n" for number in range(2 * STEP + 3))
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert runs(turns) == [STEP, STEP, 3]


async def test_a_large_task_list_comes_in_chunks_and_is_the_whole_list(tmp_path: Path) -> None:
    async with big_engine(tmp_path) as (sim, session):
        chunks = await chunks_of(session, "/v1.41/tasks")
        expected = sorted(
            sim.control.list_tasks(),
            key=lambda t: (t.service_id, t.slot, t.node_id, t.created_at or ""),
        )
    assert len(chunks) > REPLICAS // STEP
    assert decode(b"".join(chunks), list[Task]) == expected


async def test_metrics_come_in_chunks_with_a_sample_per_running_task(tmp_path: Path) -> None:
    async with big_engine(tmp_path) as (sim, session):
        chunks = await chunks_of(session, "/metrics")
        running = {t.id for t in sim.control.list_tasks() if t.status.state == TaskState.RUNNING}
    text = b"".join(chunks).decode()
    assert len(chunks) > 2 * REPLICAS // STEP
    assert all(chunk.endswith(b"\n") for chunk in chunks)  # no line is cut between chunks
    for family in USAGE:
        tasks = re.findall(rf'^{family}{{.*task_id="(\w+)".*}} \S+$', text, re.M)
        assert sorted(tasks) == sorted(running)
    assert families(text)[:2] == list(USAGE)
    assert families(text)[-1] == LAST_FAMILY


async def test_ping_is_answered_while_metrics_wait_for_a_slow_reader(tmp_path: Path) -> None:
    """The reader takes the first chunk of /metrics and no more until a ping is answered on
    another connection; then the rest of /metrics comes, whole."""
    async with big_engine(tmp_path) as (_, session), session.get("/metrics") as metrics:
        first, _ = await metrics.content.readchunk()
        async with session.get("/_ping") as ping:
            assert ping.status == 200 and await ping.text() == "OK"
        text = (first + await metrics.read()).decode()
    assert families(text)[0] == USAGE[0] and families(text)[-1] == LAST_FAMILY
    assert len(re.findall(rf"^{USAGE[1]}{{", text, re.M)) >= REPLICAS


async def test_metrics_write_only_the_families_named(tmp_path: Path) -> None:
    async with big_engine(tmp_path) as (_, session):

        async def asked(query: str) -> str:
            async with session.get(f"/metrics?{query}") as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                return await response.text()

        every = await asked("")
        usage = await asked("name=" + ",".join(USAGE))
        repeated = await asked("name=swarm_manager_nodes&name=machine_cpu_cores")
        unknown = await asked("name=go_goroutines")

    def lines_of(names: tuple[str, ...]) -> list[str]:
        family = re.compile(rf"(# (HELP|TYPE) )?({'|'.join(names)})[{{ ]")
        return [line for line in every.splitlines() if family.match(line)]

    assert len(families(every)) == len(FAMILIES)
    assert families(usage) == list(USAGE)
    assert usage.splitlines() == lines_of(USAGE)
    assert len(usage.splitlines()) == 2 * (2 + REPLICAS + 2)  # help, type, web's, api's
    assert families(repeated) == ["machine_cpu_cores", "swarm_manager_nodes"]
    assert repeated.splitlines() == lines_of(("machine_cpu_cores", "swarm_manager_nodes"))
    assert unknown == ""


async def test_service_status_counts_tasks_of_every_step(tmp_path: Path) -> None:
    async with big_engine(tmp_path) as (sim, session):
        async with session.get("/v1.41/services?status=true") as response:
            services = decode(await response.read(), list[Service])
        async with session.get('/v1.41/services?filters={"name":["we"]}') as response:
            named = decode(await response.read(), list[Service])
        tasks = sim.control.list_tasks()
    status = {s.spec.name: s.service_status for s in services}
    assert [s.spec.name for s in services] == ["web", "api"]  # in the order they were made
    for name, replicas in (("web", REPLICAS), ("api", 2)):
        service = sim.control.get_service(name)
        running = [
            t for t in tasks if t.service_id == service.id and t.status.state == TaskState.RUNNING
        ]
        assert len(running) == replicas
        counted = status[name]
        assert counted is not None and counted.running_tasks == replicas
        assert counted.desired_tasks == replicas
    assert [s.spec.name for s in named] == ["web"] and named[0].service_status is None


async def test_a_bad_filter_is_answered_as_an_error_not_a_stream(tmp_path: Path) -> None:
    async with big_engine(tmp_path) as (_, session):
        bad = json.dumps({"desired-state": ["sleeping"]})
        async with session.get("/v1.41/tasks", params={"filters": bad}) as response:
            body = await response.json()
            assert response.status == 400 and "Transfer-Encoding" not in response.headers
    assert body == {"message": "Invalid desired-state filter: 'sleeping'"}
