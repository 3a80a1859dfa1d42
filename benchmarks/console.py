# ruff: noqa: E402
"""Console figures: first frame, a 10,000-task refresh, and log ingestion.

- ``console_first_frame_s``: from launching ``swarmdeck`` (the embedded demo cluster) in a pty to
  its first frame on the terminal; median of several launches.
- ``console_refresh_10k_tasks_ms``: applying a new snapshot of 1,000 nodes and 10,000 tasks (a
  tenth of them changed) to the tasks view; median of several refreshes.
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
import os
import pty
import select
import statistics
import subprocess
import tempfile
import time

from console.model import Snapshot
from console.screens.logs import BUFFER, LogsScreen
from console.screens.tasks import TasksScreen
from console.screenshots import demo_app
from engine.api.objects import (
    Node,
    NodeDescription,
    NodeStatus,
    Service,
    Task,
    TaskStatus,
    Version,
)
from engine.api.specs import (
    ContainerSpec,
    NodeSpec,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from engine.api.types import Availability, NodeRole, NodeState, TaskState
from engine.client import LogEntry

ROOT = Path(__file__).resolve().parents[1]


def first_frame() -> float:
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
    try:
        while b"swarmdeck \xc2\xb7" not in seen:
            ready, _, _ = select.select([master], [], [], 10)
            if not ready:
                raise RuntimeError("no frame within 10 s")
            seen += os.read(master, 65536)
        return time.perf_counter() - started
    finally:
        process.kill()
        process.wait()
        os.close(master)


def big_snapshot(changed: int = 0) -> Snapshot:
    nodes = tuple(
        Node(
            id=f"n{i:05d}",
            spec=NodeSpec(role=NodeRole.WORKER, availability=Availability.ACTIVE),
            description=NodeDescription(hostname=f"node-{i:04d}"),
            status=NodeStatus(state=NodeState.READY),
        )
        for i in range(1000)
    )
    services = tuple(
        Service(
            id=f"s{i:03d}",
            spec=ServiceSpec(
                name=f"svc-{i:03d}",
                mode=ServiceMode(replicated=ReplicatedService(replicas=100)),
                task_template=TaskSpec(container_spec=ContainerSpec(image="nginx:1.10")),
            ),
        )
        for i in range(100)
    )
    tasks = []
    for index in range(10_000):
        state = TaskState.FAILED if index < changed else TaskState.RUNNING
        tasks.append(
            Task(
                id=f"t{index:06d}",
                version=Version(index=2 if index < changed else 1),
                service_id=f"s{index // 100:03d}",
                slot=index % 100 + 1,
                node_id=f"n{index % 1000:05d}",
                desired_state=TaskState.RUNNING,
                status=TaskStatus(state=state, timestamp="2026-01-01T00:00:00Z"),
            )
        )
    return Snapshot(nodes=nodes, services=services, tasks=tuple(tasks), now=1767225700.0)


async def refresh(runs: int) -> list[float]:
    app = demo_app()
    timings = []
    async with app.run_test(size=(120, 36)) as pilot:
        app.apply_snapshot(big_snapshot())
        app.push_screen(TasksScreen())
        await pilot.pause()
        for run in range(runs):
            snapshot = big_snapshot(changed=1000 * ((run % 2) + 1))
            begin = time.perf_counter()
            app.apply_snapshot(snapshot)
            timings.append((time.perf_counter() - begin) * 1000)
            await pilot.pause()
    return timings


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
    frames = [first_frame() for _ in range(args.runs)]
    print("# console_first_frame_s runs: " + ", ".join(f"{f:.2f}" for f in frames))
    print(f"BENCH console_first_frame_s {statistics.median(frames):.2f}")
    timings = asyncio.run(refresh(args.runs))
    print("# console_refresh_10k_tasks_ms runs: " + ", ".join(f"{t:.0f}" for t in timings))
    print(f"BENCH console_refresh_10k_tasks_ms {statistics.median(timings):.0f}")
    rate, answered, kept = asyncio.run(ingest())
    print(f"# log ingest: key answered mid-flood: {answered}; lines kept {kept} (cap {BUFFER})")
    print(f"BENCH console_log_ingest_lines_per_s {rate:.0f}")


if __name__ == "__main__":
    main()
