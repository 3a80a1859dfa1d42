"""The feed against a scripted endpoint: the news it posts for polls, events, log streams and
a connection that drops and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable

from console.feed import (
    LOG_TAIL,
    WINDOW_TAIL,
    ConnectionChanged,
    EventsArrived,
    EventStream,
    Feed,
    LogLines,
    LogStream,
    News,
    SnapshotReady,
)
from engine.api.codec import encode
from engine.api.objects import Node, NodeDescription, Task, TaskStatus, Version
from engine.api.types import TaskState
from engine.client import EngineClient
from engine.client.fake import HOLD, FakeTransport
from engine.httpapi.logs import frame

TIMEOUT = 10.0  # seconds a test waits for news before it fails


def node(number: int) -> Node:
    return Node(id=f"n{number}", description=NodeDescription(hostname=f"node-{number}"))


def task(number: int, state: TaskState = TaskState.RUNNING, index: int = 1) -> Task:
    return Task(
        id=f"t{number}",
        version=Version(index=index),
        service_id="s1",
        node_id="n1",
        slot=number,
        desired_state=TaskState.RUNNING,
        status=TaskStatus(state=state),
    )


class Listening:
    """A feed running against ``fake``, and the news it posted."""

    def __init__(self, fake: FakeTransport, interval: float = 0.0) -> None:
        self.fake = fake
        self.feed = Feed(EngineClient(transport=fake), interval=interval)
        self.news: list[News] = []
        self._arrived = asyncio.Event()

    def post(self, news: News) -> None:
        self.news.append(news)
        self._arrived.set()

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [item for item in self.news if isinstance(item, kind)]

    async def streams(self, path: str, count: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            await self.fake.wait_open_streams(path, count)

    async def until(self, condition: Callable[[], object]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not condition():
                self._arrived.clear()
                await self._arrived.wait()


@contextlib.asynccontextmanager
async def listening(fake: FakeTransport, interval: float = 0.0) -> AsyncIterator[Listening]:
    here = Listening(fake, interval)
    running = asyncio.create_task(here.feed.run(here.post))
    try:
        yield here
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await here.feed.close()


def script(fake: FakeTransport, *polls: tuple[list[Node], list[Task]]) -> None:
    """Each poll's nodes and tasks, then nothing more (the next poll waits)."""
    fake.answer("GET", "/nodes", *(encode(nodes) for nodes, _ in polls), HOLD)
    fake.answer("GET", "/tasks", *(encode(tasks) for _, tasks in polls), HOLD)
    fake.answer("GET", "/services", b"[]")
    fake.stream("GET", "/events")


async def test_polls_become_snapshots_with_what_changed_between_them() -> None:
    fake = FakeTransport()
    failed = task(2, TaskState.FAILED, index=2)
    script(
        fake,
        ([node(1)], [task(1), task(2)]),
        ([node(1)], [task(1), task(2)]),  # the same answer: nothing changed
        ([node(1), node(2)], [task(1), failed]),
        ([node(2)], [failed, task(3)]),
    )
    async with listening(fake) as here:
        await here.until(lambda: len(here.of(SnapshotReady)) == 4)
    first, same, grown, moved = here.of(SnapshotReady)
    assert first.changes.before is None
    assert first.changes.nodes.added == {"n1"} and first.changes.tasks.added == {"t1", "t2"}
    assert same.changes.before is first.snapshot and not same.changes.tasks
    assert not same.changes.nodes and same.snapshot.tasks[0] is first.snapshot.tasks[0]
    assert grown.changes.nodes.added == {"n2"} and grown.changes.tasks.changed == {"t2"}
    assert grown.snapshot.tasks[0] is first.snapshot.tasks[0]  # unchanged: the same object
    assert moved.changes.nodes.removed == {"n1"} and moved.changes.tasks.removed == {"t1"}
    assert moved.changes.tasks.added == {"t3"} and not moved.changes.tasks.changed
    assert here.of(ConnectionChanged) == []  # it answered all along
    assert moved.snapshot.usage_note  # no /metrics: the snapshot says usage is unknown


async def test_a_dropped_connection_is_news_once_and_so_is_its_return() -> None:
    fake = FakeTransport()
    fake.answer("GET", "/nodes", encode([node(1)]))
    fake.answer("GET", "/tasks", b"[]")
    fake.answer("GET", "/services", b"[]")
    fake.stream("GET", "/events")
    async with listening(fake, interval=0.05) as here:
        await here.until(lambda: here.of(SnapshotReady))
        fake.drop()
        await here.until(lambda: here.of(ConnectionChanged))
        polls_while_down = len(here.of(SnapshotReady))
        await asyncio.sleep(0.3)  # polls go on failing: still one piece of news
        (lost,) = here.of(ConnectionChanged)
        assert lost.error is not None and "cannot reach fake://engine" in lost.error
        fake.restore()
        await here.until(lambda: len(here.of(ConnectionChanged)) == 2)
        await here.until(lambda: len(here.of(SnapshotReady)) > polls_while_down)
    assert here.of(ConnectionChanged)[-1].error is None
    assert here.feed.error is None


async def test_events_are_news_poke_a_poll_and_are_kept_for_later() -> None:
    """Events come as news and are kept; a new one pokes a poll; an update that names no
    change (the swarm writing its own objects) pokes it too, but is no news."""
    fake = FakeTransport()
    fake.answer("GET", "/nodes", encode([node(1)]))
    fake.answer("GET", "/tasks", b"[]")
    fake.answer("GET", "/services", b"[]")
    events = fake.stream("GET", "/events")
    async with listening(fake, interval=60.0) as here:  # no poll falls due by itself
        await here.until(lambda: here.of(SnapshotReady))
        await here.streams("/events", 1)
        actor = {"ID": "s1", "Attributes": {"name": "web", "replicas.new": "3"}}
        event = {"Type": "service", "Action": "update", "Actor": actor, "timeNano": 0}
        new = {**event, "timeNano": int((here.feed.clock() + 60) * 1e9)}
        quiet = {**new, "Actor": {"ID": "s1", "Attributes": {"name": "web"}}}
        events.push((json.dumps(event) + "\n" + json.dumps(quiet) + "\n").encode())
        events.push(json.dumps(new)[:20].encode())
        events.push((json.dumps(new)[20:] + "\n").encode())
        await here.until(lambda: sum(len(e.events) for e in here.of(EventsArrived)) == 2)
        await here.until(lambda: len(here.of(SnapshotReady)) == 2)  # the new event poked
    arrived = [e for batch in here.of(EventsArrived) for e in batch.events]
    assert arrived == [event, new] and here.of(EventsArrived)[0].stream == EventStream()
    assert here.feed.past_events() == (event, new)
    assert fake.requests[-1].method == "GET"


async def test_a_log_stream_is_open_while_someone_follows_it() -> None:
    fake = FakeTransport()
    fake.answer("GET", "/nodes", b"[]")
    fake.answer("GET", "/tasks", b"[]")
    fake.answer("GET", "/services", b"[]")
    fake.stream("GET", "/events")
    logs = fake.stream("GET", "/services/s1/logs")
    stream = LogStream("services", "s1")
    async with listening(fake, interval=60.0) as here:
        here.feed.follow(stream)
        here.feed.follow(stream)  # two views on the same logs: one stream
        await here.streams("/services/s1/logs", 1)
        details = "com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1"
        line = f"2026-01-01T00:00:00.000000000Z {details},com.docker.swarm.task.id=t1 "
        logs.push(frame("stdout", (line + "hello \x1b]0;title\x07world\n").encode()))
        await here.until(lambda: here.of(LogLines))
        ((entry, safe),) = here.of(LogLines)[0].lines
        assert entry.task_id == "t1" and safe == "hello world"
        here.feed.let_go(stream)
        await asyncio.sleep(0.1)
        assert fake.open_streams("/services/s1/logs") == 1  # one view still follows
        here.feed.let_go(stream)
        await here.streams("/services/s1/logs", 0)
        assert here.feed.streams == frozenset()


async def test_a_log_stream_with_a_time_window_asks_for_its_lines_since_then() -> None:
    """A stream of the last 5 minutes asks the endpoint for the lines since 5 minutes ago (at
    most WINDOW_TAIL); one of the last lines asks for LOG_TAIL of them, from any time."""
    fake = FakeTransport()
    fake.answer("GET", "/nodes", b"[]")
    fake.answer("GET", "/tasks", b"[]")
    fake.answer("GET", "/services", b"[]")
    fake.stream("GET", "/events")
    fake.stream("GET", "/services/s1/logs")
    async with listening(fake, interval=60.0) as here:
        asked = time.time()
        here.feed.follow(LogStream("services", "s1", since=300))
        await here.streams("/services/s1/logs", 1)
        here.feed.follow(LogStream("services", "s1"))
        await here.streams("/services/s1/logs", 2)
    window, tail = [r.params for r in fake.requests if r.path == "/services/s1/logs"]
    assert window["tail"] == str(WINDOW_TAIL) and window["follow"] == "1"
    assert abs(float(window["since"]) - (asked - 300)) < 5
    assert tail["tail"] == str(LOG_TAIL) and "since" not in tail


START = 1_767_225_600.0  # the feed's clock at the first poll (Unix time)


def usage_text(cpu_seconds: float, memory: int) -> bytes:
    """/metrics as our engine writes the usage families, for task t1."""
    labels = 'container_label_com_docker_swarm_task_id="t1"'
    return (
        f"container_cpu_usage_seconds_total{{{labels}}} {cpu_seconds}\n"
        f"container_memory_usage_bytes{{{labels}}} {memory}\n"
    ).encode()


def metrics_asked(fake: FakeTransport) -> list[dict[str, str]]:
    """The query of each /metrics request the feed made."""
    return [request.params for request in fake.requests if request.path == "/metrics"]


def polled_usage(fake: FakeTransport) -> None:
    """One node, one task; read k of /metrics says t1 used 5k CPU seconds and 1 MiB more."""
    fake.answer("GET", "/nodes", encode([node(1)]))
    fake.answer("GET", "/services", b"[]")
    fake.answer("GET", "/tasks", encode([task(1)]))
    fake.answer("GET", "/metrics", *(usage_text(5.0 * k, (k + 1) << 20) for k in range(20)))


async def test_usage_is_read_once_every_usage_every_and_only_its_families() -> None:
    """A minute of polls every REFRESH, and a few sooner (as events poke): /metrics is asked
    at the first poll and then once USAGE_EVERY has passed, for the two usage families only;
    the polls between show the last usage read, and each read adds one step of history."""
    from console.feed import REFRESH, USAGE_EVERY
    from engine.client.usage import USAGE_FAMILIES

    fake = FakeTransport()
    polled_usage(fake)
    regular = [REFRESH * n for n in range(int(60 / REFRESH) + 1)]
    times = sorted([*regular, 0.2, 9.9, 10.1, 19.5])
    now = iter(times)
    feed = Feed(EngineClient(transport=fake), clock=lambda: START + next(now))
    read_at: list[float] = []
    try:
        for moment in times:
            before = len(metrics_asked(fake))
            ready = await feed.snapshot()
            if len(metrics_asked(fake)) > before:
                read_at.append(moment)
            reads = len(read_at)
            assert ready.snapshot.usage == {"t1": (5.0 * (reads - 1), reads << 20)}
            assert len(ready.snapshot.usage_steps) == reads - 1
    finally:
        await feed.close()
    assert read_at == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    assert all(read_at[n] - read_at[n - 1] >= USAGE_EVERY for n in range(1, len(read_at)))
    assert metrics_asked(fake) == [{"name": ",".join(USAGE_FAMILIES)}] * len(read_at)
    cpu, memory = ready.snapshot.usage_steps[-1]["service"]["s1"]
    assert cpu == 5.0 / USAGE_EVERY and memory == 7 << 20  # cores over the last 10 s


async def test_a_feed_polling_as_fast_as_answered_reads_usage_every_poll() -> None:
    """A replay of recorded polls (interval 0) takes each poll's usage with it."""
    fake = FakeTransport()
    polled_usage(fake)
    now = iter(range(0, 100, 2))
    feed = Feed(EngineClient(transport=fake), interval=0.0, clock=lambda: START + next(now))
    try:
        for _ in range(4):
            ready = await feed.snapshot()
    finally:
        await feed.close()
    assert len(metrics_asked(fake)) == 4
    assert len(ready.snapshot.usage_steps) == 3
