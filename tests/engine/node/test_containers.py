"""Other nodes' containers on the manager: what a worker's containers wrote, reported a piece
at a time, and read back by the manager as its own containers are."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from engine.api.dispatch import ContainerReport
from engine.api.logs import LogLine
from engine.node.containers import BACKLOG, MOST, RemoteContainers, Shipper


class Writing:
    """A container that wrote a line every 10 ms from 0 s, until ``now``."""

    id = "c0ffee"
    image = "nginx:1.10"
    pid = 42
    exit_code = None
    health = None
    started = 0.0

    def __init__(self, count: int) -> None:
        self.all = [LogLine(index / 100, "stdout", f"line {index}") for index in range(count)]

    def lines(self, since: float, until: float) -> Iterator[LogLine]:
        return (line for line in self.all if since <= line.time < until)

    def lines_newest_first(self, since: float, until: float) -> Iterator[LogLine]:
        return (line for line in reversed(self.all) if since <= line.time < until)

    def written_until(self, moment: float) -> float:
        return moment

    def usage(self, moment: float) -> tuple[float, int]:
        return moment / 10, 1 << 20


def test_a_session_starts_with_the_backlog_then_sends_what_comes() -> None:
    box = Writing(3000)
    shipper = Shipper({"t1": box})
    manager = RemoteContainers()
    first = shipper.report(20.0)  # 2,000 lines written by then: the last BACKLOG are sent
    assert first is not None and len(first.lines) == BACKLOG
    manager.apply("n1", first)
    mirror = manager.get("t1")
    assert mirror is not None and mirror.id == "c0ffee" and mirror.usage(20.0) == (2.0, 1 << 20)
    assert next(line.text for line in mirror.lines(0, 20)) == "line 1000"
    later = shipper.report(25.0)
    assert later is not None and [line.text for line in later.lines][-1] == "line 2499"
    manager.apply("n1", later)
    assert next(line.text for line in mirror.lines_newest_first(0, 30)) == "line 2499"
    assert mirror.written_until(30.0) == 25.0  # lines after 25 s are not known yet
    assert shipper.report(25.0) is None  # nothing new


def test_a_flood_goes_out_over_several_reports_without_loss() -> None:
    box = Writing(10_000)
    shipper = Shipper({"t1": box})
    manager = RemoteContainers()
    first = shipper.report(0.001) or _nothing()  # the session opens early: one line
    manager.apply("n1", first)
    seen = [line.text for line in first.lines]
    while (report := shipper.report(100.0)) is not None and report.lines:
        assert len(report.lines) <= MOST
        manager.apply("n1", report)
        seen.extend(line.text for line in report.lines)
    assert seen == [f"line {index}" for index in range(10_000)]


async def test_followers_are_told_and_removed_containers_go() -> None:
    box = Writing(100)
    containers = {"t1": box}
    shipper = Shipper(containers)
    manager = RemoteContainers()
    manager.apply("n1", shipper.report(0.5) or _nothing())
    mirror = manager.get("t1")
    assert mirror is not None
    told = asyncio.Event()
    mirror.listeners.add(told)
    manager.apply("n1", shipper.report(0.9) or _nothing())
    assert told.is_set()
    del containers["t1"]
    report = shipper.report(1.0)
    assert report is not None and report.gone == ["t1"]
    manager.apply("n1", report)
    assert manager.get("t1") is None


def _nothing() -> ContainerReport:
    raise AssertionError("a report was expected")
