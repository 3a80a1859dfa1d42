"""Crash soak: kill the engine in the middle of writes, round after round; no acknowledged write
may be lost, and the restarted engine must converge.

One ``swarmdeck engine serve`` (three simulated nodes) keeps its cluster in a data directory that
lives on from round to round. Each round, ``--writers`` clients create services (0-3 replicas),
update them (scale, image or labels, on the version they inspected) and remove some, for a
random 0.2-1.5 s, until the engine is killed in the middle of their requests: SIGKILL, or, every
fourth round, SIGTERM, after which it must exit 0. A write is acknowledged when its 2xx answer
arrived in full. The store is then read offline (``SqlitePersistence``), and must hold:

- every service whose create was acknowledged, unless a remove of it may have happened;
- none whose remove was acknowledged (nor any seen deleted before);
- for each service, a version past every acknowledged update's, and the spec of its newest
  acknowledged write or of a later one (each write labels its spec with its own ID).

Then the engine starts again and must converge within 60 s: each service has exactly its
replicas meant to run, all running its current image; no task of a removed service is left; no
task waits at desired state ``ready``. The restarted engine is the next round's.

    python benchmarks/crash_soak.py [--rounds 200] [--writers 4] [--seed N] [--workdir DIR]

Exits 1 when a write was lost, a round did not converge or a SIGTERM did not stop the engine
cleanly; the work directory is then kept, with ``failed/round-N/`` (a copy of the data
directory, what was found) for each failed round and ``engine.log`` for the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from engine.api.objects import Service
from engine.serve import serve_command
from engine.store import MemoryStore, SqlitePersistence, by, find_services

ROOT = Path(__file__).resolve().parents[1]
WRITE_SECONDS = (0.2, 1.5)  # dozens of writes per writer, and still hundreds of rounds an hour
SIGTERM_EVERY = 4  # every fourth round ends in SIGTERM, the others in SIGKILL
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
CONVERGE_TIMEOUT = 60.0  # first pulls take 1-3 s a node; rolling updates go one task at a time
POLL_PERIOD = 0.25
REQUEST_TIMEOUT = 10.0  # an answer slower than this is not waited for (nor acknowledged)
MAX_REPLICAS = 3
SERVICE_CAP = 20  # no creates above this many services, so each convergence stays short
IMAGES = ("nginx:1.10", "nginx:1.11", "redis:7")
COLOURS = ("red", "green", "blue")
WRITE_LABEL = "soak.write"  # every spec names the write that sent it
COLOUR_LABEL = "soak.colour"  # what a label change changes
LOG_TAIL = 30  # lines of engine log shown for a failed round


class EngineFailed(Exception):
    """The engine did not start; the soak cannot go on."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Write:
    """An acknowledged create or update: the service's version must be past ``base`` and its
    spec must come from a write made on ``base`` or later."""

    round: int
    write_id: str
    base: int  # the version the update was made on; 0 for a create

    def describe(self) -> str:
        what = "create" if self.base == 0 else f"update on version {self.base}"
        return f"acknowledged {what} ({self.write_id}, round {self.round})"


@dataclass
class Promises:
    """What the acknowledged writes of one service promise."""

    name: str
    writes: list[Write] = field(default_factory=list)
    removed_in: int | None = None  # the round of an acknowledged remove
    remove_unanswered: bool = False  # a remove whose answer never came: it may have happened
    gone: bool = False  # seen deleted in the store: it can never come back

    @property
    def live(self) -> bool:
        return not (self.gone or self.remove_unanswered or self.removed_in is not None)


class Ledger:
    """Every service of the soak: what was sent to it, and what acknowledged writes promise."""

    def __init__(self) -> None:
        self.services: dict[str, Promises] = {}
        self.bases: dict[str, int] = {}  # write ID -> the version it was made on, for every write
        self.acknowledged = 0

    def live(self) -> list[str]:
        return [service_id for service_id, p in self.services.items() if p.live]

    def acknowledge(self, service_id: str, write: Write, name: str = "") -> None:
        self.services.setdefault(service_id, Promises(name)).writes.append(write)
        self.acknowledged += 1

    def acknowledge_remove(self, service_id: str, round_number: int) -> None:
        self.services[service_id].removed_in = round_number
        self.acknowledged += 1

    def check(self, stored: dict[str, Service]) -> list[str]:
        """The promises ``stored`` (the services read offline) breaks, one line per lost write.

        A broken promise is then settled to what the store holds, so it is reported once; a
        kept one shrinks to the newest write, which implies the others.
        """
        lost = []
        for service_id, promises in self.services.items():
            service = stored.get(service_id)
            name = promises.name
            if promises.removed_in is not None or promises.gone:
                if service is not None:
                    how = "seen deleted" if promises.gone else f"round {promises.removed_in}"
                    lost.append(f"{name}: removed ({how}) but the store holds it")
                    self.services[service_id] = Promises(name)
            elif service is None:
                if not promises.remove_unanswered:
                    lost += [
                        f"{name}: {w.describe()} lost: not in the store" for w in promises.writes
                    ]
                promises.gone = True
            else:
                promises.remove_unanswered = False  # it did not happen
                version = service.version.index
                spec_write = (service.spec.labels or {}).get(WRITE_LABEL, "")
                spec_base = self.bases.get(spec_write, -1)
                broken = [w for w in promises.writes if version <= w.base or spec_base < w.base]
                lost += [
                    f"{name}: {w.describe()} lost: the store holds version {version}, with the "
                    f"spec of {spec_write or 'no write of ours'} (made on version {spec_base})"
                    for w in broken
                ]
                kept = [w for w in promises.writes if w not in broken]
                promises.writes = [max(kept, key=lambda w: w.base)] if kept else []
        for service_id, service in stored.items():
            self.services.setdefault(service_id, Promises(service.spec.name or service_id))
        return lost


class Engine:
    """``swarmdeck engine serve`` on the soak's data directory, started again after each kill;
    its stderr goes to one log for the whole run."""

    def __init__(self, workdir: Path) -> None:
        self.socket = workdir / "engine.sock"
        self.data_dir = workdir / "data"
        self.log = workdir / "engine.log"
        self._process: subprocess.Popen[bytes] | None = None

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=str(self.socket)),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )

    async def start(self, heading: str) -> None:
        """Starts the engine and returns once it answers ``/_ping``.

        Raises:
            EngineFailed: it exited, or did not answer within START_TIMEOUT.
        """
        with self.log.open("ab") as log:
            log.write(f"----- {heading}\n".encode())
            log.flush()
            process = subprocess.Popen(
                serve_command(self.socket, self.data_dir),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self._process = process
        deadline = time.monotonic() + START_TIMEOUT
        while not await self._answers_ping():
            if process.poll() is not None:
                raise EngineFailed(f"{heading}: the engine exited {process.returncode}")
            if time.monotonic() > deadline:
                raise EngineFailed(f"{heading}: no answer to /_ping in {START_TIMEOUT:.0f} s")
            await asyncio.sleep(0.05)

    async def _answers_ping(self) -> bool:
        async with self.session() as session:
            answer = await call(session, "GET", "/_ping")
        return answer is not None and answer.ok

    async def stop(self, signum: signal.Signals) -> str:
        """Sends ``signum`` and waits for the engine to exit; returns what went wrong, if
        anything: after SIGTERM, an exit code other than 0, or no exit within STOP_TIMEOUT
        (the engine is then killed)."""
        assert self._process is not None
        self._process.send_signal(signum)
        try:
            exit_code = await asyncio.to_thread(self._process.wait, STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            await asyncio.to_thread(self._process.wait)
            return f"{signum.name}: still running {STOP_TIMEOUT:.0f} s later (killed)"
        if signum == signal.SIGTERM and exit_code != 0:
            return f"{signum.name}: the engine exited {exit_code}"
        return ""

    def kill_nowait(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-LOG_TAIL:])


async def call(
    session: aiohttp.ClientSession, method: str, path: str, body: object = None
) -> Answer | None:
    """The engine's answer, read in full; None when none arrived (the engine died first)."""
    try:
        async with session.request(method, f"http://docker/v1.41{path}", json=body) as response:
            data = await response.read()
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None
    try:
        return Answer(response.status, json.loads(data) if data else None)
    except ValueError:
        return Answer(response.status, data.decode(errors="replace"))


class Writer:
    """One client that creates, updates and removes services until ``stop`` is set, recording
    in the ledger what was sent and what was acknowledged."""

    def __init__(
        self,
        label: str,
        session: aiohttp.ClientSession,
        ledger: Ledger,
        rng: random.Random,
        stop: asyncio.Event,
        round_number: int,
    ) -> None:
        self._label = label
        self._session = session
        self._ledger = ledger
        self._rng = rng
        self._stop = stop
        self._round = round_number
        self._count = 0
        self.acknowledged = 0
        self.refused = 0  # answered, but not 2xx: conflicts, and services another writer removed
        self.unanswered_early = 0  # no answer although the engine was not being stopped

    async def run(self) -> None:
        while not self._stop.is_set():
            live = self._ledger.live()
            creating = 0.3 if len(live) < SERVICE_CAP else 0.0
            match self._rng.choices(("create", "update", "remove"), (creating, 0.55, 0.15))[0]:
                case "update" if live:
                    await self._update(self._rng.choice(live))
                case "remove" if live:
                    await self._remove(self._rng.choice(live))
                case _:
                    await self._create()

    async def _create(self) -> None:
        write_id = self._new_write(base=0)
        name = f"soak-{write_id}"
        spec = {
            "Name": name,
            "Labels": {WRITE_LABEL: write_id, COLOUR_LABEL: self._rng.choice(COLOURS)},
            "TaskTemplate": {"ContainerSpec": {"Image": self._rng.choice(IMAGES)}},
            "Mode": {"Replicated": {"Replicas": self._rng.randint(0, MAX_REPLICAS)}},
        }
        answer = await self._call("POST", "/services/create", spec)
        if answer is not None and answer.ok:
            self._ledger.acknowledge(answer.body["ID"], Write(self._round, write_id, 0), name)

    async def _update(self, service_id: str) -> None:
        inspected = await self._call("GET", f"/services/{service_id}")
        if inspected is None or not inspected.ok or self._stop.is_set():
            return
        version = inspected.body["Version"]["Index"]
        spec = inspected.body["Spec"]
        match self._rng.choice(("scale", "image", "labels")):
            case "scale":
                spec["Mode"] = {"Replicated": {"Replicas": self._rng.randint(0, MAX_REPLICAS)}}
            case "image":
                spec["TaskTemplate"]["ContainerSpec"]["Image"] = self._rng.choice(IMAGES)
            case _:
                spec.setdefault("Labels", {})[COLOUR_LABEL] = self._rng.choice(COLOURS)
        write_id = self._new_write(base=version)
        spec.setdefault("Labels", {})[WRITE_LABEL] = write_id
        answer = await self._call("POST", f"/services/{service_id}/update?version={version}", spec)
        if answer is not None and answer.ok:
            self._ledger.acknowledge(service_id, Write(self._round, write_id, version))

    async def _remove(self, service_id: str) -> None:
        answer = await self._call("DELETE", f"/services/{service_id}")
        if answer is None:
            self._ledger.services[service_id].remove_unanswered = True
        elif answer.ok:
            self._ledger.acknowledge_remove(service_id, self._round)

    def _new_write(self, base: int) -> str:
        self._count += 1
        write_id = f"r{self._round}-{self._label}-{self._count}"
        self._ledger.bases[write_id] = base
        return write_id

    async def _call(self, method: str, path: str, body: object = None) -> Answer | None:
        answer = await call(self._session, method, path, body)
        if answer is None and not self._stop.is_set():
            self.unanswered_early += 1
        elif answer is not None and method != "GET":
            if answer.ok:
                self.acknowledged += 1
            else:
                self.refused += 1
        return answer


def convergence_problems(services: list[Any], tasks: list[Any]) -> list[str]:
    """What keeps the cluster from being converged, in words; empty when it is."""
    problems = []
    names = {s["ID"]: s["Spec"]["Name"] for s in services}
    meant_to_run: dict[str, list[Any]] = {service_id: [] for service_id in names}
    for task in tasks:
        desired, state = task["DesiredState"], task["Status"]["State"]
        if task["ServiceID"] not in names:
            problems.append(
                f"task {task['ID']} of removed service {task['ServiceID']} is left "
                f"(desired {desired}, {state})"
            )
        elif desired == "ready":
            problems.append(f"task {task['ID']} of {names[task['ServiceID']]} waits at ready")
        elif desired == "running":
            meant_to_run[task["ServiceID"]].append(task)
    for service in services:
        spec = service["Spec"]
        replicas = spec["Mode"]["Replicated"].get("Replicas", 1)
        image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
        tasks = meant_to_run[service["ID"]]
        running = [t for t in tasks if t["Status"]["State"] == "running"]
        if len(tasks) != replicas or len(running) != replicas:
            problems.append(
                f"{spec['Name']}: {replicas} replicas, {len(tasks)} tasks meant to run, "
                f"{len(running)} running"
            )
        if any(t["Spec"]["ContainerSpec"]["Image"] != image for t in tasks):
            problems.append(f"{spec['Name']}: tasks meant to run without its image {image}")
    return problems


async def wait_converged(engine: Engine, started: float) -> tuple[float | None, list[str], Any]:
    """Seconds from ``started`` until the cluster converged, or None, what was still wrong and
    the services and tasks last listed, after CONVERGE_TIMEOUT."""
    async with engine.session() as session:
        while True:
            services = await call(session, "GET", "/services")
            tasks = await call(session, "GET", "/tasks")
            if services is None or tasks is None or not (services.ok and tasks.ok):
                problems, listed = ["no answer to GET /services or /tasks"], None
            else:
                problems = convergence_problems(services.body, tasks.body)
                listed = {"services": services.body, "tasks": tasks.body}
            if not problems:
                return time.monotonic() - started, [], listed
            if time.monotonic() - started > CONVERGE_TIMEOUT:
                return None, problems, listed
            await asyncio.sleep(POLL_PERIOD)


def read_offline(data_dir: Path) -> dict[str, Service]:
    """The services the dead engine's store holds."""
    store = MemoryStore(time.time, SqlitePersistence(data_dir))
    try:
        return {s.id: s for s in store.view(lambda tx: find_services(tx, by.all()))}
    finally:
        store.close()


def copy_store(data_dir: Path, copy: Path) -> None:
    """Copies the store of ``data_dir``, running engine or not, to a data directory of its own
    (``MemoryStore(time.time, SqlitePersistence(copy))`` reads it)."""
    copy.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(data_dir / "state.db")
    target = sqlite3.connect(copy / "state.db")
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


@dataclass
class Round:
    """What one round did and found."""

    number: int
    signum: signal.Signals
    seconds: float
    acknowledged: int = 0
    refused: int = 0
    unanswered_early: int = 0
    lost: list[str] = field(default_factory=list)
    stop_problem: str = ""
    restarted: bool = False
    converge_s: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.lost or self.stop_problem or self.converge_s is None)

    def summary(self) -> str:
        if not self.restarted:
            converged = "the engine did not start again"
        elif self.converge_s is None:
            converged = f"NOT converged in {CONVERGE_TIMEOUT:.0f} s"
        else:
            converged = f"converged in {self.converge_s:.1f} s"
        writes = f"{self.acknowledged} acknowledged, {self.refused} refused"
        if self.unanswered_early:
            writes += f", {self.unanswered_early} unanswered before the stop"
        stop = f", {self.stop_problem}" if self.stop_problem else ""
        return (
            f"round {self.number} ({self.signum.name} after {self.seconds:.2f} s): {writes}, "
            f"{len(self.lost)} lost{stop}; {converged}"
        )


async def soak_round(
    number: int, engine: Engine, ledger: Ledger, rng: random.Random, writers: int, workdir: Path
) -> Round:
    """One round on the running engine: writes until it is stopped, the offline check, the
    restart and its convergence. The restarted engine is left running, for the next round."""
    signum = signal.SIGTERM if number % SIGTERM_EVERY == 0 else signal.SIGKILL
    result = Round(number, signum, rng.uniform(*WRITE_SECONDS))
    evidence = workdir / "failed" / f"round-{number}"
    stop = asyncio.Event()
    async with engine.session() as session:
        team = [
            Writer(f"w{i}", session, ledger, random.Random(rng.getrandbits(64)), stop, number)
            for i in range(writers)
        ]
        running = [asyncio.create_task(writer.run()) for writer in team]
        await asyncio.sleep(result.seconds)
        stop.set()
        result.stop_problem = await engine.stop(signum)
        await asyncio.gather(*running)
    result.acknowledged = sum(writer.acknowledged for writer in team)
    result.refused = sum(writer.refused for writer in team)
    result.unanswered_early = sum(writer.unanswered_early for writer in team)
    result.lost = ledger.check(read_offline(engine.data_dir))
    if result.lost:
        copy_store(engine.data_dir, evidence / "data-after-kill")
    started = time.monotonic()
    try:
        await engine.start(f"round {number}: restart after {signum.name}")
    except EngineFailed as error:
        result.problems = [str(error)]
    else:
        result.restarted = True
        result.converge_s, result.problems, listed = await wait_converged(engine, started)
        if result.converge_s is None:
            evidence.mkdir(parents=True, exist_ok=True)
            (evidence / "listed.json").write_text(json.dumps(listed, indent=1))
            copy_store(engine.data_dir, evidence / "data-unconverged")
    if result.failed:
        evidence.mkdir(parents=True, exist_ok=True)
        findings = [result.summary(), *result.lost, *result.problems, "", engine.log_tail()]
        (evidence / "findings.txt").write_text("\n".join(findings) + "\n")
    return result


async def soak(rounds: int, writers: int, seed: int, workdir: Path) -> tuple[list[Round], int]:
    """Runs the rounds; returns what each found and how many writes were acknowledged.

    Raises:
        EngineFailed: the engine did not start the first time.
        asyncio.CancelledError: a SIGTERM ended the soak (the engine is killed first).
    """
    this = asyncio.current_task()
    assert this is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, this.cancel)
    rng = random.Random(seed)
    engine = Engine(workdir)
    ledger = Ledger()
    results: list[Round] = []
    try:
        await engine.start("round 1: first start")
        for number in range(1, rounds + 1):
            result = await soak_round(number, engine, ledger, rng, writers, workdir)
            results.append(result)
            print(f"# {result.summary()}", flush=True)
            for line in [*result.lost, *result.problems][:10]:
                print(f"#   {line}", flush=True)
            if not result.restarted:
                break
        else:
            if problem := await engine.stop(signal.SIGTERM):
                print(f"# the last stop: {problem}")
                results[-1].stop_problem = problem
    finally:
        engine.kill_nowait()
    return results, ledger.acknowledged


def report(results: list[Round], acknowledged: int) -> None:
    times = [r.converge_s for r in results if r.converge_s is not None]
    median = statistics.median(times) if times else float("nan")
    lost = sum(len(r.lost) for r in results)
    unconverged = len(results) - len(times)
    print(
        f"crash_soak: {len(results)} rounds, {acknowledged} acknowledged writes, {lost} lost, "
        f"{len(times)}/{len(results)} converged "
        f"(median {median:.1f} s, max {max(times, default=float('nan')):.1f} s)"
    )
    print(f"BENCH crash_soak_rounds {len(results)}")
    print(f"BENCH crash_soak_acknowledged_writes {acknowledged}")
    print(f"BENCH crash_soak_lost_writes {lost}")
    print(f"BENCH crash_soak_unconverged_rounds {unconverged}")
    print(f"BENCH crash_soak_converge_median_s {median:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=None, help="default: a new one, printed")
    parser.add_argument("--workdir", type=Path, help="kept afterwards (default: a temp dir)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="swarmdeck-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# seed {seed}, work directory {workdir}", flush=True)
    try:
        results, acknowledged = asyncio.run(soak(args.rounds, args.writers, seed, workdir))
    except EngineFailed as error:
        sys.exit(f"crash_soak: {error} (see {workdir / 'engine.log'})")
    except asyncio.CancelledError:
        sys.exit(f"crash_soak: stopped by SIGTERM; the work directory is kept: {workdir}")
    report(results, acknowledged)
    failed = [r for r in results if r.failed]
    for result in failed:
        print(f"crash_soak: FAILED {result.summary()}")
        print(f"crash_soak:   evidence in {workdir / 'failed' / f'round-{result.number}'}")
    if failed:
        print(f"crash_soak: the work directory is kept: {workdir} (engine.log: the whole run)")
        sys.exit(1)
    if args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
