# ruff: noqa: E402
"""Stalls: how long ``/_ping`` waits while the engine serves its largest answers and writes.

Against ``swarmdeck engine serve`` in its own process, a pinger in another process asks
``GET /_ping`` every 10 ms on one kept-alive connection; each case prints the slowest answer
it saw while the case ran (``BENCH ping_max_ms_during_<case>``), in turn:

- ``metrics_10k``: a console's feed attached (nodes, services, tasks and ``/metrics`` every
  2 s) to a cluster of 10,000 running tasks, for 20 s;
- ``logs_1m``: ``docker service logs`` of a service with 1,000,000 lines of history;
- ``create_10k``: a service of 10,000 replicas created, until all run;
- ``create_remove_100k``: a service of 100,000 replicas created, until all run, then removed,
  until its tasks are gone; with the engine's RSS before, and after, once the engine is idle
  again and its allocator has had ``GIVE_BACK`` seconds to return what was freed
  (``BENCH rss_mb_*``).

With root and Docker (``swarmdeck lab``: three Docker Engines on this host), it then compares
``docker service logs`` with a real manager's in the same run: the same number of replicas and
lines, read to the end by the docker CLI (``BENCH logs_lines_per_s_real``,
``logs_lines_per_s_swarmdeck`` and their ratio ``logs_lines_per_s_ratio``, ours over theirs).

    python benchmarks/stall.py [--cases metrics_10k,logs_1m,...] [--no-real] [--turns DIR]

With ``--turns DIR`` the engine runs under ``benchmarks/turns.py``, which writes its long turns
to ``DIR/turns.txt``, and the pinger writes each ping over ``SLOW_PING_MS`` to ``DIR/pings.txt``;
``python benchmarks/turns.py --report DIR`` lists the slowest pings with the turns they waited
through.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/console.py is named like the console package; keep this folder from shadowing it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket as sockets
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable

import aiohttp
import msgspec

from console.feed import Feed
from engine.client import EngineClient
from engine.serve import serve_command

ROOT = Path(__file__).resolve().parents[1]
PING_EVERY = 0.01  # seconds between pings
SLOW_PING_MS = 35.0  # pings counted as slow, and written down under --turns
LOG_REPLICAS = 10
SILENCE = 5.0  # seconds without a line that end a read of the logs
REAL_LINES = 20_000  # lines per replica in the comparison with a real manager
IDLE = 0.02  # of a core, over what answering the pinger costs: the engine is done
QUIET = 0.10  # of a core: the engine is done with what came before a case
GIVE_BACK = 15.0  # seconds for the allocator to give back what was freed (jemalloc: 10 s)


class ListedStatus(msgspec.Struct):
    State: str


class ListedTask(msgspec.Struct):
    Status: ListedStatus


_TASKS = msgspec.json.Decoder(list[ListedTask])


# The pinger: a process of its own, so nothing here delays it.


def ping_forever(socket: str, slow: str | None) -> None:
    """Pings the engine on ``socket``; each line read from stdin is answered with the slowest
    ping since the last one (milliseconds), how many were sent and how many of them took over
    SLOW_PING_MS. With ``slow``, a file, each such ping is written there: when it was sent
    (seconds since the epoch), and how long it took."""
    import http.client
    import threading

    slow_pings = open(slow, "w", buffering=1) if slow else None  # noqa: SIM115  (kept open)

    slowest = [0.0, 0, 0]
    lock = threading.Lock()

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = sockets.socket(sockets.AF_UNIX)
            self.sock.connect(socket)

    def pinger() -> None:
        connection = UnixConnection("docker", timeout=120)
        while True:
            began, sent = time.perf_counter(), time.time()
            connection.request("GET", "/_ping")
            connection.getresponse().read()
            took = (time.perf_counter() - began) * 1000
            if slow_pings is not None and took > SLOW_PING_MS:
                slow_pings.write(f"{sent:.3f} {took:.1f}\n")
            with lock:
                slowest[0] = max(slowest[0], took)
                slowest[1] += 1
                slowest[2] += took > SLOW_PING_MS
            time.sleep(max(0.0, PING_EVERY - (time.perf_counter() - began)))

    threading.Thread(target=pinger, daemon=True).start()
    for _ in sys.stdin:
        with lock:
            print(f"{slowest[0]:.1f} {slowest[1]} {slowest[2]}", flush=True)
            slowest[:] = [0.0, 0, 0]


class Pinger:
    def __init__(self, socket: Path, turns: Path | None) -> None:
        slow = ["--slow-pings", str(turns / "pings.txt")] if turns is not None else []
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--ping", str(socket), *slow],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def slowest(self) -> tuple[float, int, int]:
        """The slowest ping (ms) since the last call, how many pings were answered, and how
        many of them took over SLOW_PING_MS."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write("\n")
        self._process.stdin.flush()
        slowest, count, slow = self._process.stdout.readline().split()
        return float(slowest), int(count), int(slow)

    def close(self) -> None:
        self._process.kill()
        self._process.wait()


# The engine.


class Engine:
    """``swarmdeck engine serve`` in its own process, and a session to ask it things."""

    def __init__(self, workdir: Path, turns: Path | None = None) -> None:
        """With ``turns``, a folder, the engine's long turns are written there (turns.py)."""
        self.socket = workdir / "engine.sock"
        self.log = workdir / "engine.log"
        command = serve_command(self.socket, workdir / "data", "--seed", "1")
        if turns is not None:
            watched = [str(Path(__file__).with_name("turns.py")), "--out", str(turns / "turns.txt")]
            command = [sys.executable, *watched, *command[command.index("serve") :]]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        while not self.socket.exists():
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text())
            await asyncio.sleep(0.05)
        connector = aiohttp.UnixConnector(path=str(self.socket))
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None)
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        self.process.terminate()
        self.process.wait(timeout=60)

    def cpu_seconds(self) -> float:
        """The engine's CPU time so far (user and system)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def cpu_share(self, seconds: float = 2.0) -> float:
        """The engine's CPU use over ``seconds``, as a share of one core."""
        used = self.cpu_seconds()
        await asyncio.sleep(seconds)
        return (self.cpu_seconds() - used) / seconds

    async def settled(self, idle: float, timeout: float) -> float:
        """Waits until the engine uses no more than ``idle`` of a core (over 2 s), at most
        ``timeout`` seconds; returns how long it took."""
        began = time.perf_counter()
        while time.perf_counter() - began < timeout and await self.cpu_share() > idle:
            pass
        return time.perf_counter() - began

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    async def get(self, path: str) -> object:
        assert self.session is not None
        async with self.session.get(f"http://docker/v1.41{path}") as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def create(self, name: str, replicas: int, labels: dict[str, str] | None = None) -> str:
        assert self.session is not None
        spec = {
            "Name": name,
            "Mode": {"Replicated": {"Replicas": replicas}},
            "TaskTemplate": {
                "ContainerSpec": {"Image": "nginx:1.10", "Labels": labels or {}},
                "RestartPolicy": {"Condition": "none"},
            },
        }
        async with self.session.post("http://docker/v1.41/services/create", json=spec) as r:
            assert r.status == 201, await r.text()
            return str((await r.json())["ID"])

    async def remove(self, service_id: str) -> None:
        assert self.session is not None
        async with self.session.delete(f"http://docker/v1.41/services/{service_id}") as r:
            assert r.status == 200, await r.text()

    async def tasks(self, filters: dict[str, list[str]]) -> list[ListedTask]:
        """``GET /tasks``, read only as far as the task states: the whole answer is asked for
        and sent, but reading it costs this process, which shares the machine's cores with the
        engine, a tenth of what decoding every field would."""
        assert self.session is not None
        async with self.session.get(
            f"http://docker/v1.41/tasks?filters={json.dumps(filters)}"
        ) as r:
            assert r.status == 200, await r.text()
            return _TASKS.decode(await r.read())

    async def running(self, service_id: str) -> int:
        """Tasks of the service that run (asked with the filters ``docker service ps`` uses)."""
        tasks = await self.tasks({"service": [service_id], "desired-state": ["running"]})
        return sum(1 for task in tasks if task.Status.State == "running")

    async def task_count(self, service_id: str) -> int:
        return len(await self.tasks({"service": [service_id]}))


async def until(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(1.0)


# The cases.


async def metrics_10k(engine: Engine, pinger: Pinger) -> None:
    services = [await engine.create(f"web-{n}", 1000) for n in range(10)]
    await until(lambda: _all_running(engine, services, 1000), 600, "10,000 running tasks")
    client = EngineClient(f"unix://{engine.socket}")
    feed = Feed(client)
    polls = 0

    def count(news: object) -> None:
        nonlocal polls
        polls += type(news).__name__ == "SnapshotReady"

    pinger.slowest()
    watching = asyncio.create_task(feed.run(count))
    await asyncio.sleep(20)
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching
    await feed.close()
    report("metrics_10k", pinger, f"{polls} console polls")
    for service in services:
        await engine.remove(service)
    await until(lambda: _gone(engine, services), 600, "the services' tasks gone")


async def _all_running(engine: Engine, services: list[str], each: int) -> bool:
    counts = [await engine.running(service) for service in services]
    return all(count == each for count in counts)


async def _gone(engine: Engine, services: list[str]) -> bool:
    counts = [await engine.task_count(service) for service in services]
    return not any(counts)


async def logs_1m(engine: Engine, pinger: Pinger) -> None:
    every = 100e-6  # a line every 100 µs: 10,000 lines a second from each replica
    service = await engine.create("chatty", LOG_REPLICAS, {"swarmdeck.sim.log-every": "100us"})
    await until(lambda: _all_running(engine, [service], LOG_REPLICAS), 120, "chatty running")
    await asyncio.sleep(1_000_000 / LOG_REPLICAS * every + 1)
    pinger.slowest()
    lines, seconds, _ = await docker_logs(f"unix://{engine.socket}", "chatty")
    report("logs_1m", pinger, f"{lines} lines in {seconds:.1f} s")
    await engine.remove(service)
    await until(lambda: _gone(engine, [service]), 120, "chatty gone")


async def docker_logs(host: str, service: str) -> tuple[int, float, bool]:
    """Reads the service's whole log with the docker CLI (both of its streams): the lines
    read, the seconds until the last of them, and whether the CLI ended by itself. A read
    that stays silent for SILENCE seconds is stopped: a real manager's ``docker service logs``
    can stop short of the end and never finish (moby/moby#38640)."""
    began = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        _docker(), "service", "logs", service,
        env={**os.environ, "DOCKER_HOST": host},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    lines, last, ended = 0, began, True
    while True:
        try:
            chunk = await asyncio.wait_for(process.stdout.read(1 << 16), SILENCE)
        except TimeoutError:
            ended = False
            process.kill()
            break
        if not chunk:
            break
        lines += chunk.count(b"\n")
        last = time.perf_counter()
    await process.wait()
    return lines, last - began, ended


def _docker() -> str:
    found = shutil.which("docker")
    if found is None:
        raise RuntimeError("the docker CLI is not installed")
    return found


async def create_10k(engine: Engine, pinger: Pinger) -> None:
    pinger.slowest()
    began = time.perf_counter()
    service = await engine.create("big", 10_000)
    await until(lambda: _all_running(engine, [service], 10_000), 600, "10,000 running")
    report("create_10k", pinger, f"all running after {time.perf_counter() - began:.0f} s")
    await engine.remove(service)
    await until(lambda: _gone(engine, [service]), 600, "big gone")


async def create_remove_100k(engine: Engine, pinger: Pinger) -> None:
    await engine.settled(QUIET, 300)  # a case before this one may still be letting go
    before = engine.rss_mb()
    # What answering the pinger costs (10 ms apart, it is most of an idle engine's use): the
    # engine is idle again when it uses no more than that, and a little.
    idle = await engine.cpu_share() * 1.5 + IDLE
    pinger.slowest()
    began = time.perf_counter()
    service = await engine.create("huge", 100_000)
    await until(lambda: _all_running(engine, [service], 100_000), 1800, "100,000 running")
    ran = time.perf_counter() - began
    await engine.remove(service)
    await until(lambda: _gone(engine, [service]), 1800, "huge gone")
    report("create_remove_100k", pinger, f"all running after {ran:.0f} s")
    await asyncio.sleep(5)
    soon = engine.rss_mb()
    settling = await engine.settled(idle, 300)  # the nodes let go of their workers after "gone"
    await asyncio.sleep(GIVE_BACK)
    after = engine.rss_mb()
    print(
        f"# RSS 5 s after the tasks were gone: {soon:.0f} MB; idle {settling:.0f} s later, "
        f"and read {GIVE_BACK:.0f} s after that"
    )
    print(f"BENCH rss_mb_before_100k {before:.0f}")
    print(f"BENCH rss_mb_after_100k {after:.0f}")


def report(case: str, pinger: Pinger, note: str = "") -> None:
    slowest, pings, slow = pinger.slowest()
    print(
        f"# {case}: {pings} pings answered, {slow} over {SLOW_PING_MS:.0f} ms"
        + (f", {note}" if note else "")
    )
    print(f"BENCH ping_max_ms_during_{case} {slowest:.1f}", flush=True)


CASES = {
    "metrics_10k": metrics_10k,
    "logs_1m": logs_1m,
    "create_10k": create_10k,
    "create_remove_100k": create_remove_100k,
}


# Logs against a real manager.


async def logs_ratio(workdir: Path, runs: int) -> None:
    """``docker service logs`` of the same lines on a real swarm and on ours, ``runs`` times."""
    from engine.lab import IMAGES, Lab

    lab = Lab(workdir / "lab")
    lab.up(3)
    try:
        script = (
            f"seq 1 {REAL_LINES} | sed 's/$/ GET \\/api\\/v1\\/items HTTP\\/1.1 200 5120 "
            "curl\\/7.88.1/'; sleep 100000"
        )
        manager = lab.manager.url
        _docker_cli(
            manager, "service", "create", "--detach", "--name", "chatty", "--replicas",
            str(LOG_REPLICAS), "--restart-condition", "none", IMAGES[0], "sh", "-c", script,
        )  # fmt: skip
        wanted = LOG_REPLICAS * REAL_LINES
        await until(lambda: _all_started(manager), 120, "the real manager's replicas")
        await asyncio.sleep(10)  # each replica writes its lines in about a second
        real = await _rates(manager, wanted, runs)
        _docker_cli(manager, "service", "rm", "chatty")
    finally:
        lab.down()
    engine = Engine(workdir)
    await engine.start()
    try:
        every = 1e-3
        await engine.create("chatty", LOG_REPLICAS, {"swarmdeck.sim.log-every": "1ms"})
        await asyncio.sleep(REAL_LINES * every + 2)
        ours = await _rates(f"unix://{engine.socket}", wanted, runs)
    finally:
        await engine.close()
    print("# logs_lines_per_s_real runs: " + ", ".join(f"{r:.0f}" for r in real))
    print("# logs_lines_per_s_swarmdeck runs: " + ", ".join(f"{r:.0f}" for r in ours))
    print(f"BENCH logs_lines_per_s_real {statistics.median(real):.0f}")
    print(f"BENCH logs_lines_per_s_swarmdeck {statistics.median(ours):.0f}")
    print(f"BENCH logs_lines_per_s_ratio {statistics.median(ours) / statistics.median(real):.2f}")


async def _rates(host: str, wanted: int, runs: int) -> list[float]:
    """Lines per second of ``docker service logs chatty``, ``runs`` reads: lines read over
    the time to the last of them (a read that stopped short counts what it read)."""
    rates = []
    for _ in range(runs):
        lines, seconds, ended = await docker_logs(host, "chatty")
        if not ended or lines < wanted:
            print(f"# a read of {host} stopped after {lines} of {wanted} lines")
        rates.append(lines / seconds)
    return rates


async def _all_started(host: str) -> bool:
    states = _docker_cli(host, "service", "ps", "--format", "{{.CurrentState}}", "chatty")
    running = [line for line in states.splitlines() if line.startswith("Running")]
    return len(running) == LOG_REPLICAS


def _docker_cli(host: str, *args: str) -> str:
    return subprocess.run(
        [_docker(), *args],
        env={**os.environ, "DOCKER_HOST": host},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


async def run(
    cases: list[str], real: bool, runs: int, workdir: Path, turns: Path | None = None
) -> None:
    engine = Engine(workdir, turns)
    await engine.start()
    pinger = Pinger(engine.socket, turns)
    try:
        for case in cases:
            await CASES[case](engine, pinger)
    finally:
        pinger.close()
        await engine.close()
    if real:
        if os.geteuid() != 0 or shutil.which("dockerd") is None:
            print("# logs_lines_per_s_ratio: needs root and dockerd for a real manager")
        else:
            await logs_ratio(workdir / "real", runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--no-real", action="store_true", help="skip the real manager's logs")
    parser.add_argument("--runs", type=int, default=5, help="reads of the logs, for medians")
    parser.add_argument(
        "--turns",
        type=Path,
        metavar="DIR",
        help="write the engine's long turns and the slow pings to DIR (see turns.py)",
    )
    parser.add_argument("--ping", metavar="SOCKET", help=argparse.SUPPRESS)
    parser.add_argument("--slow-pings", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ping:
        ping_forever(args.ping, args.slow_pings)
        return
    cases = [case for case in args.cases.split(",") if case]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case {sorted(unknown)[0]}; the cases are {', '.join(CASES)}")
    with tempfile.TemporaryDirectory(prefix="swarmdeck-stall-") as temp:
        workdir = Path(temp)
        (workdir / "real").mkdir()
        if args.turns is not None:
            args.turns.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(cases, not args.no_real, args.runs, workdir, args.turns))
        if args.turns is not None:
            print(f"# the slowest pings' turns: python benchmarks/turns.py --report {args.turns}")


if __name__ == "__main__":
    main()
