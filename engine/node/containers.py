"""Containers of other nodes, as the manager's API shows them: their logs and usage travel over
the node's session (``ContainerReport``).

A worker's ``Shipper`` reads what each of its containers wrote since the last report (on a new
session, the last ``BACKLOG`` lines first), and its state and usage. The manager keeps each in a
``RemoteContainer``: the last ``KEPT`` lines, the state and the last usage, behind the same
``Container`` face as a container of its own node, so logs (with follow) and metrics read them
alike.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import Iterator, Mapping
from typing import Protocol

from engine.api.dispatch import ContainerReport, ContainerState, ShippedLine
from engine.api.logs import LogLine
from engine.api.secrets import TaskFile

__all__ = ["BACKLOG", "KEPT", "RemoteContainer", "RemoteContainers", "Shipper"]

BACKLOG = 1_000  # lines of each container sent when a session opens
KEPT = 10_000  # lines of each container the manager keeps
MOST = 2_000  # lines of one container in one report: a flood goes out over several
USAGE_EVERY = 2.0  # seconds between two usage samples of a container


class LocalContainer(Protocol):
    id: str
    image: str
    pid: int
    exit_code: int | None
    health: str | None

    @property
    def started(self) -> float | None: ...

    def lines(self, since: float, until: float) -> Iterator[LogLine]: ...

    def lines_newest_first(self, since: float, until: float) -> Iterator[LogLine]: ...

    def written_until(self, moment: float) -> float: ...

    def usage(self, moment: float) -> tuple[float, int] | None: ...


class Shipper:
    """What a node's containers wrote and use, a report at a time. ``restart()`` when a new
    session opens: the manager may have restarted and lost what it was sent."""

    def __init__(self, containers: Mapping[str, LocalContainer]) -> None:
        self._containers = containers
        self._read: dict[str, float] = {}  # task ID: its lines before this were sent
        self._states: dict[str, ContainerState] = {}
        self._sampled: dict[str, float] = {}  # task ID: when its usage was last sent

    def restart(self) -> None:
        self._read.clear()
        self._states.clear()
        self._sampled.clear()

    def report(self, now: float) -> ContainerReport | None:
        """What changed since the last report; None if nothing did."""
        states: list[ContainerState] = []
        lines: list[ShippedLine] = []
        for task_id, box in list(self._containers.items()):
            end = box.written_until(now)
            start = self._read.get(task_id)
            if start is None:
                backlog = list(itertools.islice(box.lines_newest_first(0.0, end), BACKLOG))
                read = [ShippedLine(task_id, *line) for line in reversed(backlog)]
            else:
                read = [ShippedLine(task_id, *line) for line in _first(box.lines(start, end))]
            if len(read) > MOST:  # the rest from the first line not sent, next report
                end = read[MOST].time
                read = [line for line in read[:MOST] if line.time < end]
            lines.extend(read)
            self._read[task_id] = end
            state = self._state(task_id, box, now, end)
            if state != self._states.get(task_id):
                self._states[task_id] = state
                states.append(state)
        gone = [task_id for task_id in self._states if task_id not in self._containers]
        for task_id in gone:
            del self._states[task_id]
            self._read.pop(task_id, None)
            self._sampled.pop(task_id, None)
        if not states and not lines and not gone:
            return None
        return ContainerReport(containers=states, lines=lines, gone=gone)

    def _state(self, task_id: str, box: LocalContainer, now: float, end: float) -> ContainerState:
        last = self._states.get(task_id)
        cpu, memory = (last.cpu_seconds, last.memory_bytes) if last else (None, None)
        if now - self._sampled.get(task_id, -USAGE_EVERY) >= USAGE_EVERY:
            self._sampled[task_id] = now
            cpu, memory = box.usage(now) or (None, None)
        return ContainerState(
            task_id=task_id,
            id=box.id,
            image=box.image,
            pid=box.pid,
            exit_code=box.exit_code,
            health=box.health,
            started=box.started,
            cpu_seconds=cpu,
            memory_bytes=memory,
            logged_until=end,
        )


def _first(lines: Iterator[LogLine]) -> list[LogLine]:
    """Up to one more than MOST lines: enough to know where the next report starts."""
    return list(itertools.islice(lines, MOST + 1))


class RemoteContainer:
    """Another node's container, from its reports: the ``Container`` the API reads."""

    def __init__(self, state: ContainerState) -> None:
        self._state = state
        self._times: list[float] = []
        self._lines: list[LogLine] = []
        self.listeners: set[asyncio.Event] = set()
        self.files: list[TaskFile] = []  # a node does not report them

    def update(self, state: ContainerState) -> None:
        self._state = state

    def add(self, line: LogLine) -> None:
        if self._times and line.time < self._times[-1]:
            return  # sent again after a new session: the manager has it
        self._times.append(line.time)
        self._lines.append(line)
        if len(self._lines) > KEPT + KEPT // 10:  # trimmed a tenth at a time
            del self._times[: len(self._lines) - KEPT]
            del self._lines[: len(self._lines) - KEPT]

    def told(self) -> None:
        for listener in self.listeners:
            listener.set()

    @property
    def id(self) -> str:
        return self._state.id

    @property
    def image(self) -> str:
        return self._state.image

    @property
    def pid(self) -> int:
        return self._state.pid

    @property
    def exit_code(self) -> int | None:
        return self._state.exit_code

    @property
    def health(self) -> str | None:
        return self._state.health

    @property
    def started(self) -> float | None:
        return self._state.started

    def lines(self, since: float, until: float) -> Iterator[LogLine]:
        first = bisect.bisect_left(self._times, since)
        last = bisect.bisect_left(self._times, until)
        return iter(self._lines[first:last])

    def lines_newest_first(self, since: float, until: float) -> Iterator[LogLine]:
        first = bisect.bisect_left(self._times, since)
        last = bisect.bisect_left(self._times, until)
        return reversed(self._lines[first:last])

    def written_until(self, moment: float) -> float:
        return min(moment, self._state.logged_until)

    def next_line_at(self, moment: float) -> float | None:
        return None  # not known ahead: ``listeners`` are told when lines come

    def usage(self, moment: float) -> tuple[float, int] | None:
        state = self._state
        if state.cpu_seconds is None or state.memory_bytes is None:
            return None
        return state.cpu_seconds, state.memory_bytes


class RemoteContainers:
    """Every other node's containers, by task ID, from their nodes' reports."""

    def __init__(self) -> None:
        self._containers: dict[str, RemoteContainer] = {}
        self._nodes: dict[str, set[str]] = {}  # node ID: its tasks with a container here

    def get(self, task_id: str) -> RemoteContainer | None:
        return self._containers.get(task_id)

    def apply(self, node_id: str, report: ContainerReport) -> None:
        tasks = self._nodes.setdefault(node_id, set())
        for state in report.containers:
            box = self._containers.get(state.task_id)
            if box is None:
                self._containers[state.task_id] = RemoteContainer(state)
                tasks.add(state.task_id)
            else:
                box.update(state)
        told = set()
        for line in report.lines:
            box = self._containers.get(line.task_id)
            if box is not None:
                box.add(LogLine(line.time, line.stream, line.text))
                told.add(box)
        told.update(self._containers[state.task_id] for state in report.containers)
        for box in told:  # lines or not, what was written is known further
            box.told()
        for task_id in report.gone:
            self._containers.pop(task_id, None)
            tasks.discard(task_id)

    def forget_node(self, node_id: str) -> None:
        """A node removed from the swarm: its containers go with it."""
        for task_id in self._nodes.pop(node_id, set()):
            self._containers.pop(task_id, None)
