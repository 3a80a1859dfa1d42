"""Logs as the API streams them: the history is the bytes a whole answer had, made as it is
written, in chunks and with bounded memory, while other requests are answered; a tail does not
read the history before it; a follow sends each line when it is written, woken by the clock for
a simulated container and by the line itself for a real one's."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, urlencode

import aiodocker
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from msgspec.structs import replace

import engine.agent.exec.docker as docker_module
from engine.agent.exec.docker import API_VERSION, DockerContainer
from engine.agent.exec.simcontent import SimContent
from engine.api.logs import LogLine
from engine.api.objects import Task
from engine.api.specs import ServiceSpec
from engine.clock import FakeClock
from engine.embedded import EmbeddedCluster
from engine.httpapi.app import make_app
from engine.httpapi.backend import Container
from engine.httpapi.context import OPEN_STREAMS
from engine.httpapi.logs import CHUNK_BYTES, FOLLOW_BATCH
from engine.manager.controlapi import ControlAPI
from engine.store import MemoryStore
from tests.conftest import Sim, make_spec, start_sim

TIMEOUT = 30.0  # seconds a read gets before the test fails
STREAMS = {"stdout": 1, "stderr": 2}


def whole_answer(
    sim: Sim,
    tasks: list[Task],
    end: float,
    tty: bool = False,
    since: float = 0.0,
    tail: int | None = None,
    streams: tuple[str, ...] = ("stdout", "stderr"),
    details: bool = False,
    timestamps: bool = False,
) -> bytes:
    """The answer as it was made whole: every line of every task in ``[since, end)``, sorted by
    time then task order, each rendered on its own."""
    found: list[tuple[float, int, Task, LogLine]] = []
    for order, task in enumerate(tasks):
        container = sim.cluster.container(task)
        if container is None:
            continue
        lines = [line for line in container.lines(since, end) if line.stream in streams]
        if tail is not None:
            lines = lines[-tail:] if tail else []
        found.extend((line.time, order, task, line) for line in lines)
    found.sort(key=lambda entry: (entry[0], entry[1]))
    answer = b""
    for _, _, task, line in found:
        text = line.text
        if details:
            attrs = {
                "com.docker.swarm.node.id": task.node_id,
                "com.docker.swarm.service.id": task.service_id,
                "com.docker.swarm.task.id": task.id,
            }
            text = ",".join(f"{k}={quote_plus(v)}" for k, v in sorted(attrs.items())) + " " + text
        if timestamps:
            text = f"{rfc3339(line.time)} {text}"
        payload = (text + "\n").encode("utf-8", "replace")
        if not tty:
            payload = (
                bytes((STREAMS[line.stream], 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload
            )
        answer += payload
    return answer


def muxed(stream: str, payload: bytes) -> bytes:
    return bytes((STREAMS[stream], 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload


def rfc3339(moment: float) -> str:
    whole = int(moment)
    nanos = round((moment - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def logs_path(kind: str, object_id: str, **query: object) -> str:
    params = {"stdout": "1", "stderr": "1", **{k: str(v) for k, v in query.items()}}
    return f"/v1.41/{kind}/{object_id}/logs?{urlencode(params)}"


async def serve(backend: Any) -> tuple[TestClient[web.Request, web.Application], web.Application]:
    app = make_app(backend)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    return client, app


@pytest.fixture
async def cluster() -> AsyncIterator[Sim]:
    sim = await start_sim()
    yield sim
    await sim.cluster.stop()


def with_tty(spec: ServiceSpec) -> ServiceSpec:
    template = spec.task_template
    assert template is not None and template.container_spec is not None
    container = replace(template.container_spec, tty=True)
    return replace(spec, task_template=replace(template, container_spec=container))


QUERIES: list[dict[str, Any]] = [
    {},
    {"details": True},
    {"timestamps": True},
    {"details": True, "timestamps": True},
    {"tail": 5},
    {"tail": 0},
    {"tail": 100_000},
    {"since": 30.0},
    {"until": 90.0},
    {"since": 30.0, "until": 90.0, "tail": 7, "details": True},
    {"streams": ("stdout",)},
    {"streams": ("stderr",), "tail": 3},
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda query: repr(query) if query else "all")
async def test_a_history_is_the_bytes_the_whole_answer_had(
    cluster: Sim, query: dict[str, Any]
) -> None:
    """Lines of three nginx replicas (stderr for 5xx) and two workers, merged by time then task
    order, with tail, since, until, details, timestamps and one stream; also a TTY service."""
    sim = cluster
    sim.control.create_service(make_spec(name="web", replicas=3))
    sim.control.create_service(make_spec(name="worker", replicas=2, image="example/worker:1"))
    sim.control.create_service(with_tty(make_spec(name="console", replicas=2)))
    for name, replicas in (("web", 3), ("worker", 2), ("console", 2)):
        await sim.converge(name, replicas)
    began = sim.clock.time()
    await sim.advance(120)
    client, _ = await serve(sim.cluster)
    try:
        end = sim.clock.time()
        streams = query.get("streams", ("stdout", "stderr"))
        params: dict[str, object] = {name: int(name in streams) for name in STREAMS}
        for name in ("details", "timestamps"):
            if query.get(name):
                params[name] = 1
        if "tail" in query:
            params["tail"] = query["tail"]
        since = began + query["since"] if "since" in query else 0.0
        if "since" in query:
            params["since"] = f"{since:.9f}"
        if "until" in query:
            params["until"] = f"{began + query['until']:.9f}"
            end = began + query["until"]
        expected = {
            "tail": query.get("tail"),
            "since": since,
            "streams": streams,
            "details": bool(query.get("details")),
            "timestamps": bool(query.get("timestamps")),
        }
        for name in ("web", "worker", "console"):
            service = sim.control.get_service(name)
            tasks = sim.control.list_tasks(service.id)
            path = f"/v1.41/services/{service.id}/logs?{urlencode(params)}"
            async with client.get(path) as response:
                assert response.status == 200
                answer = await response.read()
            whole = whole_answer(sim, tasks, end, tty=name == "console", **expected)
            assert answer == whole, name
            if query.get("tail") != 0:
                assert whole, name  # the case says something
        task = sim.running("web")[1]
        path = f"/v1.41/tasks/{task.id}/logs?{urlencode(params)}"
        async with client.get(path) as response:
            assert await response.read() == whole_answer(sim, [task], end, **expected)
    finally:
        await client.close()


async def test_lines_written_before_a_containers_first_words_come_in_time_order() -> None:
    """A container writing every 100 µs writes its first lines before the lines it says as it
    starts (1 ms and 2 ms in): they come by time, as they did when the answer was sorted."""
    sim = await start_sim(nodes=1)
    try:
        labels = {"swarmdeck.sim.log-every": "100us"}
        sim.control.create_service(make_spec(name="chatty", replicas=2, labels=labels))
        await sim.converge("chatty", 2)
        await sim.advance(1)
        tasks = sim.control.list_tasks(sim.control.get_service("chatty").id)
        container = sim.cluster.container(tasks[0])
        assert container is not None and container.started is not None
        until = container.started + 0.005
        client, _ = await serve(sim.cluster)
        try:
            path = logs_path("services", tasks[0].service_id, until=f"{until:.9f}")
            async with client.get(path) as response:
                answer = await response.read()
        finally:
            await client.close()
        assert answer == whole_answer(sim, tasks, until)
        assert b"nginx: [notice]" in answer
        starting = list(container.lines(0.0, until))
        assert [line.time for line in starting] == sorted(line.time for line in starting)
        assert starting[0].text.startswith("10.255.0.")  # before the first words
    finally:
        await sim.cluster.stop()


async def chatty(replicas: int, seconds: float, every: str = "1ms", nodes: int = 1) -> Sim:
    sim = await start_sim(nodes=nodes)
    labels = {"swarmdeck.sim.log-every": every}
    sim.control.create_service(make_spec(name="chatty", replicas=replicas, labels=labels))
    await sim.converge("chatty", replicas)
    await sim.advance(seconds)
    return sim


async def test_a_big_history_goes_out_in_chunks_with_bounded_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """200,000 lines (10 replicas, 20 s at a line a millisecond): many writes of about
    ``CHUNK_BYTES``, and the process never holds more than a fraction of the answer."""
    sim = await chatty(replicas=10, seconds=20)
    writes: list[int] = []
    write = web.StreamResponse.write

    async def counted(self: web.StreamResponse, data: bytes | bytearray | memoryview) -> None:
        writes.append(len(data))
        await write(self, data)

    monkeypatch.setattr(web.StreamResponse, "write", counted)
    client, _ = await serve(sim.cluster)
    try:
        service = sim.control.get_service("chatty")
        total = lines = 0
        tracemalloc.start()
        try:
            async with client.get(logs_path("services", service.id, details=1)) as response:
                async for chunk in response.content.iter_chunked(1 << 16):
                    total += len(chunk)
                    lines += chunk.count(b"\n")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        await client.close()
        await sim.cluster.stop()
    assert lines >= 200_000
    assert sum(writes) == total
    assert len(writes) >= total // (2 * CHUNK_BYTES)
    assert max(writes) < 2 * CHUNK_BYTES
    assert peak < total / 4, f"peak {peak} bytes for an answer of {total}"


def count_lines_made(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Counts the lines simulated containers make from now on."""
    made = 0
    slot = SimContent._slot

    def counted(self: SimContent, index: int) -> tuple[float, tuple[int, ...]]:
        nonlocal made
        made += 1
        return slot(self, index)

    monkeypatch.setattr(SimContent, "_slot", counted)
    return lambda: made


async def test_ping_is_answered_while_a_big_answer_goes_to_a_slow_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a reader takes 100,000 lines slowly, /_ping is answered between its reads, and
    the lines are made as they are written, not all before the first is sent."""
    sim = await chatty(replicas=10, seconds=10)
    made = count_lines_made(monkeypatch)
    client, app = await serve(sim.cluster)
    try:
        service = sim.control.get_service("chatty")
        async with client.get(logs_path("services", service.id, details=1)) as response:
            lines = (await response.content.read(1 << 16)).count(b"\n")
            for _ in range(3):
                async with client.get("/_ping") as ping:
                    assert ping.status == 200 and await ping.text() == "OK"
                assert app[OPEN_STREAMS]["logs"] == 1  # the answer is still being written
                assert made() < 100_000  # and made as it goes
                lines += (await response.content.read(1 << 16)).count(b"\n")
            async for chunk in response.content.iter_chunked(1 << 16):
                lines += chunk.count(b"\n")
        assert lines >= 100_000
        assert app[OPEN_STREAMS]["logs"] == 0
    finally:
        await client.close()
        await sim.cluster.stop()


async def test_a_tail_is_the_end_of_the_whole_history() -> None:
    """``tail`` of 200,000 lines of one container is the last lines of the whole history, with
    both streams or stderr alone."""
    sim = await chatty(replicas=1, seconds=200)
    client, _ = await serve(sim.cluster)
    try:
        end = sim.clock.time()
        tasks = sim.running("chatty")
        for streams in (("stdout", "stderr"), ("stderr",)):
            params = {name: int(name in streams) for name in STREAMS}
            for tail in (1, 1000):
                path = f"/v1.41/tasks/{tasks[0].id}/logs?{urlencode({**params, 'tail': tail})}"
                async with client.get(path) as response:
                    answer = await response.read()
                assert answer == whole_answer(sim, tasks, end, tail=tail, streams=streams)
                assert answer.count(b"\n") == tail
    finally:
        await client.close()
        await sim.cluster.stop()


async def test_a_tail_of_a_huge_history_reads_only_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container that wrote a line a microsecond for a minute (60 million lines): its last
    five lines are the end of its history, found without reading the rest."""
    sim = await chatty(replicas=1, seconds=60, every="1us")
    made = count_lines_made(monkeypatch)
    client, _ = await serve(sim.cluster)
    try:
        end = sim.clock.time()
        task = sim.running("chatty")[0]
        async with client.get(logs_path("tasks", task.id, tail=5)) as response:
            answer = await response.read()
        container = sim.cluster.container(task)
        assert container is not None
        recent = list(container.lines(end - 100e-6, end))
        assert len(recent) > 5
        last = recent[-5:]
        assert answer == b"".join(muxed(line.stream, f"{line.text}\n".encode()) for line in last)
        assert made() < 1000  # of 60 million
    finally:
        await client.close()
        await sim.cluster.stop()


async def next_frame(response: ClientResponse) -> tuple[int, bytes]:
    head = await asyncio.wait_for(response.content.readexactly(8), TIMEOUT)
    size = int.from_bytes(head[4:], "big")
    return head[0], await asyncio.wait_for(response.content.readexactly(size), TIMEOUT)


def framed(line: LogLine) -> tuple[int, bytes]:
    return STREAMS[line.stream], (line.text + "\n").encode()


async def test_a_follow_sends_each_line_when_the_clock_reaches_it(cluster: Sim) -> None:
    """Followed on a fake clock, each new line of two replicas arrives when the clock reaches
    the moment it is written (a look every 0.25 s would send it later), and not before; a line
    written less than FOLLOW_BATCH after the last look comes with the next one, at the batch's
    end."""
    sim = cluster
    sim.control.create_service(make_spec(name="web", replicas=2))
    await sim.converge("web", 2)
    await sim.advance(5)
    client, app = await serve(sim.cluster)
    try:
        service = sim.control.get_service("web")
        boxes = [sim.cluster.container(task) for task in sim.running("web")]
        containers = [box for box in boxes if box is not None]
        async with client.get(logs_path("services", service.id, follow=1, tail=0)) as response:
            await sim.advance(0)
            assert app[OPEN_STREAMS]["logs"] == 1
            for _ in range(8):
                now = sim.clock.time()
                moments = [box.next_line_at(now) for box in containers]
                due = min(moment for moment in moments if moment is not None)
                line = next(iter(containers[moments.index(due)].lines(due, due + 1e-6)))
                received = response.content.total_bytes
                sent = max(due, now + FOLLOW_BATCH)
                await sim.advance(sent - now - 1e-3)
                assert response.content.total_bytes == received  # nothing before its moment
                await sim.advance(1e-3 + 1e-6)
                assert await next_frame(response) == framed(line)
        await sim.advance(1.5)  # the follow sees its client gone
        assert app[OPEN_STREAMS]["logs"] == 0
    finally:
        await client.close()


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.01)


class WithDockerContainer:
    """The cluster, but the container of one task is a real one's, followed from an engine."""

    def __init__(self, cluster: EmbeddedCluster, task_id: str, box: DockerContainer) -> None:
        self._cluster = cluster
        self._task_id = task_id
        self._box = box

    @property
    def control(self) -> ControlAPI:
        return self._cluster.control

    @property
    def store(self) -> MemoryStore:
        return self._cluster.store

    @property
    def clock(self) -> FakeClock:
        assert isinstance(self._cluster.clock, FakeClock)
        return self._cluster.clock

    @property
    def local_node_id(self) -> str:
        return self._cluster.local_node_id

    def container(self, task: Task) -> Container | None:
        return self._box if task.id == self._task_id else self._cluster.container(task)


class LogEngine:
    """A stand-in Docker Engine that streams a container's log lines when told to."""

    def __init__(self) -> None:
        self.lines: asyncio.Queue[bytes] = asyncio.Queue()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1.41/containers/{id}/logs", self._logs)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def write(self, moment: float, text: str, stream: int = 1) -> None:
        stamp = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        payload = f"{stamp} {text}\n".encode()
        self.lines.put_nowait(bytes((stream, 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload)

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        while True:
            await response.write(await self.lines.get())


async def test_a_follow_of_a_real_containers_lines_is_woken_by_each_line(cluster: Sim) -> None:
    """A real container's lines, followed from its engine into a buffer, are sent as each
    comes, the fake clock standing still; the follow ends when its client has left and the
    next line comes, and the container no longer tells it."""
    sim = cluster
    sim.control.create_service(make_spec(name="web", replicas=1))
    await sim.converge("web", 1)
    task = sim.running("web")[0]
    engine = LogEngine()
    await engine.start()
    docker = aiodocker.Docker(url=engine.url, api_version=API_VERSION)
    box = DockerContainer("c" * 64, task.id, "nginx:1.10")
    box.follow(docker)
    client, app = await serve(WithDockerContainer(sim.cluster, task.id, box))
    try:
        start = sim.clock.time()
        async with client.get(logs_path("tasks", task.id, follow=1)) as response:
            for n in range(1, 4):
                engine.write(start + n, f"line {n}", stream=1 + n % 2)
                assert await next_frame(response) == (1 + n % 2, f"line {n}\n".encode())
            assert len(box.listeners) == 1
        engine.write(start + 4, "line 4")  # wakes the follow, whose client has gone
        await until(lambda: app[OPEN_STREAMS]["logs"] == 0)  # the fake clock stands still
        assert not box.listeners
        assert [line.text for line in box.lines(0, start + 5)] == [f"line {n}" for n in range(1, 5)]
    finally:
        await client.close()
        box.stop_following()
        await docker.close()
        await engine.stop()


def test_a_real_containers_late_line_is_kept_in_time_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its stdout and stderr come from the engine as they are copied, not always in time order;
    the buffer keeps them by time, so merged logs are in order, and drops the oldest."""
    monkeypatch.setattr(docker_module, "LOG_LINES", 4)
    box = DockerContainer("c" * 64, "task", "nginx:1.10")
    for moment in (1.0, 3.0, 2.0, 4.0, 0.5, 2.5):
        box._keep(LogLine(moment, "stdout", f"at {moment}"))
    assert [line.time for line in box.lines(0.0, 10.0)] == [2.0, 2.5, 3.0, 4.0]
    assert [line.time for line in box.lines_newest_first(2.5, 4.0)] == [3.0, 2.5]
    assert 4.0 < box.written_until(10.0) < 4.001
    assert box.next_line_at(10.0) is None  # not known ahead: it tells its listeners


def collected(lines: Iterator[LogLine]) -> list[float]:
    return [line.time for line in lines]


def test_simulated_lines_read_the_same_both_ways_and_know_the_next() -> None:
    """A window read newest first is the window read oldest first, backwards; the next line
    after a moment is the first line of the window that starts there."""
    for image, every in (("nginx:1.10", None), ("example/worker:1", None), ("nginx", 1e-4)):
        content = SimContent(3, "task", image, started=100.0, every=every)
        step = content.interval
        for since, until in (
            (0.0, 100 + 300 * step),
            (100.0005, 100.0042),
            (100 + 37.3 * step, 100 + 91.7 * step),
        ):
            forward = collected(content.lines(since, until))
            assert forward
            assert collected(content.lines_newest_first(since, until)) == forward[::-1]
            after = next(iter(content.lines(since, 1e12)))
            assert content.next_line_at(since) == after.time
