# ruff: noqa: E402
"""Turns: what the served engine's event loop does in its long turns, and which turns a slow
``/_ping`` waited through.

A ping waits for the turn under way when it comes, then for the turns that read it, start its
request and answer it (three with aiohttp on Python 3.11): its wait is the length of a few
turns, so a turn has to stay short for every ping to be quick.

``python benchmarks/turns.py --out FILE [--limit-ms N] serve ...`` runs ``engine serve ...``
with its event loop watched: each turn whose work (the turn, less its wait in ``select``)
passes ``--limit-ms`` is written to FILE, one line with when it began (seconds since the epoch),
its work, its CPU time, its wait for a core (``runq``, from the kernel's schedstat), its
callbacks and the garbage collections inside it; then the callbacks that took most of it,
grouped by coroutine. A turn whose work took much longer than its CPU time and its wait for a
core waited for the GIL. ``benchmarks/stall.py --turns DIR`` runs the engine so, and has its
pinger write every slow ping to ``DIR/pings.txt``.

``python benchmarks/turns.py --report DIR`` then lists the slowest pings, each with the turns
it waited through.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/console.py is named like the console package; keep this folder from shadowing it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

import argparse
import asyncio
import asyncio.base_events
import gc
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, TextIO

SHOWN = 6  # callbacks shown per long turn, the longest first


@dataclass
class _Turn:
    """What the turn under way has done so far."""

    waited: float = 0.0  # seconds in select
    collected: float = 0.0  # seconds in garbage collections
    collections: list[str] = field(default_factory=list)
    # Calls and seconds, by what ran (a task, or a callback): named only if the turn is written.
    callbacks: defaultdict[Any, list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0.0])
    )


def _run_delay() -> int:
    """Nanoseconds this thread has waited for a core so far."""
    with open("/proc/thread-self/schedstat", "rb") as stat:
        return int(stat.read().split()[1])


def _runner(handle: asyncio.Handle) -> Any:
    """What a handle runs: the task it steps, else its callback."""
    callback: Any = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    return owner if isinstance(owner, asyncio.Task) else callback


def _name(runner: Any) -> str:
    if isinstance(runner, asyncio.Task):
        coroutine = runner.get_coro()
        name = getattr(coroutine, "__qualname__", repr(coroutine))
        # A method shared by subclasses (ControlLoop.run) is named by the subclass running it.
        frame = getattr(coroutine, "cr_frame", None)
        this = frame.f_locals.get("self") if frame is not None else None
        if this is not None and "." in name:
            name = f"{type(this).__name__}.{name.rsplit('.', 1)[1]}"
        return "task " + name
    return str(getattr(runner, "__qualname__", repr(runner)))[:80]


def watch_turns(out: TextIO, limit: float) -> None:
    """Writes each turn of every event loop whose work passes ``limit`` seconds to ``out``."""
    turn: list[_Turn | None] = [None]
    collection_began = [0.0]

    def collected(phase: str, info: dict[str, int]) -> None:
        current = turn[0]
        if phase == "start":
            collection_began[0] = time.perf_counter()
        elif current is not None:
            took = time.perf_counter() - collection_began[0]
            current.collected += took
            if took > 0.002:
                current.collections.append(f"gen{info['generation']}:{took * 1000:.0f}ms")

    gc.callbacks.append(collected)
    run_handle = asyncio.Handle._run

    def timed_handle(handle: asyncio.Handle) -> None:
        began = time.perf_counter()
        try:
            run_handle(handle)
        finally:
            current = turn[0]
            if current is not None:
                spent = current.callbacks[_runner(handle)]
                spent[0] += 1
                spent[1] += time.perf_counter() - began

    run_once = asyncio.base_events.BaseEventLoop._run_once  # type: ignore[attr-defined]

    def timed_turn(loop: asyncio.base_events.BaseEventLoop) -> None:
        selector: Any = getattr(loop, "_selector", None)
        if selector is not None and not hasattr(selector, "timed"):
            select = selector.select

            def timed_select(timeout: float | None = None) -> Any:
                began = time.perf_counter()
                try:
                    return select(timeout)
                finally:
                    if turn[0] is not None:
                        turn[0].waited += time.perf_counter() - began

            selector.select, selector.timed = timed_select, True
        current = turn[0] = _Turn()
        wall, began, cpu, delay = time.time(), time.perf_counter(), time.thread_time(), _run_delay()
        try:
            run_once(loop)
        finally:
            turn[0] = None
            work = time.perf_counter() - began - current.waited
            if work > limit:
                _write_turn(out, current, wall, work, time.thread_time() - cpu, delay)

    setattr(asyncio.Handle, "_run", timed_handle)  # noqa: B010  (mypy: a method assigned)
    setattr(asyncio.base_events.BaseEventLoop, "_run_once", timed_turn)  # noqa: B010


def _write_turn(
    out: TextIO, turn: _Turn, wall: float, work: float, cpu: float, delay_before: int
) -> None:
    delay = (_run_delay() - delay_before) / 1e9
    named: defaultdict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for runner, (calls, seconds) in turn.callbacks.items():
        spent = named[_name(runner)]
        spent[0] += calls
        spent[1] += seconds
    count = sum(int(spent[0]) for spent in named.values())
    out.write(
        f"{wall:.3f} TURN work {work * 1000:.1f} ms cpu {cpu * 1000:.1f} runq "
        f"{delay * 1000:.1f} callbacks {count} gc {turn.collected * 1000:.1f} "
        f"{' '.join(turn.collections)}\n"
    )
    longest = sorted(named.items(), key=lambda item: -item[1][1])[:SHOWN]
    for name, (calls, seconds) in longest:
        out.write(f"    {seconds * 1000:7.1f} ms {int(calls):6d}x {name}\n")
    out.flush()


# The report.


@dataclass
class _Logged:
    began: float
    work_ms: float
    lines: list[str]


def _read_turns(path: Path) -> list[_Logged]:
    turns: list[_Logged] = []
    for line in path.read_text().splitlines():
        words = line.split()
        if len(words) > 3 and words[1] == "TURN":
            turns.append(_Logged(float(words[0]), float(words[3]), [line]))
        elif turns and line.startswith("    "):
            turns[-1].lines.append(line)
    return turns


def report(folder: Path, slowest: int) -> None:
    """Prints the ``slowest`` pings written in ``folder``, each with the turns it waited
    through."""
    turns = _read_turns(folder / "turns.txt")
    pings = [tuple(map(float, line.split())) for line in (folder / "pings.txt").open()]
    for sent, took in sorted(pings, key=lambda ping: -ping[1])[:slowest]:
        print(f"ping sent at {sent:.3f}, answered after {took:.1f} ms, waited through:")
        for logged in turns:
            if logged.began + logged.work_ms / 1000 >= sent and logged.began <= sent + took / 1000:
                print(
                    f"  +{(logged.began - sent) * 1000:6.1f} ms " + logged.lines[0].split(" ", 1)[1]
                )
                for line in logged.lines[1:4]:
                    print("      " + line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where the long turns are written")
    parser.add_argument("--limit-ms", type=float, default=10.0, help="the turns written")
    parser.add_argument("--report", type=Path, metavar="DIR", help="a --turns folder to report")
    parser.add_argument("--slowest", type=int, default=5, help="pings reported")
    args, serve = parser.parse_known_args()
    if args.report is not None:
        report(args.report, args.slowest)
        return
    if args.out is None or serve[:1] != ["serve"]:
        parser.error("give --out FILE and then serve and its options, or --report DIR")
    from engine.__main__ import on_the_system_allocator
    from engine.cli import main as engine_main

    on_the_system_allocator([__file__, *sys.argv[1:]])  # as a served engine runs
    watch_turns(args.out.open("w"), args.limit_ms / 1000)
    sys.exit(engine_main(serve))


if __name__ == "__main__":
    main()
