"""Stack figures, against ``swarmdeck engine serve`` (simulated nodes) in its own process, with
the real docker CLI.

``stack_deploy_20_services_s``: ``docker stack deploy -c`` of a 20-service stack until every
task of it runs (the median of a few runs, the stack removed between them).
``stack_rm_poll_ms``: one ``GET /tasks?filters={"label":["com.docker.stack.namespace=NS"]}``,
the query ``docker stack rm`` repeats in a loop with no pause, with 10,000 other tasks in the
cluster (the median of many).

    python benchmarks/stacks.py [--runs 3] [--tasks 10000] [--polls 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from engine.serve import serve_command
from engine.stacks import NAMESPACE_LABEL

ROOT = Path(__file__).resolve().parents[1]
SERVICES = 20


def compose(services: int) -> str:
    lines = ['version: "3.8"', "services:"]
    for index in range(services):
        lines += [
            f"  svc{index}:",
            "    image: nginx:1.25",
            "    networks: [app]",
            "    deploy:",
            "      replicas: 2",
        ]
    lines += ["networks:", "  app:"]
    return "\n".join(lines) + "\n"


async def stack_running(session: aiohttp.ClientSession, stack: str, services: int) -> bool:
    filters = json.dumps({"label": [f"{NAMESPACE_LABEL}={stack}"]})
    async with session.get(
        "http://docker/v1.41/services", params={"status": "true", "filters": filters}
    ) as answer:
        listed: list[dict[str, Any]] = await answer.json()
    return len(listed) == services and all(
        s["ServiceStatus"]["RunningTasks"] == s["ServiceStatus"]["DesiredTasks"] > 0 for s in listed
    )


async def stack_tasks(session: aiohttp.ClientSession, stack: str) -> list[Any]:
    filters = json.dumps({"label": [f"{NAMESPACE_LABEL}={stack}"]})
    async with session.get("http://docker/v1.41/tasks", params={"filters": filters}) as answer:
        found: list[Any] = await answer.json()
    return found


def docker(socket: Path, *args: str, cwd: Path | None = None) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{socket}"}
    subprocess.run(["docker", *args], env=env, cwd=cwd, check=True, capture_output=True)


async def run(runs: int, tasks: int, polls: int, workdir: Path) -> None:
    socket = workdir / "engine.sock"
    prefix = f"127.{random.randint(2, 254)}.{random.randint(1, 254)}"
    engine = subprocess.Popen(
        serve_command(socket, workdir / "data", "--seed", "1", f"--node-addresses={prefix}"),
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    (workdir / "stack.yml").write_text(compose(SERVICES))
    try:
        while not socket.exists():
            await asyncio.sleep(0.05)
        connector = aiohttp.UnixConnector(path=str(socket))
        async with aiohttp.ClientSession(connector=connector) as session:
            seconds = []
            for number in range(runs):
                stack = f"bench{number}"
                started = time.perf_counter()
                docker(socket, "stack", "deploy", "-c", "stack.yml", stack, cwd=workdir)
                while not await stack_running(session, stack, SERVICES):
                    await asyncio.sleep(0.05)
                seconds.append(time.perf_counter() - started)
                docker(socket, "stack", "rm", stack)
                while await stack_tasks(session, stack):
                    await asyncio.sleep(0.1)
            print("# stack_deploy_20_services_s runs: " + ", ".join(f"{s:.2f}" for s in seconds))
            print(f"BENCH stack_deploy_20_services_s {statistics.median(seconds):.2f}")

            spec = {
                "Name": "crowd",
                "Mode": {"Replicated": {"Replicas": tasks}},
                "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1.25"}},
            }
            async with session.post("http://docker/v1.41/services/create", json=spec) as r:
                assert r.status == 201, await r.text()
            docker(socket, "stack", "deploy", "-c", "stack.yml", "polled", cwd=workdir)
            while True:  # the crowd's tasks all made
                async with session.get("http://docker/v1.41/services?status=true") as r:
                    listed = await r.json()
                if sum(s["ServiceStatus"]["DesiredTasks"] for s in listed) >= tasks + 2 * SERVICES:
                    break
                await asyncio.sleep(0.5)
            timings = []
            for _ in range(polls):
                begin = time.perf_counter()
                found = await stack_tasks(session, "polled")
                timings.append((time.perf_counter() - begin) * 1000)
                assert len(found) >= 2 * SERVICES
            print("# stack_rm_poll_ms runs: " + ", ".join(f"{t:.1f}" for t in timings))
            print(f"BENCH stack_rm_poll_ms {statistics.median(timings):.1f}")
    finally:
        engine.terminate()
        engine.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--polls", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        asyncio.run(run(args.runs, args.tasks, args.polls, Path(workdir)))


if __name__ == "__main__":
    main()
