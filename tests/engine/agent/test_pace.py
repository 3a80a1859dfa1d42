"""The line at the event loop: at most ``per_turn`` callers go on per turn, in the order they
came, and one that stops while in line takes no one's place."""

from __future__ import annotations

import asyncio

from engine.agent.pace import Pace


async def test_callers_go_on_a_few_per_turn_in_the_order_they_came() -> None:
    pace = Pace(per_turn=3)
    turns: list[int] = []
    turn = 0

    async def caller() -> None:
        await pace.turn()
        turns.append(turn)

    callers = [asyncio.create_task(caller()) for _ in range(8)]
    while not all(c.done() for c in callers):
        await asyncio.sleep(0)
        turn += 1
    assert [turns.count(t) for t in sorted(set(turns))] == [3, 3, 2]
    assert turns == sorted(turns)


async def test_a_caller_stopped_in_line_takes_no_place() -> None:
    pace = Pace(per_turn=1)
    went: list[str] = []

    async def caller(name: str) -> None:
        await pace.turn()
        went.append(name)

    first = asyncio.create_task(caller("first"))
    stopped = asyncio.create_task(caller("stopped"))
    last = asyncio.create_task(caller("last"))
    await asyncio.sleep(0)  # all three called: the first went on, two wait
    stopped.cancel()
    await asyncio.gather(first, last)
    assert went == ["first", "last"]
    assert stopped.cancelled()


async def test_callers_go_on_without_waiting_while_the_turn_has_room() -> None:
    pace = Pace(per_turn=2)
    waited = []
    for _ in range(3):
        step = pace.turn()
        try:
            step.send(None)  # runs it until it waits, if it does
        except StopIteration:
            waited.append(False)
        else:
            waited.append(True)
            step.close()
    assert waited == [False, False, True]
