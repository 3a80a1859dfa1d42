"""Durations and timestamps as Go writes them; the fake clock fires timers in order."""

from __future__ import annotations

import asyncio

import pytest

from engine.api.durations import (
    format_duration,
    format_timestamp,
    human_duration,
    human_duration_until,
    parse_duration,
    parse_timestamp,
)
from engine.clock import FAKE_EPOCH, FakeClock, SystemClock


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("5s", 5_000_000_000),
        ("1m30s", 90_000_000_000),
        ("500ms", 500_000_000),
        ("1.5h", 5_400_000_000_000),
        ("-2s", -2_000_000_000),
        ("10us", 10_000),
    ],
)
def test_go_durations_parse(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["", "5", "5x", "s", "1m30", "--1s"])
def test_malformed_durations_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_durations_format_like_go() -> None:
    assert [format_duration(n) for n in (0, 5 * 10**9, 90 * 10**9, 5 * 10**8, 3723 * 10**9)] == [
        "0s",
        "5s",
        "1m30s",
        "500ms",
        "1h2m3s",
    ]


def test_a_human_duration_holds_until_the_time_said_and_changes_there() -> None:
    """Checked every tenth of a second for two minutes, then at each change it names, up to
    three days: the text is the same until just before that change, and (below two days, where
    each change it names is a real one) different at it."""
    seconds = 0.0
    while seconds < 3 * 86400:
        text, changes = human_duration_until(seconds)
        assert text == human_duration(seconds)
        assert changes > seconds
        assert human_duration(changes - 1e-6) == text, seconds
        if changes < 2 * 86400:
            assert human_duration(changes) != text, seconds
        seconds = seconds + 0.1 if seconds < 120 else changes


def test_timestamps_round_trip_with_nanoseconds() -> None:
    stamp = "2016-06-07T21:07:29.962229872Z"
    assert format_timestamp(parse_timestamp(stamp))[:26] == stamp[:26]
    assert format_timestamp(FAKE_EPOCH) == "2026-01-01T00:00:00Z"


async def test_the_fake_clock_fires_timers_in_order_and_only_when_advanced() -> None:
    clock = FakeClock()
    fired: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        fired.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 2.0), ("a", 1.0), ("c", 5.0))]
    await clock.advance(0.5)
    assert fired == []
    await clock.advance(2.0)
    assert fired == [("a", 1.0), ("b", 2.0)]
    took = await clock.run_until(lambda: len(fired) == 3)
    assert fired[-1] == ("c", 5.0)
    assert took == pytest.approx(2.5)
    await asyncio.gather(*tasks)


async def test_run_until_gives_up_after_the_timeout() -> None:
    clock = FakeClock()
    with pytest.raises(TimeoutError, match="never not reached after 10"):
        await clock.run_until(lambda: False, timeout=10, what="never")
    assert clock.monotonic() == pytest.approx(10)


async def test_a_wait_cancelled_as_its_event_comes_is_cancelled() -> None:
    """A stop that comes as the awaited event is set still stops the waiter (Python 3.11's
    wait_for returned the event instead, and an engine stopped then never finished)."""
    event = asyncio.Event()
    waiter = asyncio.create_task(SystemClock().wait_event(event, 10.0))
    await asyncio.sleep(0)
    event.set()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
