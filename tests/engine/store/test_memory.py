"""The store: transactions, versions, optimistic concurrency, events after commit, watchers."""

from __future__ import annotations

import asyncio
import functools
import gc
import sys

import pytest
from msgspec.structs import replace

from engine.api.events import EventCommit, EventCreate, EventDelete, EventUpdate
from engine.api.objects import Service, Task
from engine.api.specs import ServiceSpec
from engine.api.types import TaskState
from engine.clock import FakeClock
from engine.errors import AlreadyExists, NotFound, SequenceConflict
from engine.store import (
    MemoryStore,
    ReadTx,
    WatchOverflow,
    by,
    create_service,
    create_task,
    find_tasks,
    get_service,
    update_service,
)
from engine.store.by import By


def make_store() -> MemoryStore:
    return MemoryStore(FakeClock().time)


def service(name: str = "web", service_id: str = "s1") -> Service:
    return Service(id=service_id, spec=ServiceSpec(name=name))


def task(task_id: str, service_id: str = "s1", slot: int = 1, node_id: str = "") -> Task:
    return Task(
        id=task_id,
        service_id=service_id,
        slot=slot,
        node_id=node_id,
        desired_state=TaskState.RUNNING,
    )


def test_each_commit_gets_the_next_version_index() -> None:
    store = make_store()
    created = store.update(lambda tx: create_service(tx, service()))
    assert created.version.index == 1 == store.version
    renamed = store.update(
        lambda tx: update_service(tx, replace(created, spec=ServiceSpec(name="web2")))
    )
    assert renamed.version.index == 2
    assert renamed.created_at == created.created_at
    assert store.view(lambda tx: get_service(tx, "s1")) == renamed


def test_a_write_with_a_stale_version_fails_and_changes_nothing() -> None:
    store = make_store()
    first = store.update(lambda tx: create_service(tx, service()))
    store.update(lambda tx: update_service(tx, replace(first, spec=ServiceSpec(name="a"))))
    with pytest.raises(SequenceConflict, match="update out of sequence"):
        store.update(lambda tx: update_service(tx, replace(first, spec=ServiceSpec(name="b"))))
    assert store.view(lambda tx: get_service(tx, "s1")).spec.name == "a"  # type: ignore[union-attr]
    assert store.version == 2


def test_a_failing_transaction_writes_nothing() -> None:
    store = make_store()

    def half(tx):  # type: ignore[no-untyped-def]
        create_service(tx, service())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.update(half)
    assert store.view(lambda tx: get_service(tx, "s1")) is None
    assert store.version == 0


def test_service_names_are_unique() -> None:
    store = make_store()
    store.update(lambda tx: create_service(tx, service("web", "s1")))
    with pytest.raises(AlreadyExists, match="name conflicts with an existing object"):
        store.update(lambda tx: create_service(tx, service("WEB", "s2")))


def test_updating_a_missing_object_is_not_found() -> None:
    store = make_store()
    with pytest.raises(NotFound):
        store.update(lambda tx: update_service(tx, service()))


def test_reads_in_a_transaction_see_its_own_writes() -> None:
    store = make_store()

    def write_then_read(tx):  # type: ignore[no-untyped-def]
        create_task(tx, task("t1"))
        create_task(tx, task("t2", slot=2))
        return sorted(t.id for t in find_tasks(tx, by.service_id("s1")))

    assert store.update(write_then_read) == ["t1", "t2"]
    assert [t.id for t in store.view(lambda tx: find_tasks(tx, by.slot("s1", 2)))] == ["t2"]


def test_indexes_follow_updates() -> None:
    store = make_store()
    store.update(lambda tx: create_task(tx, task("t1", node_id="n1")))
    moved = replace(store.view(lambda tx: tx.get(Task, "t1")), node_id="n2")  # type: ignore[type-var]
    store.update(lambda tx: tx.update(moved))
    assert store.view(lambda tx: find_tasks(tx, by.node_id("n1"))) == []
    assert [t.id for t in store.view(lambda tx: find_tasks(tx, by.node_id("n2")))] == ["t1"]


def test_a_table_emptied_by_a_big_removal_gives_its_room_back() -> None:
    store = make_store()
    tasks = [task(f"t{n}", slot=n, node_id=f"n{n % 2}") for n in range(10_000)]
    store.update(lambda tx: [create_task(tx, t) for t in tasks])
    table = store._tables[Task]
    objects = table.objects
    full = sys.getsizeof(table.objects) + sys.getsizeof(table.indexes["slot"])
    store.update(lambda tx: [tx.delete(Task, t.id) for t in tasks[1_000:]])
    assert table.objects is objects  # a tenth left: not copied yet, the copy costs what is left
    store.update(lambda tx: [tx.delete(Task, t.id) for t in tasks[500:1_000]])
    left = sys.getsizeof(table.objects) + sys.getsizeof(table.indexes["slot"])
    assert left * 8 < full  # a dict emptied in place would keep its size
    assert [t.id for t in store.view(lambda tx: find_tasks(tx, by.node_id("n1")))] == [
        f"t{n}" for n in range(1, 500, 2)
    ]
    assert [t.id for t in store.view(lambda tx: find_tasks(tx, by.slot("s1", 499)))] == ["t499"]
    store.update(lambda tx: create_task(tx, task("t10000", slot=10_000, node_id="n0")))
    assert len(store.view(lambda tx: find_tasks(tx, by.service_id("s1")))) == 501


def test_ids_are_read_in_order_into_what_the_garbage_collector_does_not_walk() -> None:
    store = make_store()
    tasks = [task(f"t{n}", slot=n, node_id=f"n{n % 2}") for n in range(1_000)]
    store.update(lambda tx: [create_task(tx, t) for t in tasks])
    selectors = (by.all(), by.service_id("s1"), by.node_id("n1"), by.service_id("gone"))
    found = [store.view(functools.partial(ids_of, selector=s)) for s in selectors]
    assert [list(ids) for ids in found] == [
        [t.id for t in tasks],
        [t.id for t in tasks],
        [t.id for t in tasks if t.node_id == "n1"],
        [],
    ]
    assert not any(gc.is_tracked(ids) for ids in found)
    store.update(lambda tx: tx.delete(Task, "t1"))  # what was read is the reader's own
    assert "t1" in found[1] and "t1" in found[2]


def ids_of(tx: ReadTx, selector: By) -> dict[str, None]:
    return tx.ids(Task, selector)


async def test_watchers_get_events_after_commit_then_a_commit_event() -> None:
    store = make_store()
    watcher = store.watch()
    store.update(lambda tx: create_service(tx, service()))
    created = store.view(lambda tx: get_service(tx, "s1"))
    assert created is not None
    store.update(lambda tx: update_service(tx, replace(created, spec=ServiceSpec(name="x"))))
    store.update(lambda tx: tx.delete(Service, "s1"))
    events = watcher.get_nowait()
    kinds = [type(event) for event in events]
    assert kinds == [EventCreate, EventCommit, EventUpdate, EventCommit, EventDelete, EventCommit]
    update = events[2]
    assert isinstance(update, EventUpdate)
    assert update.old.spec.name == "web" and update.obj.spec.name == "x"  # type: ignore[attr-defined]
    assert [e.version for e in events if isinstance(e, EventCommit)] == [1, 2, 3]


async def test_a_failed_transaction_publishes_nothing() -> None:
    store = make_store()
    watcher = store.watch()
    store.update(lambda tx: create_service(tx, service()))
    with pytest.raises(AlreadyExists):
        store.update(lambda tx: create_service(tx, service("web", "s2")))
    assert [type(e) for e in watcher.get_nowait()] == [EventCreate, EventCommit]


async def test_a_bounded_watcher_that_falls_behind_is_closed() -> None:
    store = make_store()
    watcher = store.watch(limit=2)
    for index in range(3):
        store.update(lambda tx, i=index: create_task(tx, task(f"t{i}")))
    with pytest.raises(WatchOverflow):
        async for _ in watcher:
            pass


async def test_async_iteration_waits_for_commits() -> None:
    store = make_store()
    watcher = store.watch(accepts=lambda event: isinstance(event, EventCreate))
    received: list[str] = []

    async def consume() -> None:
        async for event in watcher:
            received.append(event.obj.id)  # type: ignore[union-attr]
            if len(received) == 2:
                return

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    store.update(lambda tx: create_task(tx, task("a")))
    store.update(lambda tx: create_task(tx, task("b")))
    await asyncio.wait_for(consumer, 1)
    assert received == ["a", "b"]
