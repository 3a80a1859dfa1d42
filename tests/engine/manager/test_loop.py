"""The dirty set every control loop keeps: items come out in the order they came in, each once,
a batch at a time. The loops take their steps in one line: one a turn while turns are long."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import cast

from engine.api.events import Event
from engine.clock import Clock
from engine.manager.loop import ControlLoop, Dirty, loops_pace
from engine.pace import TURN, Pace
from engine.store import MemoryStore
from tests.engine.conftest import Watch


def test_items_come_out_in_the_order_they_came_in_each_once() -> None:
    dirty: Dirty[str] = Dirty()
    dirty.update(["c", "a", "b"])
    dirty.add("a")  # already there: keeps its place
    dirty.add("d")
    dirty.discard("b")
    assert "a" in dirty and "b" not in dirty
    assert dirty.take(2) == ["c", "a"]
    assert list(dirty) == ["d"]
    assert dirty.take(5) == ["d"]
    assert not dirty


class Busy(ControlLoop):
    """A loop that always has more to do; each tick notes the turn it ran in."""

    def __init__(self, store: MemoryStore, pace: Pace, turn: list[int]) -> None:
        self._store = store
        self._pace = pace
        self._turn = turn
        self.ticks: list[int] = []

    def _tick(self) -> None:
        self.ticks.append(self._turn[0])
        self._more = True

    def _handle(self, event: Event) -> None:
        pass


async def run_busy_loops(loops: int, each_turn: float, turns: int) -> list[list[int]]:
    """Runs ``loops`` busy loops in one line for ``turns`` turns of the event loop, each taking
    ``each_turn`` seconds; the turns each loop ticked in."""
    watch, turn = Watch(), [0]
    pace = loops_pace(cast(Clock, watch), loops)
    store = MemoryStore(now=lambda: 0.0)
    busy = [Busy(store, pace, turn) for _ in range(loops)]
    running = [asyncio.create_task(loop.run()) for loop in busy]
    for _ in range(turns):
        await asyncio.sleep(0)
        turn[0] += 1
        watch.now += each_turn
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    return [loop.ticks for loop in busy]


async def test_busy_loops_tick_one_a_turn_while_turns_are_long() -> None:
    ticks = await run_busy_loops(3, 2 * TURN, 60)
    per_turn = Counter(turn for loop in ticks for turn in loop)
    assert max(count for turn, count in per_turn.items() if turn > 5) == 1
    assert all(len(loop) >= 15 for loop in ticks)  # in turn: none waits for good


async def test_busy_loops_each_tick_every_turn_while_turns_are_short() -> None:
    ticks = await run_busy_loops(3, 0.0, 60)
    per_turn = Counter(turn for loop in ticks for turn in loop)
    assert [per_turn[turn] for turn in range(10, 50)] == [3] * 40
