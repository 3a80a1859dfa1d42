"""The dirty set every control loop keeps: items come out in the order they came in, each once,
a batch at a time."""

from __future__ import annotations

from engine.manager.loop import Dirty


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
