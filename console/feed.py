"""The one place that reads the cluster: polled snapshots, the event stream, log streams.

The feed awaits the client for every read the console makes; nothing else in the console does
(changes go through ``console.actions``). What it learns it hands to ``post`` as news, plain
values that the app forwards to the views as messages:

- ``SnapshotReady``: a new snapshot (nodes, services, tasks, networks, secrets without their
  data, configs, usage and the mesh's connections per task), its lookups built and its change
  set computed (both in a worker thread), every ``interval`` seconds and soon after a swarm
  event;
- ``ConnectionChanged``: the endpoint stopped answering (``error``) or answers again (None);
- ``EventsArrived`` and ``LogLines``: what a followed stream brought, for whoever follows it.

The event stream is followed from the start, from an hour back, on one connection: it pokes
the poller and keeps the latest events (``past_events``) for a view opened later. An update
that says nothing changed (services are written often, by the swarm itself) is left out. Docker
has no task events; the feed makes them from the polls, in Docker's shape (``Type`` "task",
``Action`` the state the task reached): each task that comes to a state worth telling
(``TASK_EVENTS``), and at the first poll, those that failed in the last hour.

Tasks that failed in the last hour are kept from poll to poll (an endpoint keeps only a few
tasks a slot), for each service's count of restarts (``Snapshot.failures``). Log streams are
followed by key (``LogStream("services", id)``) while someone asks for them, and closed when the
last one lets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from console.model import FAILED, HOUR, ChangeSet, Snapshot, changes_between, usage_step
from console.render.rows import Row, moment, spec_image, task_name
from console.rowcache import NodeRowCache, TaskRowMaker, TaskRows
from console.sanitize import sanitize
from engine.api.objects import Cluster, Task
from engine.api.types import TaskState
from engine.client import ClientError, EngineClient, LogEntry, Usage, UsageReader

__all__ = [
    "LOG_TAIL",
    "WINDOW_TAIL",
    "ConnectionChanged",
    "EventStream",
    "EventsArrived",
    "Feed",
    "LogLines",
    "LogStream",
    "News",
    "SnapshotReady",
    "Stream",
]

HISTORY = 60  # usage reads a snapshot carries, for sparklines (ten minutes at USAGE_EVERY)
REFRESH = 2.0  # seconds between polls, k9s's default refresh
# Seconds between reads of usage: a large cluster's figures are megabytes to make, send and
# parse, and a sparkline needs no more; the polls in between show the last figures read.
USAGE_EVERY = 10.0
EVENT_DEBOUNCE = 0.2  # seconds to gather a burst of events into one poll
EVENT_HISTORY = 3600.0  # seconds of past events the event stream starts with
EVENTS_KEPT = 2000  # the latest events kept for a view opened later
LOG_TAIL = 50  # lines of the past a log stream starts with
WINDOW_TAIL = 5_000  # at most, the lines of a time window it starts with (what a view keeps)
BATCH = 0.02  # seconds a stream gathers lines or events before handing them over
RETRY = 2.0  # seconds before a stream that ended is opened again
# The states a task comes to that the events view tells: where it runs, stops, or cannot go.
TASK_EVENTS = frozenset(
    (
        TaskState.PENDING,
        TaskState.RUNNING,
        TaskState.COMPLETE,
        TaskState.SHUTDOWN,
        TaskState.FAILED,
        TaskState.REJECTED,
        TaskState.ORPHANED,
    )
)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LogStream:
    """Log lines of a service or task (``kind`` "services" or "tasks"); every service's when
    ``object_id`` is empty. It starts with the last ``LOG_TAIL`` lines, or with those of the
    last ``since`` seconds (at most ``WINDOW_TAIL``)."""

    kind: str
    object_id: str = ""
    since: int = 0


@dataclass(frozen=True, slots=True)
class EventStream:
    """The swarm's events (services and nodes), from an hour back."""


Stream = LogStream | EventStream


@dataclass(frozen=True, slots=True)
class SnapshotReady:
    snapshot: Snapshot
    changes: ChangeSet
    task_rows: TaskRows | None = None  # every task's row, made with the snapshot
    node_rows: tuple[Row, ...] | None = None  # every node's row, by hostname, likewise
    task_events: tuple[dict[str, Any], ...] = ()  # what tasks came to since the poll before


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    error: str | None  # None: the endpoint answers


@dataclass(frozen=True, slots=True)
class EventsArrived:
    stream: EventStream
    events: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class LogLines:
    """Log entries, each with its text made safe to show (``console.sanitize``)."""

    stream: LogStream
    lines: tuple[tuple[LogEntry, str], ...]
    error: str = ""  # why the stream ended, when it ended


News = SnapshotReady | ConnectionChanged | EventsArrived | LogLines


class Feed:
    """Reads the cluster through ``client`` and usage through ``usage``; ``run(post)`` polls and
    follows until cancelled. ``clock`` gives each poll its time (Unix time); it is asked once
    per poll, as the poll starts (streams ask for the wall clock's time).

    Usage is read with the first poll, then with the first poll ``usage_every`` seconds (of
    ``clock``) after the last read; each read adds a step to the usage history. A feed that
    polls as fast as it is answered (``interval`` 0: a replay of recorded polls, each with its
    usage) reads usage every poll unless ``usage_every`` says otherwise.
    """

    def __init__(
        self,
        client: EngineClient,
        usage: UsageReader | None = None,
        interval: float = REFRESH,
        clock: Callable[[], float] = time.time,
        usage_every: float | None = None,
    ) -> None:
        self.client = client
        self.usage = usage or UsageReader(client)
        self.interval = interval
        self.clock = clock
        if usage_every is None:
            usage_every = USAGE_EVERY if interval > 0 else 0.0
        self.usage_every = usage_every
        self._usage = Usage()
        self._usage_read: Snapshot | None = None  # the last usage read, and when (nothing else)
        self.error: str | None = None  # why the endpoint does not answer, while it does not
        self._poke = asyncio.Event()
        self._recent: deque[Snapshot] = deque(maxlen=2)  # the last two snapshots made
        self._task_rows = TaskRowMaker()
        self._node_rows = NodeRowCache()
        self._failures: dict[str, tuple[str, float]] = {}  # see Snapshot.failures
        self._post: Callable[[News], None] = lambda news: None
        self._events: deque[dict[str, Any]] = deque(maxlen=EVENTS_KEPT)
        self._followers: dict[LogStream, int] = {}
        self._streams: dict[LogStream, asyncio.Task[None]] = {}

    @property
    def latest(self) -> Snapshot | None:
        return self._recent[-1] if self._recent else None

    async def close(self) -> None:
        """Closes the client and the usage reader's connections."""
        await self.usage.close()
        await self.client.close()

    def poke(self) -> None:
        """Asks for a poll now."""
        self._poke.set()

    async def run(self, post: Callable[[News], None]) -> None:
        """Polls, and pokes the poller on each swarm event, until cancelled; hands ``post``
        every piece of news, streams' included."""
        self._post = post
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._poll_forever())
                group.create_task(self._follow_events())
                for stream in self._followers:
                    self._open(stream)
        finally:
            for task in self._streams.values():
                task.cancel()
            await asyncio.gather(*self._streams.values(), return_exceptions=True)
            self._streams.clear()

    # Snapshots.

    async def snapshot(self) -> SnapshotReady:
        """Polls once: the cluster as it is now, its lookups and change set built in a worker
        thread (as the answers were decoded)."""
        now = self.clock()
        last = self._usage_read
        fresh = last is None or not 0.0 <= now - last.now < self.usage_every
        nodes, services, tasks, usage, swarm, networks, secrets, configs = await asyncio.gather(
            self.client.nodes(),
            self.client.services(),
            self.client.tasks(),
            self.usage.read() if fresh else self._last_usage(),
            self._swarm(),
            self._optional(self.client.networks()),
            self._optional(self.client.secrets()),
            self._optional(self.client.configs()),
        )
        snapshot = Snapshot(
            nodes=tuple(nodes),
            services=tuple(services),
            tasks=tuple(tasks),
            now=now,
            usage=usage.by_task,
            usage_note=usage.note,
            swarm=swarm,
            networks=tuple(networks),
            secrets=tuple(secrets),
            configs=tuple(configs),
            connections=usage.connections,
        )
        if fresh:
            self._usage = usage
        return await asyncio.to_thread(self._ready, snapshot, fresh)

    async def _last_usage(self) -> Usage:
        return self._usage

    async def _swarm(self) -> Cluster | None:
        """The swarm's settings, CA and join tokens; None if the endpoint will not say."""
        try:
            return await self.client.swarm()
        except ClientError:
            return None

    @staticmethod
    async def _optional(read: Awaitable[list[T]]) -> list[T]:
        """What ``read`` reads; nothing where the endpoint will not say (not a manager: the
        nodes' read says why the poll failed)."""
        try:
            return await read
        except ClientError:
            return []

    def _ready(self, snapshot: Snapshot, fresh: bool) -> SnapshotReady:
        """Carries the usage history over, with a step since the last usage read when this
        snapshot's usage is ``fresh``; builds its lookups, change set, and task and node rows,
        and lets go of the snapshot before the last: the console shows the last, so that one is
        freed here, in the worker thread, not on the UI's."""
        before = self._recent[-1] if self._recent else None
        steps = before.usage_steps if before is not None else ()
        if fresh:
            if self._usage_read is not None:
                steps = (*steps, usage_step(self._usage_read, snapshot))[-HISTORY:]
            self._usage_read = Snapshot(now=snapshot.now, usage=snapshot.usage)
        changes = changes_between(before, snapshot)
        touched = list(snapshot.tasks)  # the tasks that came or changed since the poll before
        if before is not None:
            new = changes.tasks.added | changes.tasks.changed
            touched = [task for task in touched if task.id in new]
        self._count_failures(touched, snapshot.now)
        snapshot = dataclasses.replace(snapshot, usage_steps=steps, failures=dict(self._failures))
        snapshot.index()
        events = _task_events(touched, before, snapshot)
        task_rows = self._task_rows.make(snapshot)
        node_rows = tuple(self._node_rows.rows(snapshot, changes))
        self._recent.append(snapshot)
        return SnapshotReady(snapshot, changes, task_rows, node_rows, events)

    def _count_failures(self, tasks: list[Task], now: float) -> None:
        """Keeps the tasks of ``tasks`` that failed in the last hour, and forgets older ones."""
        for task in tasks:
            if task.status.state in FAILED:
                when = moment(task.status.timestamp) or now
                if when >= now - HOUR:
                    self._failures[task.id] = (task.service_id, when)
        for key in [k for k, (_, when) in self._failures.items() if when < now - HOUR]:
            del self._failures[key]

    async def _poll_forever(self) -> None:
        while True:
            try:
                ready = await self.snapshot()
            except ClientError as error:
                self._connection(error.message)
            else:
                self._post(ready)
                self._connection(None)
                if ready.task_events:
                    self._events.extend(ready.task_events)
                    self._post(EventsArrived(EventStream(), ready.task_events))
            await self._wait()

    def _connection(self, error: str | None) -> None:
        if error != self.error:
            self.error = error
            self._post(ConnectionChanged(error))

    async def _wait(self) -> None:
        """Until the next poll is due: the interval, or sooner after an event."""
        try:
            async with asyncio.timeout(self.interval):  # wait_for can lose a cancellation
                await self._poke.wait()
            await asyncio.sleep(EVENT_DEBOUNCE)
        except TimeoutError:
            pass
        self._poke.clear()

    async def _follow_events(self) -> None:
        """Follows the swarm's events, opening the stream again when it ends: keeps the
        latest, hands them over (``EventsArrived``), and pokes the poller on each new one."""
        batch = _Batch(lambda events: self._post(EventsArrived(EventStream(), tuple(events))))
        started = time.time()
        since = started - EVENT_HISTORY
        while True:
            try:
                async for event in self.client.events(since=since):
                    when = event.get("timeNano", 0) / 1e9
                    since = max(since, when + 1e-9)  # from after the last one, once again
                    if when >= started:
                        self.poke()
                    if _says_nothing(event):
                        continue
                    self._events.append(event)
                    batch.add(event)
            except ClientError:
                pass
            batch.flush()
            await asyncio.sleep(RETRY)

    def past_events(self) -> tuple[dict[str, Any], ...]:
        """The latest events, oldest first, for a view that starts following them."""
        return tuple(sorted(self._events, key=lambda event: event.get("timeNano", 0)))

    # Streams that views follow.

    def follow(self, stream: Stream) -> None:
        """Opens ``stream`` (unless it is open already) and keeps it open until as many
        ``let_go`` as ``follow`` calls were made; the event stream is always open."""
        if isinstance(stream, EventStream):
            return
        self._followers[stream] = self._followers.get(stream, 0) + 1
        if stream not in self._streams and self._followers[stream] == 1:
            self._open(stream)

    def let_go(self, stream: Stream) -> None:
        if isinstance(stream, EventStream):
            return
        count = self._followers.get(stream, 0) - 1
        if count > 0:
            self._followers[stream] = count
            return
        self._followers.pop(stream, None)
        task = self._streams.pop(stream, None)
        if task is not None:
            task.cancel()

    @property
    def streams(self) -> frozenset[LogStream]:
        """The log streams open now."""
        return frozenset(self._streams)

    def _open(self, stream: LogStream) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not running yet: ``run`` opens it
        if stream not in self._streams:
            self._streams[stream] = loop.create_task(self._follow_logs(stream))

    async def _follow_logs(self, stream: LogStream) -> None:
        batch = _Batch(lambda lines: self._post(LogLines(stream, tuple(lines))))
        try:
            if stream.object_id:
                await self._follow_log(stream, stream.kind, stream.object_id, batch)
                return
            async with asyncio.TaskGroup() as group:  # every service, merged as lines arrive
                for service in self.latest.services if self.latest else ():
                    group.create_task(self._follow_log(stream, "services", service.id, batch))
        finally:
            batch.flush()

    async def _follow_log(
        self, stream: LogStream, kind: str, object_id: str, batch: _Batch
    ) -> None:
        since, tail = None, LOG_TAIL
        if stream.since:
            since, tail = time.time() - stream.since, WINDOW_TAIL
        try:
            batches = self.client.log_batches(kind, object_id, tail, since, follow=True)
            async with contextlib.aclosing(batches):
                async for entries in batches:
                    batch.extend([(entry, sanitize(entry.text)) for entry in entries])
        except ClientError as error:
            batch.flush()
            self._post(LogLines(stream, (), error.message))


def _says_nothing(event: dict[str, Any]) -> bool:
    """An update event that names no change: the swarm writes its objects for its own ends."""
    attributes = event.get("Actor", {}).get("Attributes", {})
    return event.get("Action") == "update" and not set(attributes) - {"name"}


def _task_events(
    tasks: list[Task], before: Snapshot | None, snapshot: Snapshot
) -> tuple[dict[str, Any], ...]:
    """Events in Docker's shape for the tasks of ``tasks`` that came to a state worth telling
    since ``before`` (at the first poll, for those that failed in the last hour), by time."""
    made = []
    for task in tasks:
        state = task.status.state
        if before is None:
            if state not in FAILED:
                continue
        elif state not in TASK_EVENTS:
            continue
        else:
            old = before.task_by_id.get(task.id)
            if old is not None and old.status.state == state:
                continue
        when = moment(task.status.timestamp) or snapshot.now
        if before is None and when < snapshot.now - HOUR:
            continue
        attributes = {
            "name": task_name(task, snapshot),
            "node": snapshot.hostname(task.node_id) if task.node_id else "",
            "image": spec_image(task.spec),
        }
        if task.status.err:
            attributes["error"] = task.status.err
        nanos = int(when * 1e9)
        made.append(
            {
                "Type": "task",
                "Action": state.value,
                "Actor": {"ID": task.id, "Attributes": attributes},
                "scope": "swarm",
                "time": nanos // 1_000_000_000,
                "timeNano": nanos,
            }
        )
    return tuple(sorted(made, key=lambda event: event["timeNano"]))


class _Batch:
    """Gathers items for ``BATCH`` seconds, then hands them to ``deliver`` as one list: a flood
    of lines costs a message per batch, not per line."""

    def __init__(self, deliver: Callable[[list[Any]], None]) -> None:
        self._deliver = deliver
        self._items: list[Any] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, item: object) -> None:
        self.extend([item])

    def extend(self, items: list[Any]) -> None:
        self._items.extend(items)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(BATCH, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._items:
            items, self._items = self._items, []
            self._deliver(items)
