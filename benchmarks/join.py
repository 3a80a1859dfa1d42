# ruff: noqa: E402
"""Joining: nodes join a swarm over mutual TLS; how long until they are Ready, and what 1,000
of them cost the manager while they heartbeat.

The manager is ``swarmdeck engine serve`` in its own process (one node, made a manager with
``POST /swarm/init`` on 127.0.0.1). The joining nodes are agents in another process, the fleet,
all on one event loop (1,000 processes would not fit): each joins with ``engine.node.remote
.join`` and the worker token, into a folder of its own, then runs an ``Agent`` with simulated
containers against the manager's dispatcher over mutual TLS. Ready is what ``GET /nodes`` says.

- ``join_to_ready_ms``: one node, from the start of its join (the token in hand) to Ready on
  the manager; the median of ``--runs`` joins, one after the other, to one manager.
  Goal: <= 500 ms.
- ``join_100_nodes_s``: 100 nodes join at once, until all are Ready; the median of
  ``--runs-100`` runs, each with a new manager. Goal: <= 10 s.
- ``manager_idle_cpu_pct_1000_nodes``: the manager's CPU (percent of one core, utime + stime of
  /proc/PID/stat) over ``--window`` seconds, with 1,000 nodes connected and heartbeating at the
  default period (5 s), once all have joined (``--at-once`` at a time) and ``--settle`` seconds
  have passed. Goal: <= 10 %.

Both processes need an open file per connection: the benchmark raises its soft limit
(RLIMIT_NOFILE), which the manager and the fleet inherit. Linux; loopback only. About three
minutes on two cores.

    python benchmarks/join.py [--cases one,many,idle] [--runs 5] [--runs-100 3]
                              [--nodes-idle 1000] [--at-once 100] [--quick] [--keep]
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
import logging
import os
import resource
import shutil
import signal
import socket as sockets
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from msgspec.structs import replace

from engine.agent.agent import Agent
from engine.agent.exec.sim import SimExecutor
from engine.ca import NodeFiles, node_tls_info
from engine.clock import SystemClock
from engine.errors import EngineError
from engine.manager.controlapi import NodeResources
from engine.node.remote import RemoteDispatcher, join
from engine.pace import Pace
from engine.serve import serve_command

ROOT = Path(__file__).resolve().parents[1]
FILES_PER_NODE = 2  # open files per joined node in each process: its connection, and slack
FILES_SPARE = 256  # open files for everything else (logs, the store, the API)
JOIN_ATTEMPTS = 5  # a join refused or timed out is tried again, up to this many times
START_TIMEOUT = 30.0  # seconds for the manager to answer on its socket
STOP_TIMEOUT = 30.0  # seconds for the manager to stop after SIGTERM before it is killed


# The fleet: agents of simulated nodes, in a process of their own.


class Fleet:
    """Nodes that join the manager at ``addr`` with ``token``, each with a folder in ``folder``
    and an agent that runs until the process ends."""

    def __init__(self, addr: str, token: str, folder: Path) -> None:
        self._addr = addr
        self._token = token
        self._folder = folder
        self._clock = SystemClock()
        self._pace = Pace(self._clock)  # the agents of one process share one, as in a daemon
        self._agents: set[asyncio.Task[None]] = set()
        self._joined = 0
        self._renewals = 0  # nodes the manager asked to renew: their TLS info is not its own

    async def join(self, count: int, at_once: int) -> dict[str, Any]:
        """Joins ``count`` nodes, ``at_once`` at a time; answers when all have their
        certificates and run their agents: when the joins began and ended, and the refusals
        and timeouts that were tried again, and how many nodes were asked to renew so far."""
        began = time.monotonic()
        room = asyncio.Semaphore(at_once)
        retries: list[str] = []
        names = [f"bench-node-{self._joined + n + 1}" for n in range(count)]
        self._joined += count

        async def one(name: str) -> None:
            async with room:
                await self._join_one(name, retries)

        async with asyncio.TaskGroup() as group:
            for name in names:
                group.create_task(one(name))
        return {
            "began": began,
            "joined": time.monotonic(),
            "retried": len(retries),
            "retries": retries[:3],  # the first few, as examples
            "renewals": self._renewals,
        }

    async def _join_one(self, name: str, retries: list[str]) -> None:
        files = NodeFiles.of(self._folder / name)
        for attempt in range(1, JOIN_ATTEMPTS + 1):
            try:
                joined = await join(self._addr, self._token, files)
                break
            except EngineError as error:
                if attempt == JOIN_ATTEMPTS:
                    raise
                retries.append(f"{name}: {error}")
                logging.getLogger("fleet").warning("%s: join tried again: %s", name, error)
                await asyncio.sleep(1.0)
        description = replace(  # as a worker's daemon describes itself
            NodeResources().description(name),
            tls_info=node_tls_info(files.root.read_bytes(), files.cert.read_bytes()),
        )
        agent = Agent(
            joined.node_id,
            description,
            joined.local_addr,
            RemoteDispatcher(self._addr, files, renew=self._renew_asked),
            SimExecutor(name, len(self._agents), self._clock, self._pace),
            self._clock,
            self._pace,
        )
        running = asyncio.create_task(agent.run())
        self._agents.add(running)
        running.add_done_callback(_agent_ended)

    def _renew_asked(self) -> None:
        self._renewals += 1


def _agent_ended(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logging.getLogger("fleet").error("an agent stopped: %r", task.exception())


async def serve_fleet(addr: str, token: str, folder: Path) -> None:
    """The fleet's process: each line ``join COUNT AT_ONCE`` on stdin is answered with one line
    of JSON on stdout once those nodes have joined; at the end of stdin, it exits."""
    fleet = Fleet(addr, token, folder)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 16)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        _, count, at_once = line.split()
        try:
            answer = await fleet.join(int(count), int(at_once))
        except* EngineError as errors:
            answer = {"error": str(errors.exceptions[0])}
        print(json.dumps(answer), flush=True)
    os._exit(0)  # nothing to keep: the benchmark removes the folders, the manager goes too


class FleetProcess:
    """The fleet, seen from the benchmark."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, addr: str, token: str, workdir: Path) -> FleetProcess:
        log = workdir / "fleet.log"
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--fleet", addr, token, str(workdir / "nodes"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log.open("wb"),
        )  # fmt: skip
        return cls(process, log)

    async def join(self, count: int, at_once: int) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"join {count} {at_once}\n".encode())
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fleet stopped: {_tail(self.log)}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"a node could not join: {answer['error']}")
        return answer

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


# The manager.


class Manager:
    """``swarmdeck engine serve`` in its own process, made the manager of a new swarm."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.socket = workdir / "engine.sock"
        self.log = workdir / "engine.log"
        self.addr = f"127.0.0.1:{free_port()}"
        self.process: asyncio.subprocess.Process | None = None
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        """Starts it and inits the swarm; returns the worker join token."""
        command = serve_command(
            self.socket, self.workdir / "data", "--hostname", "swarm-master", nodes=None
        )
        self.process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=self.log.open("wb")
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.socket.exists():
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the manager did not start: {_tail(self.log)}")
            await asyncio.sleep(0.05)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=str(self.socket)),
            timeout=aiohttp.ClientTimeout(total=60),
        )
        addrs = {"ListenAddr": self.addr, "AdvertiseAddr": self.addr}
        async with self.session.post("http://docker/v1.41/swarm/init", json=addrs) as response:
            if response.status != 200:
                raise RuntimeError(f"swarm init: {response.status} {await response.text()}")
        swarm = await self.get("/swarm")
        return str(swarm["JoinTokens"]["Worker"])

    async def get(self, path: str) -> Any:
        assert self.session is not None
        async with self.session.get(f"http://docker/v1.41{path}") as response:
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {await response.text()}")
            return await response.json()

    async def ready(self) -> int:
        """Nodes that are Ready, this one among them."""
        return (await self.states())["ready"]

    async def states(self) -> Counter[str]:
        """How many nodes are in each state (``ready``, ``unknown``, ``down``)."""
        self.check()
        nodes = await self.get("/nodes")
        return Counter(str(node["Status"]["State"]) for node in nodes)

    def check(self) -> None:
        """Raises if the manager has stopped."""
        assert self.process is not None
        if self.process.returncode is not None:
            raise RuntimeError(
                f"the manager stopped ({self.process.returncode}): {_tail(self.log, 5)}"
            )

    def cpu_seconds(self) -> float:
        self.check()
        assert self.process is not None
        return cpu_seconds(self.process.pid)

    def complaints(self) -> list[str]:
        """The lines of its log that warn or tell of an error."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return [line for line in lines if " WARNING " in line or " ERROR " in line]

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            print(f"# the manager did not stop in {STOP_TIMEOUT:.0f} s; killed")
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def swarm(workdir: Path) -> AsyncIterator[tuple[Manager, FleetProcess]]:
    """A new manager and a fleet to join it, both ended when the block ends."""
    workdir.mkdir(parents=True)
    manager = Manager(workdir)
    fleet: FleetProcess | None = None
    try:
        token = await manager.start()
        fleet = await FleetProcess.start(manager.addr, token, workdir)
        yield manager, fleet
    finally:
        if fleet is not None:
            await fleet.close()
        await manager.close()
        for line in manager.complaints()[:5]:
            print(f"# manager log: {line}")


async def join_until_ready(
    manager: Manager, fleet: FleetProcess, count: int, at_once: int, poll: float, timeout: float
) -> tuple[float, dict[str, Any]]:
    """Joins ``count`` nodes; seconds from the start of the joins until all are Ready, as
    ``GET /nodes`` polled every ``poll`` seconds sees it; and what the fleet answered."""
    wanted = await manager.ready() + count
    joining = asyncio.ensure_future(fleet.join(count, at_once))
    deadline = time.monotonic() + timeout
    try:
        while True:
            if joining.done():
                joining.result()  # raises what stopped the fleet
            if await manager.ready() >= wanted:
                ready_at = time.monotonic()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} nodes not Ready after {timeout:.0f} s")
            await asyncio.sleep(poll)
        answer = await joining
    finally:
        joining.cancel()
    for retry in answer["retries"]:
        print(f"# a join was tried again: {retry}")
    if answer["retried"]:
        print(f"# {answer['retried']} joins were tried again")
    if answer["renewals"]:
        print(f"# the manager asked nodes to renew {answer['renewals']} times")
    return ready_at - answer["began"], answer


# The cases.


async def join_to_ready(workdir: Path, runs: int) -> float:
    times, certified = [], []
    async with swarm(workdir) as (manager, fleet):
        for _ in range(runs):
            took, answer = await join_until_ready(manager, fleet, 1, 1, 0.005, 60)
            times.append(took * 1000)
            certified.append((answer["joined"] - answer["began"]) * 1000)
    print("# join_to_ready_ms runs: " + ", ".join(f"{t:.0f}" for t in times))
    print(
        "# of which joining (root, CSR, certificate): " + ", ".join(f"{t:.0f}" for t in certified)
    )
    return statistics.median(times)


async def join_many(workdir: Path, runs: int, count: int) -> float:
    times = []
    for run in range(runs):
        async with swarm(workdir / f"run-{run}") as (manager, fleet):
            took, answer = await join_until_ready(manager, fleet, count, count, 0.1, 300)
            times.append(took)
            print(
                f"# {count} nodes: certificates after {answer['joined'] - answer['began']:.1f} s,"
                f" all Ready after {took:.1f} s"
            )
    print(f"# join_{count}_nodes_s runs: " + ", ".join(f"{t:.1f}" for t in times))
    return statistics.median(times)


async def idle_cpu(workdir: Path, count: int, at_once: int, settle: float, window: float) -> float:
    async with swarm(workdir) as (manager, fleet):
        took, _ = await join_until_ready(manager, fleet, count, at_once, 0.5, 900)
        print(f"# {count} nodes Ready after {took:.1f} s ({at_once} joining at a time)")
        await asyncio.sleep(settle)
        manager_before, fleet_before = manager.cpu_seconds(), fleet.cpu_seconds()
        began = time.monotonic()
        await asyncio.sleep(window)
        seconds = time.monotonic() - began
        manager_pct = (manager.cpu_seconds() - manager_before) / seconds * 100
        fleet_pct = (fleet.cpu_seconds() - fleet_before) / seconds * 100
        states = await manager.states()
        print(f"# over {seconds:.0f} s: the fleet used {fleet_pct:.1f} % of a core")
        if states["ready"] != count + 1:
            print(f"# only {states['ready'] - 1} of {count} nodes were Ready after the window")
        if states.total() > states["ready"]:
            others = ", ".join(f"{n} {state}" for state, n in states.items() if state != "ready")
            print(f"# nodes not Ready (joins given up after being admitted?): {others}")
        if fleet_pct > 80:
            print("# the fleet was near a core: its heartbeats may have come late")
    return manager_pct


CASES = ("one", "many", "idle")


async def run(args: argparse.Namespace, workdir: Path) -> None:
    if "one" in args.cases:
        ready_ms = await join_to_ready(workdir / "one", args.runs)
        print(f"BENCH join_to_ready_ms {ready_ms:.0f}", flush=True)
    if "many" in args.cases:
        many = await join_many(workdir / "many", args.runs_100, args.nodes_at_once)
        print(f"BENCH join_{args.nodes_at_once}_nodes_s {many:.1f}", flush=True)
    if "idle" in args.cases:
        idle = await idle_cpu(
            workdir / "idle", args.nodes_idle, args.at_once, args.settle, args.window
        )
        print(f"BENCH manager_idle_cpu_pct_{args.nodes_idle}_nodes {idle:.1f}", flush=True)


# Plumbing.


def cpu_seconds(pid: int) -> float:
    """CPU time the process ``pid`` has used (all its threads, user and system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    utime, stime = int(fields[11]), int(fields[12])  # the 14th and 15th fields
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with sockets.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def raise_open_files(needed: int) -> None:
    """Raises this process's soft limit of open files to ``needed`` (its children inherit it),
    and the hard limit too if that is lower and this process may."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
        except (ValueError, OSError):
            sys.exit(f"join: needs {needed} open files; the hard limit is {hard}")
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _tail(log: Path, lines: int = 20) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="of " + ", ".join(CASES))
    parser.add_argument("--runs", type=int, default=5, help="single joins, for the median")
    parser.add_argument("--runs-100", type=int, default=3, help="runs of 100 joins at once")
    parser.add_argument("--nodes-at-once", type=int, default=100, help="nodes that join at once")
    parser.add_argument("--nodes-idle", type=int, default=1000, help="nodes for the idle CPU")
    parser.add_argument("--at-once", type=int, default=100, help="of those, joining at a time")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds before the window")
    parser.add_argument("--window", type=float, default=30.0, help="seconds the CPU is read")
    parser.add_argument(
        "--quick", action="store_true", help="3 single joins, one run of 100, 200 idle nodes"
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and data folders")
    parser.add_argument(
        "--fleet", nargs=3, metavar=("ADDR", "TOKEN", "DIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.fleet:
        logging.basicConfig(
            level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        addr, token, folder = args.fleet
        asyncio.run(serve_fleet(addr, token, Path(folder)))
        return
    args.cases = [case for case in args.cases.split(",") if case]
    unknown = set(args.cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case {sorted(unknown)[0]}; the cases are {', '.join(CASES)}")
    if args.quick:
        args.runs, args.runs_100, args.nodes_idle = 3, 1, 200
    raise_open_files(FILES_PER_NODE * max(args.nodes_idle, args.nodes_at_once) + FILES_SPARE)
    workdir = Path(tempfile.mkdtemp(prefix="swarmdeck-join-"))
    try:
        asyncio.run(run(args, workdir))
    finally:
        if args.keep:
            print(f"# logs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
