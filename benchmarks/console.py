# ruff: noqa: E402
"""Console figures: first frame, a 10,000-task refresh, and log ingestion.

- ``console_first_frame_s``: from launching ``swarmdeck`` (the embedded demo cluster) in a pty to
  its first frame on the terminal; median of several launches.
- ``console_first_data_s``: from the same launches to the first frame that shows the cluster
  (the embedded cluster starts once the first frame is drawn).
- ``console_refresh_10k_tasks_ms``: applying a new snapshot of 1,000 nodes and 10,000 tasks (a
  tenth of them changed since the last poll) to the tasks view; median of several refreshes.
  The same for the overview, the nodes and the services views: ``..._overview``, ``..._nodes``,
  ``..._services``.
- ``console_poll_10k_tasks_ms``: the console's feed turning that poll's API answers (JSON) into
  the snapshot and its lookups, most of it in a worker thread; median of the same polls.
- ``console_log_ingest_lines_per_s``: log lines taken into the logs view while it keeps
  answering keys (a key press is answered within the run), with the buffer bounded.

    python benchmarks/console.py [--runs 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the console package; keep its folder from shadowing it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

import argparse
import asyncio
import gc
import os
import pty
import select
import statistics
import subprocess
import tempfile
import time

from console.feed import Feed
from console.screens.logs import BUFFER, LogsScreen
from console.screenshots import demo_app
from engine.api.codec import encode
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
from engine.client import EngineClient, LogEntry

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
            if frame is None and b"swarmdeck \xc2\xb7" in seen:
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

    def answers(self, poll: int) -> dict[str, bytes]:
        return {
            "nodes": self.nodes,
            "services": self.services[poll % 2],
            "tasks": self.tasks[poll % 2],
        }


class AnsweringClient(EngineClient):
    """The engine client, with the cluster's answers in place of HTTP: everything else a poll
    does (decoding in a worker thread, keeping unchanged objects, the snapshot's lookups) is
    the console's own code."""

    def __init__(self, cluster: BigCluster) -> None:
        super().__init__("unix:///nonexistent/swarmdeck-benchmark.sock")
        self.cluster = cluster
        self.poll = 0

    async def _body(self, path: str, params: dict[str, str] | None = None) -> bytes:
        return self.cluster.answers(self.poll)[path]

    async def metrics(self) -> str | None:
        return None


async def refresh(runs: int) -> tuple[list[float], dict[str, list[float]]]:
    """Milliseconds for each poll (the console's feed, from answers to a snapshot), and to
    apply each snapshot to each view (the tasks view of every task, then the overview, nodes
    and services)."""
    client = AnsweringClient(BigCluster())
    feed = Feed(client)
    now = client.cluster.start
    app = demo_app()
    gc.freeze()  # as swarmdeck does once it has loaded
    polling: list[float] = []
    applying: dict[str, list[float]] = {}
    async with app.run_test(size=(120, 36)) as pilot:
        app.apply_snapshot(await feed.snapshot(now))
        for poll in range(1, 4 * runs + 1):
            view = VIEWS[(poll - 1) // runs]
            if view != getattr(app.screen, "VIEW", ""):
                app.jump(view)
                await pilot.pause()
            now += 2.0  # the feed's interval
            client.poll = poll
            begin = time.perf_counter()
            snapshot = await feed.snapshot(now)
            polling.append((time.perf_counter() - begin) * 1000)
            begin = time.perf_counter()
            app.apply_snapshot(snapshot)
            applying.setdefault(view, []).append((time.perf_counter() - begin) * 1000)
            del snapshot  # the app and the feed hold it, as after a poll
            await pilot.pause()
    return polling, applying


VIEWS = ("tasks", "overview", "nodes", "services")


async def ingest(total: int = 200_000, batch: int = 5_000) -> tuple[float, bool, int]:
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        app.open_logs("services", "x", "flood")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        entries = [
            LogEntry(
                1767225600.0 + i / 1000,
                "stdout",
                f"task{i % 7}",
                "node",
                f'10.0.0.{i % 250} - - "GET /item/{i} HTTP/1.1" 200 {i % 9000}',
            )
            for i in range(batch)
        ]
        begin = time.perf_counter()
        sent = 0
        while sent < total:
            screen.add_entries(entries)
            sent += batch
            await pilot.pause(0)
            if sent == total // 2:
                await pilot.press("t")  # the UI must answer mid-flood
        await pilot.pause(0.1)
        elapsed = time.perf_counter() - begin
        return sent / elapsed, screen.timestamps, len(screen.entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    # Compiled as pip compiles an installed package; this checkout may run with
    # PYTHONDONTWRITEBYTECODE, and then every launch would compile the project again.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "console", "engine", "themes"],
                   cwd=ROOT, check=True)  # fmt: skip
    frames, data = zip(*(first_frames() for _ in range(args.runs)), strict=True)
    print("# console_first_frame_s runs: " + ", ".join(f"{f:.2f}" for f in frames))
    print(f"BENCH console_first_frame_s {statistics.median(frames):.2f}")
    print("# console_first_data_s runs: " + ", ".join(f"{f:.2f}" for f in data))
    print(f"BENCH console_first_data_s {statistics.median(data):.2f}")
    polling, applying = asyncio.run(refresh(args.runs))
    print("# console_poll_10k_tasks_ms runs: " + ", ".join(f"{t:.0f}" for t in polling))
    print(f"BENCH console_poll_10k_tasks_ms {statistics.median(polling):.0f}")
    for view, timings in applying.items():
        name = "console_refresh_10k_tasks_ms" + ("" if view == "tasks" else f"_{view}")
        print(f"# {name} runs: " + ", ".join(f"{t:.1f}" for t in timings))
        print(f"BENCH {name} {statistics.median(timings):.1f}")
    rate, answered, kept = asyncio.run(ingest())
    print(f"# log ingest: key answered mid-flood: {answered}; lines kept {kept} (cap {BUFFER})")
    print(f"BENCH console_log_ingest_lines_per_s {rate:.0f}")


if __name__ == "__main__":
    main()
