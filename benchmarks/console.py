# ruff: noqa: E402
"""Console figures: first frame, a 10,000-task refresh to the repaint, a poll, log ingestion.

- ``console_first_frame_s``: from launching ``swarmdeck`` (the embedded demo cluster) in a pty to
  its first frame on the terminal; median of several launches.
- ``console_first_data_s``: from the same launches to the first frame that shows the cluster
  (the embedded cluster starts once the first frame is drawn).
- ``console_refresh_10k_tasks_ms``: from a poll's snapshot of 1,000 nodes and 10,000 tasks (a
  tenth of them changed since the last poll, with CPU and memory per task) reaching the app to
  the frame that shows it written to the terminal; median of several refreshes. Textual paces
  frames at 60 Hz; the benchmark lets it draw at up to 1,000 Hz so that the figure is the
  console's work, not that wait. The same for the overview, the nodes and the services views:
  ``..._overview``, ``..._nodes``, ``..._services``.
- ``console_apply_10k_tasks_ms`` (and ``..._overview`` ...): of that, the app's handling of the
  snapshot alone, up to the repaint: what ``console_refresh_*`` measured before it went on to
  the repaint, for a comparison with ``before_console_refresh_*``.
- ``console_poll_10k_tasks_ms``: the console's feed turning that poll's API answers (JSON and
  Prometheus text) into the snapshot, its lookups and change set, most of it in a worker
  thread; median of the same polls.
- ``console_sort_10k_ms``: sorting the rows of 10,000 tasks (those of that poll, as the feed
  makes them) by a column the first time: the worst of the NAME and CURRENT columns (ages),
  median of several runs (comments give the next refresh's, "warm", and the feed's making of
  the rows, which makes the names' sort values).
  ``console_regex_filter_10k_ms``: keeping those a regular expression matches (``/``). The goal
  of both: a frame, 16 ms.
- ``console_log_ingest_lines_per_s``: log lines from a followed stream (Docker's frames, as an
  endpoint sends them) taken by the feed and drawn by the logs view while it keeps answering
  keys (a key press is answered within the run), with the buffer bounded.
- ``before_*``: the same figures of the console as it was at ``--before REV`` (default: the
  commit before the console took its one-way shape), measured by that commit's own benchmark
  in the same run.

    python benchmarks/console.py [--runs 5] [--before REV | --no-before]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the console package; keep its folder from shadowing it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

import os

os.environ.setdefault("TEXTUAL_FPS", "1000")  # see the module: the figure is the console's work

import argparse
import asyncio
import contextlib
import gc
import pty
import select
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

from console.app import SwarmdeckApp
from console.feed import Feed, LogStream
from console.messages import Fed
from console.model import Snapshot
from console.render import tables
from console.rowcache import TaskRowMaker
from console.screens.logs import BUFFER, LogsScreen
from engine.api.codec import decode, encode
from engine.api.durations import format_timestamp
from engine.api.objects import (
    ContainerStatus,
    Node,
    NodeDescription,
    NodeStatus,
    Service,
    ServiceStatus,
    Task,
    TaskStatus,
    Version,
)
from engine.api.specs import (
    ContainerSpec,
    NodeSpec,
    ReplicatedService,
    ResourceObject,
    ResourceRequirements,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from engine.api.types import Availability, NodeRole, NodeState, TaskState
from engine.client import EngineClient
from engine.client.fake import HOLD, FakeTransport
from engine.httpapi.logs import frame

ROOT = Path(__file__).resolve().parents[1]


def first_frames() -> tuple[float, float]:
    """Seconds from launching ``swarmdeck`` to its first frame, and to the first frame that
    shows the embedded cluster's three nodes."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "XDG_CONFIG_HOME": tempfile.mkdtemp()}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "console"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
    )
    os.close(slave)
    seen = b""
    frame = None
    try:
        while b"3 nodes" not in seen:
            ready, _, _ = select.select([master], [], [], 10)
            if not ready:
                raise RuntimeError("no frame with the cluster within 10 s")
            seen += os.read(master, 65536)
            if frame is None and b"overview \xc2\xb7" in seen:
                frame = time.perf_counter() - started
        assert frame is not None
        return frame, time.perf_counter() - started
    finally:
        os.write(master, b"q")  # quits, and so stops the embedded cluster and removes its socket
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(master)


class BigCluster:
    """The API answers of a cluster of 1,000 nodes, 100 services and 10,000 tasks, as polls see
    them: tasks created over the past ten days, each with its own spec, timestamps and
    container; ``answers(poll)`` has the first 1,000 or 2,000 tasks failed (alternately), so
    each poll after the first changes 1,000 tasks."""

    def __init__(self) -> None:
        self.start = 1767225600.0  # 2026-01-01
        nodes = [
            Node(
                id=f"n{i:024d}",
                created_at=format_timestamp(self.start - 30 * 86400),
                spec=NodeSpec(role=NodeRole.WORKER, availability=Availability.ACTIVE),
                description=NodeDescription(hostname=f"node-{i:04d}"),
                status=NodeStatus(state=NodeState.READY, addr=f"10.0.{i // 250}.{i % 250 + 1}"),
            )
            for i in range(1000)
        ]
        self.nodes = encode(nodes)
        self.services = [encode(self.services_failing(count)) for count in (1000, 2000)]
        self.tasks = [encode(self.tasks_failing(count)) for count in (1000, 2000)]
        self.metrics = [self.usage(poll) for poll in range(2)]

    def services_failing(self, failing: int) -> list[Service]:
        """With the status an endpoint gives when asked for it, as the console asks."""
        return [
            Service(
                id=f"s{i:024d}",
                spec=ServiceSpec(
                    name=f"svc-{i:03d}",
                    mode=ServiceMode(replicated=ReplicatedService(replicas=100)),
                    task_template=self.template(i),
                ),
                service_status=ServiceStatus(
                    running_tasks=100 - min(100, max(0, failing - i * 100)),
                    desired_tasks=100,
                    completed_tasks=0,
                ),
            )
            for i in range(100)
        ]

    @staticmethod
    def template(service: int) -> TaskSpec:
        return TaskSpec(
            container_spec=ContainerSpec(
                image=f"registry.example/team/app-{service}:1.10",
                args=["--port", "8080"],
                env=["MODE=production", f"SERVICE={service}"],
            ),
            resources=ResourceRequirements(
                reservations=ResourceObject(nano_cpus=100_000_000, memory_bytes=64 << 20)
            ),
        )

    def tasks_failing(self, failing: int) -> list[Task]:
        tasks = []
        for index in range(10_000):
            created = self.start - 10 * 86400 + index * 86.4  # one every 86 s over ten days
            failed = index < failing
            status = TaskStatus(
                state=TaskState.FAILED if failed else TaskState.RUNNING,
                timestamp=format_timestamp(created + (3600 if failed else 2.5)),
                message="started",
                err="task: non-zero exit (1)" if failed else None,
                container_status=ContainerStatus(
                    container_id=f"{index:064x}", pid=1000 + index, exit_code=1 if failed else 0
                ),
            )
            tasks.append(
                Task(
                    id=f"t{index:024d}",
                    version=Version(index=20_000 + index if failed else 10_000 + index),
                    created_at=format_timestamp(created),
                    updated_at=status.timestamp,
                    spec=self.template(index // 100),
                    service_id=f"s{index // 100:024d}",
                    slot=index % 100 + 1,
                    node_id=f"n{index % 1000:024d}",
                    desired_state=TaskState.RUNNING,
                    status=status,
                )
            )
        return tasks

    def usage(self, poll: int) -> bytes:
        """Prometheus text as our engine serves it: CPU seconds and memory of every task."""
        lines = []
        for name in ("container_cpu_usage_seconds_total", "container_memory_usage_bytes"):
            for index in range(10_000):
                labels = f'container_label_com_docker_swarm_task_id="t{index:024d}"'
                value = index % 97 + poll * 2.0 if name.endswith("total") else 64 << 20
                lines.append(f"{name}{{{labels}}} {value}")
        return ("\n".join(lines) + "\n").encode()

    def transport(self, polls: int) -> FakeTransport:
        """An endpoint that answers ``polls`` polls, then holds."""
        fake = FakeTransport("benchmark://cluster")
        fake.answer("GET", "/nodes", self.nodes)
        fake.answer("GET", "/services", *(self.services[p % 2] for p in range(polls)), HOLD)
        fake.answer("GET", "/tasks", *(self.tasks[p % 2] for p in range(polls)), HOLD)
        fake.answer("GET", "/metrics", *(self.metrics[p % 2] for p in range(polls)), HOLD)
        return fake


class TimedApp(SwarmdeckApp):
    """The app, timing its handling of each snapshot, by view."""

    handling: ClassVar[dict[str, list[float]]] = {}

    def on_fed(self, message: Fed) -> None:
        begin = time.perf_counter()
        super().on_fed(message)
        message.prevent_default()  # handled: not again by SwarmdeckApp's own handler
        view = getattr(self.screen, "VIEW", "")
        self.handling.setdefault(view, []).append((time.perf_counter() - begin) * 1000)


@contextlib.asynccontextmanager
async def idle() -> AsyncIterator[None]:
    """What the app serves instead of a cluster: nothing, so its own feed never runs."""
    await asyncio.Event().wait()
    yield


async def refresh(
    runs: int,
) -> tuple[list[float], dict[str, list[float]], dict[str, list[float]]]:
    """Milliseconds for each poll (the console's feed, from answers to a snapshot and its
    change set), from each snapshot reaching the app to its frame, and of the app's handling
    of it, on each view (the tasks view of every task, then the overview, nodes and
    services)."""
    cluster = BigCluster()
    client = EngineClient(transport=cluster.transport(4 * runs + 1))
    now = iter(cluster.start + 2.0 * poll for poll in range(4 * runs + 1))
    feed = Feed(client, clock=lambda: next(now))
    app = TimedApp(client, "benchmark", serving=idle())
    wanted: object = None
    drawn = asyncio.Event()
    display = app._display

    def displayed(screen, renderable) -> None:  # type: ignore[no-untyped-def]
        display(screen, renderable)
        if getattr(screen, "snapshot", None) is wanted:
            drawn.set()

    app._display = displayed  # type: ignore[method-assign]
    handling = app.handling
    gc.freeze()  # as swarmdeck does once it has loaded
    polling: list[float] = []
    applying: dict[str, list[float]] = {}
    async with app.run_test(size=(120, 36)) as pilot:
        app.post_message(Fed(await feed.snapshot()))
        for poll in range(1, 4 * runs + 1):
            view = VIEWS[(poll - 1) // runs]
            if view != getattr(app.screen, "VIEW", ""):
                app.jump(view)
                await pilot.pause(0.2)
            begin = time.perf_counter()
            ready = await feed.snapshot()
            polling.append((time.perf_counter() - begin) * 1000)
            wanted, drawn = ready.snapshot, asyncio.Event()
            begin = time.perf_counter()
            app.post_message(Fed(ready))
            await asyncio.wait_for(drawn.wait(), 10)
            applying.setdefault(view, []).append((time.perf_counter() - begin) * 1000)
            del ready  # the app and the feed hold it, as after a poll
            await pilot.pause(0.05)
    return polling, applying, {view: times[-runs:] for view, times in handling.items()}


VIEWS = ("tasks", "overview", "nodes", "services")


async def ingest(total: int = 200_000, batch: int = 5_000) -> tuple[float, bool, int]:
    """Lines per second from a followed log stream to the logs view; whether a key pressed
    mid-flood was answered; the lines the view kept."""
    fake = FakeTransport("benchmark://logs")
    fake.answer("GET", "/nodes", b"[]")
    fake.answer("GET", "/services", b"[]")
    fake.answer("GET", "/tasks", b"[]")
    fake.stream("GET", "/events")
    logs = fake.stream("GET", "/services/flood/logs")
    details = "com.docker.swarm.node.id=n1,com.docker.swarm.service.id=flood"
    chunk = b"".join(
        frame(
            "stdout",
            f"{format_timestamp(1767225600.0 + i / 1000)} {details},com.docker.swarm.task.id="
            f'task{i % 7} 10.0.0.{i % 250} - - "GET /item/{i} HTTP/1.1" 200 {i % 9000}\n'.encode(),
        )
        for i in range(batch)
    )
    client = EngineClient(transport=fake)
    app = SwarmdeckApp(client, "benchmark", feed=Feed(client, interval=3600))
    async with app.run_test(size=(120, 36)) as pilot:
        screen = LogsScreen(LogStream("services", "flood"), "flood")
        app.screen.post_message(screen.Open(screen))
        await fake.wait_open_streams("/services/flood/logs", 1)
        taken = 0
        original = screen.take_lines

        def counted(news) -> None:  # type: ignore[no-untyped-def]
            nonlocal taken
            taken += len(news.lines)
            original(news)

        screen.take_lines = counted  # type: ignore[method-assign]
        begin = time.perf_counter()
        for sent in range(batch, total + 1, batch):
            logs.push(chunk)
            await pilot.pause(0)
            if sent == total // 2:
                await pilot.press("t")  # the UI must answer mid-flood
        while taken < total:
            await pilot.pause(0.01)
        await pilot.pause(0.1)  # the last batch drawn
        elapsed = time.perf_counter() - begin
        return total / elapsed, screen.timestamps, len(screen.entries)


def arranged(runs: int) -> dict[str, list[float]]:
    """Milliseconds to sort the 10,000 task rows of a poll by a column and to filter them by a
    regular expression, as the console does once the feed has made the rows (in its worker
    thread, with the sort values of their names and the text filters search): the first sort
    by a column (the worst of NAME and CURRENT; no sort value of CURRENT is known yet), the
    next one ("warm", the next refresh), and a filter."""
    cluster = BigCluster()
    services = decode(cluster.services[0], list[Service])
    tasks = decode(cluster.tasks[0], list[Task])
    snapshot = Snapshot(services=tuple(services), tasks=tuple(tasks), now=cluster.start).index()
    pattern = tables.parse_pattern(r"^svc-0[0-4]\d\.\d+$")
    timings: dict[str, list[float]] = {}

    def timed(name: str, run: Callable[[], object]) -> float:
        begin = time.perf_counter()
        run()
        took = (time.perf_counter() - begin) * 1000
        timings.setdefault(name, []).append(took)
        return took

    for _ in range(runs):
        tables.forget_sort_values()
        timed("rows made (worker thread)", lambda: TaskRowMaker().make(snapshot))
        made_rows = TaskRowMaker().make(snapshot)
        rows = [made_rows.rows[key] for key in sorted(made_rows.rows, key=made_rows.order.get)]
        worst = 0.0
        for column in (0, 4):  # NAME (svc-012.5), CURRENT (Running 5 days ago)
            first = timed(f"sort {column}", lambda c=column, r=rows: tables.sort_rows(r, c))
            worst = max(worst, first)
            timed(f"sort warm {column}", lambda c=column, r=rows: tables.sort_rows(r, c, True))
        timings.setdefault("sort", []).append(worst)
        timed("filter", lambda r=rows: tables.select(r, pattern))
    return timings


def before(rev: str, runs: int) -> list[str]:
    """The BENCH lines of ``rev``'s own console benchmark, run from a worktree of it."""
    with tempfile.TemporaryDirectory(prefix="swarmdeck-before-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), rev], cwd=ROOT,
                       check=True)  # fmt: skip
        try:
            env = {**os.environ, "PYTHONPATH": str(tree)}
            env.pop("TEXTUAL_FPS", None)  # as that benchmark ran
            done = subprocess.run(
                [sys.executable, "benchmarks/console.py", "--runs", str(runs)],
                cwd=tree, env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                           check=False)  # fmt: skip
    return [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]


BEFORE = "80fa5ba"  # the console before it took its one-way shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with")
    parser.add_argument("--no-before", action="store_true", help="measure this tree only")
    args = parser.parse_args()
    # Compiled as pip compiles an installed package; this checkout may run with
    # PYTHONDONTWRITEBYTECODE, and then every launch would compile the project again.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "console", "engine", "themes"],
                   cwd=ROOT, check=True)  # fmt: skip
    if not args.no_before:
        for line in before(args.before, args.runs):
            print(line.replace("BENCH ", "BENCH before_", 1))
    frames, data = zip(*(first_frames() for _ in range(args.runs)), strict=True)
    print("# console_first_frame_s runs: " + ", ".join(f"{f:.2f}" for f in frames))
    print(f"BENCH console_first_frame_s {statistics.median(frames):.2f}")
    print("# console_first_data_s runs: " + ", ".join(f"{f:.2f}" for f in data))
    print(f"BENCH console_first_data_s {statistics.median(data):.2f}")
    polling, applying, handling = asyncio.run(refresh(args.runs))
    print("# console_poll_10k_tasks_ms runs: " + ", ".join(f"{t:.0f}" for t in polling))
    print(f"BENCH console_poll_10k_tasks_ms {statistics.median(polling):.0f}")
    for view, timings in applying.items():
        name = "console_refresh_10k_tasks_ms" + ("" if view == "tasks" else f"_{view}")
        print(f"# {name} runs: " + ", ".join(f"{t:.1f}" for t in timings))
        print(f"BENCH {name} {statistics.median(timings):.1f}")
    for view, timings in handling.items():
        name = "console_apply_10k_tasks_ms" + ("" if view == "tasks" else f"_{view}")
        print(f"BENCH {name} {statistics.median(timings):.1f}")
    arranging = arranged(max(args.runs, 9))
    for name, timings in arranging.items():
        print(f"# {name} (ms), median {statistics.median(timings):.1f}: " + ", ".join(
            f"{t:.1f}" for t in timings))  # fmt: skip
    print(f"BENCH console_sort_10k_ms {statistics.median(arranging['sort']):.1f}")
    print(f"BENCH console_regex_filter_10k_ms {statistics.median(arranging['filter']):.1f}")
    ingests = [asyncio.run(ingest()) for _ in range(3)]
    rates = [rate for rate, _, _ in ingests]
    _, answered, kept = ingests[-1]
    print(f"# log ingest: key answered mid-flood: {answered}; lines kept {kept} (cap {BUFFER})")
    print("# console_log_ingest_lines_per_s runs: " + ", ".join(f"{r:.0f}" for r in rates))
    print(f"BENCH console_log_ingest_lines_per_s {statistics.median(rates):.0f}")


if __name__ == "__main__":
    main()
