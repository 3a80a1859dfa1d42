"""The rotation over a service's backends, and the counts of the last minute."""

from __future__ import annotations

import pytest

from engine.mesh.pool import Backend, BackendPool


def make(*keys: str) -> list[Backend]:
    return [Backend(key, f"10.0.0.{n}", 80) for n, key in enumerate(keys, start=2)]


def picks(pool: BackendPool, count: int) -> list[str]:
    chosen = []
    for _ in range(count):
        backend = pool.pick()
        assert backend is not None
        chosen.append(backend.key)
    return chosen


def test_the_rotation_goes_on_after_the_last_pick_when_the_set_changes() -> None:
    a, b, c, d = make("a", "b", "c", "d")
    pool = BackendPool([a, b, c])
    assert picks(pool, 2) == ["a", "b"]
    pool.set_backends([a, b, c, d])  # scaled up: c is next, as it was
    assert picks(pool, 4) == ["c", "d", "a", "b"]
    pool.set_backends([a, c, d])  # b stopped right after it was picked
    assert picks(pool, 3) == ["c", "d", "a"]
    pool.set_backends([d])
    assert picks(pool, 2) == ["d", "d"]


def test_a_pick_skips_what_was_tried_and_an_empty_pool_gives_none() -> None:
    a, b, c = make("a", "b", "c")
    pool = BackendPool([a, b, c])
    assert pool.pick(exclude=[a]) == b
    assert pool.pick(exclude=[a, b, c]) is None
    pool.set_backends([])
    assert pool.pick() is None


def test_membership_follows_the_current_set() -> None:
    a, b = make("a", "b")
    pool = BackendPool([a, b])
    assert a in pool
    pool.set_backends([b])
    assert a not in pool
    assert b in pool


def test_tuples_are_backends_and_duplicates_count_once() -> None:
    pool = BackendPool([("a", "10.0.0.2", 80), ("a", "10.0.0.2", 80), ("b", "fd00::3", 8080)])
    assert pool.backends == (Backend("a", "10.0.0.2", 80), Backend("b", "fd00::3", 8080))


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        (("a", "web", 80), "the host must be an IP address"),
        (("a", "10.0.0.2", 0), "the port must be within 1-65535"),
        (("a", "10.0.0.2", 65536), "the port must be within 1-65535"),
        (("a", "10.0.0.2", "80"), "the port must be within 1-65535"),
        (("", "10.0.0.2", 80), "the key must be a non-empty string"),
        (("a", "10.0.0.2"), "want \\(key, host, port\\)"),
    ],
)
def test_a_bad_backend_is_refused_and_changes_nothing(backend: object, reason: str) -> None:
    pool = BackendPool(make("a"))
    with pytest.raises(ValueError, match=reason):
        pool.set_backends([*make("b"), backend])  # type: ignore[list-item]
    assert [b.key for b in pool.backends] == ["a"]


def test_connections_are_counted_over_the_last_minute_only() -> None:
    now = [1000.0]
    a, b = make("a", "b")
    pool = BackendPool([a, b], clock=lambda: now[0])
    for _ in range(3):
        pool.record(a)
    now[0] += 30
    pool.record(b)
    assert pool.connections_last_minute() == {"a": 3, "b": 1}
    now[0] += 30  # a's connections are a minute old now
    assert pool.connections_last_minute() == {"b": 1}
    now[0] += 3600
    assert pool.connections_last_minute() == {}


def test_the_counts_keep_at_most_a_minute_of_buckets() -> None:
    now = [0.0]
    (a,) = make("a")
    pool = BackendPool([a], clock=lambda: now[0])
    for _ in range(10_000):
        now[0] += 0.5
        pool.record(a)
    assert pool.connections_last_minute() == {"a": 119}  # two a second, the last 60 s
    assert len(pool._buckets) <= 60
