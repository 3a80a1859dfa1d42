"""Engine API figures, against ``swarmdeck engine serve`` in its own process (state on disk).

Creates services one request after another, in five runs of a fifth each, and prints the median
rate (``api_create_per_s``), then times ``GET /services?status=true`` (what ``docker service ls``
sends) over 1,000 services of one replica each and prints the median
(``api_service_ls_1000_ms``).

    python benchmarks/api.py [--services 1000] [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp

from engine.serve import serve_command

ROOT = Path(__file__).resolve().parents[1]
CREATE_PARTS = 5  # the creates are timed in this many runs, for a median


async def run(services: int, runs: int, workdir: Path) -> None:
    socket = workdir / "engine.sock"
    engine = subprocess.Popen(
        serve_command(socket, workdir / "data", "--seed", "1"),
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not socket.exists():
            await asyncio.sleep(0.05)
        connector = aiohttp.UnixConnector(path=str(socket))
        async with aiohttp.ClientSession(connector=connector) as session:
            rates = []
            for part in range(CREATE_PARTS):
                count = services // CREATE_PARTS
                started = time.perf_counter()
                for index in range(part * count, (part + 1) * count):
                    spec = {
                        "Name": f"svc-{index}",
                        "Mode": {"Replicated": {"Replicas": 1}},
                        "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1.10"}},
                    }
                    async with session.post("http://docker/v1.41/services/create", json=spec) as r:
                        assert r.status == 201, await r.text()
                rates.append(count / (time.perf_counter() - started))
            print("# api_create_per_s runs: " + ", ".join(f"{r:.0f}" for r in rates))
            print(f"BENCH api_create_per_s {statistics.median(rates):.0f}")
            await asyncio.sleep(5)  # let the tasks be placed and started
            timings = []
            for _ in range(runs):
                begin = time.perf_counter()
                async with session.get("http://docker/v1.41/services?status=true") as r:
                    listed = await r.json()
                timings.append((time.perf_counter() - begin) * 1000)
                assert len(listed) == services
            print(f"# api_service_ls_{services}_ms runs: " + ", ".join(f"{t:.1f}" for t in timings))
            print(f"BENCH api_service_ls_{services}_ms {statistics.median(timings):.1f}")
    finally:
        engine.terminate()
        engine.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        asyncio.run(run(args.services, args.runs, Path(workdir)))


if __name__ == "__main__":
    main()
