"""The line at the event loop: callers go on a few per turn, in the order they came; more per
turn while turns are short, half as many after a long one; one that stops while in line takes
no one's place."""

from __future__ import annotations

import asyncio

from engine.pace import FEWEST, TURN, Pace
from tests.engine.conftest import Watch, pace_on


async def run_turns(pace: Pace, callers: int, each_turn: float, watch: Watch) -> list[int]:
    """Starts ``callers`` callers at once; how many went on in each turn of the loop, each
    turn taking ``each_turn`` seconds."""
    went: list[int] = []
    turn = 0

    async def caller() -> None:
        await pace.turn()
        went.append(turn)

    tasks = [asyncio.create_task(caller()) for _ in range(callers)]
    while not all(task.done() for task in tasks):
        await asyncio.sleep(0)
        turn += 1
        watch.now += each_turn
    assert went == sorted(went)  # in the order they came
    return [went.count(t) for t in sorted(set(went))]


async def test_short_turns_let_more_through_each_turn() -> None:
    watch = Watch()
    counts = await run_turns(pace_on(watch), 100, 0.0, watch)
    assert counts == [FEWEST, FEWEST, 2 * FEWEST, 3 * FEWEST, 100 - 7 * FEWEST]


async def test_long_turns_let_fewer_through_down_to_the_fewest() -> None:
    watch = Watch()
    pace = pace_on(watch)
    await run_turns(pace, 400, 0.0, watch)
    grown = pace.per_turn
    assert grown == 100
    counts = await run_turns(pace, 400, 2 * TURN, watch)
    # The first turn of a busy spell is measured from the second on.
    assert counts[:7] == [100, 100, 50, 25, 12, FEWEST, FEWEST]


async def test_a_caller_stopped_in_line_takes_no_place() -> None:
    pace = pace_on(Watch())
    went: list[int] = []

    async def caller(number: int) -> None:
        await pace.turn()
        went.append(number)

    callers = [asyncio.create_task(caller(n)) for n in range(FEWEST + 2)]
    await asyncio.sleep(0)  # all called: FEWEST went on, two wait
    callers[FEWEST].cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    assert went == [*range(FEWEST), FEWEST + 1]
    assert callers[FEWEST].cancelled()


async def test_callers_go_on_without_waiting_while_the_turn_has_room() -> None:
    pace = pace_on(Watch())
    waited = [not pace.turn().done() for _ in range(FEWEST + 1)]
    assert waited == [False] * FEWEST + [True]
