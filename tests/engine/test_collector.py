"""The served engine's collector policy: survivors are frozen out of the collector's walks, and
everything is thawed and collected now and then, so that no garbage cycle is kept for good."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import Iterator

import pytest

from engine import collector


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


async def run_for(rounds: int) -> None:
    task = asyncio.create_task(collector.keep_collections_short())
    await asyncio.sleep(collector.FREEZE_EVERY * (rounds + 0.5))
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_what_survives_is_frozen_out_of_the_collectors_walks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collector, "FREEZE_EVERY", 0.01)
    survivor = [object() for _ in range(1000)]
    assert gc.get_freeze_count() == 0
    await run_for(2)
    assert gc.get_freeze_count() >= len(survivor)
    assert not any(obj is survivor for obj in gc.get_objects())  # no longer walked


async def test_a_frozen_cycle_let_go_is_collected_once_thawed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collector, "FREEZE_EVERY", 0.01)
    cycle = Cycle()
    gone = weakref.ref(cycle)
    await run_for(1)  # frozen with the rest
    del cycle
    await run_for(2)
    assert gone() is not None  # the walks of what is newer never find it
    monkeypatch.setattr(collector, "THAW_EVERY", 0.0)
    await run_for(1)
    assert gone() is None


async def test_a_young_cycle_let_go_is_collected_before_the_freeze(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collector, "FREEZE_EVERY", 0.01)
    gc.disable()  # only the collector's own collections run
    try:
        cycle = Cycle()
        gone = weakref.ref(cycle)
        del cycle
        await run_for(1)
    finally:
        gc.enable()
    assert gone() is None


class Cycle:
    def __init__(self) -> None:
        self.me = self
