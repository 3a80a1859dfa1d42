"""The state is written behind the event loop: a commit takes effect at once, reaches the disk a
moment later, and what must survive a crash (an acknowledged write, a task a node is told to run)
waits for it. A write that fails stops the store taking writes."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.api.objects import Service
from engine.api.specs import ServiceSpec
from engine.api.types import TaskState
from engine.embedded import EmbeddedCluster
from engine.httpapi.app import make_app
from engine.store import (
    MemoryStore,
    SqlitePersistence,
    StateNotSaved,
    by,
    create_service,
    find_services,
)
from engine.store import sqlite as sqlite_persistence
from tests.conftest import make_spec


def stored_ids(data_dir: Path) -> set[str]:
    """The IDs of the services on disk, read by a connection of its own."""
    with contextlib.closing(sqlite3.connect(data_dir / "state.db")) as db:
        rows = db.execute("SELECT id FROM objects WHERE kind = 'service'").fetchall()
    return {row[0] for row in rows}


def new_service(store: MemoryStore, name: str) -> Service:
    service = Service(id=f"id-{name}", spec=ServiceSpec(name=name))
    return store.update(lambda tx: create_service(tx, service))


async def test_saved_returns_once_every_commit_so_far_is_on_disk(tmp_path: Path) -> None:
    store = MemoryStore(time.time, SqlitePersistence(tmp_path))
    try:
        made = [new_service(store, f"svc-{n}") for n in range(200)]
        await store.saved()
        assert stored_ids(tmp_path) == {s.id for s in made}
    finally:
        store.close()


async def test_the_writer_lets_the_event_loop_have_the_gil_every_step_of_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    persistence = SqlitePersistence(tmp_path)
    store = MemoryStore(time.time, persistence)
    writing, busy = threading.Event(), threading.Event()
    breaths: list[float] = []

    def hold() -> None:
        writing.set()
        busy.wait()

    try:
        held = asyncio.ensure_future(persistence._in_writer(hold))  # what follows queues
        await asyncio.to_thread(writing.wait)
        for n in range(1000):
            new_service(store, f"svc-{n}")
        monkeypatch.setattr(sqlite_persistence.time, "sleep", breaths.append)
        busy.set()
        await held
        await store.saved()
    finally:
        busy.set()
        store.close()
    # 1,000 objects handled three times: read into rows, written, let go of
    assert len(breaths) >= 3 * (1000 // sqlite_persistence.STEP)
    assert set(breaths) == {0}


def test_closing_writes_what_is_queued(tmp_path: Path) -> None:
    store = MemoryStore(time.time, SqlitePersistence(tmp_path))
    made = [new_service(store, f"svc-{n}") for n in range(200)]
    store.close()
    again = MemoryStore(time.time, SqlitePersistence(tmp_path))
    try:
        assert {s.id for s in again.view(lambda tx: find_services(tx, by.all()))} == {
            s.id for s in made
        }
        assert again.version == store.version
    finally:
        again.close()


async def test_a_write_that_fails_fails_its_waiters_and_the_store_takes_no_more(
    tmp_path: Path,
) -> None:
    persistence = SqlitePersistence(tmp_path)
    store = MemoryStore(time.time, persistence)
    try:
        new_service(store, "kept")
        await store.saved()
        make_read_only(persistence, tmp_path)
        new_service(store, "lost")
        with pytest.raises(StateNotSaved, match=r"the state could not be saved: .*readonly"):
            await store.saved()
        version = store.version
        with pytest.raises(StateNotSaved):
            new_service(store, "refused")
        assert store.version == version
        names = {s.spec.name for s in store.view(lambda tx: find_services(tx, by.all()))}
        assert "refused" not in names
    finally:
        store.close()
    assert stored_ids(tmp_path) == {"id-kept"}


def make_read_only(persistence: SqlitePersistence, data_dir: Path) -> None:
    """The disk turns read-only under the engine."""
    persistence._db = sqlite3.connect(
        f"file:{data_dir / 'state.db'}?mode=ro", uri=True, check_same_thread=False
    )


@contextlib.asynccontextmanager
async def cluster_on(data_dir: Path) -> AsyncIterator[EmbeddedCluster]:
    """A started cluster keeping its state in ``data_dir``; stopped after."""
    cluster = EmbeddedCluster(seed=1, data_dir=data_dir)
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


@contextlib.asynccontextmanager
async def saving_held(cluster: EmbeddedCluster) -> AsyncIterator[asyncio.Event]:
    """Holds back the cluster's writes from the disk until the event it yields is set."""
    saved = cluster.store.saved
    release = asyncio.Event()

    async def held(version: int | None = None) -> None:
        await release.wait()
        await saved(version)

    cluster.store.saved = held  # type: ignore[method-assign]
    try:
        yield release
    finally:
        release.set()


async def test_the_api_acknowledges_a_write_only_once_it_is_saved(tmp_path: Path) -> None:
    async with (
        cluster_on(tmp_path) as cluster,
        TestClient(TestServer(make_app(cluster))) as client,
        saving_held(cluster) as release,
    ):
        spec = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "nginx"}}}
        answer = asyncio.ensure_future(client.post("/v1.41/services/create", json=spec))
        await asyncio.sleep(0.3)
        assert not answer.done()  # created, but not on disk: not acknowledged
        listed = await client.get("/v1.41/services")
        assert [s["Spec"]["Name"] for s in await listed.json()] == ["web"]
        release.set()
        response = await answer
        assert response.status == 201
        assert (await response.json())["ID"] in stored_ids(tmp_path)


async def test_a_node_is_told_of_a_task_only_once_it_is_saved(tmp_path: Path) -> None:
    async with cluster_on(tmp_path) as cluster, saving_held(cluster) as release:
        cluster.control.create_service(make_spec(replicas=2))
        await asyncio.sleep(0.5)
        states = [t.status.state for t in cluster.control.list_tasks()]
        assert states and all(s <= TaskState.ASSIGNED for s in states), states
        release.set()
        for _ in range(100):
            states = [t.status.state for t in cluster.control.list_tasks()]
            if states == [TaskState.RUNNING] * 2:
                break
            await asyncio.sleep(0.05)
        assert states == [TaskState.RUNNING] * 2


async def test_the_api_says_when_the_state_could_not_be_saved(tmp_path: Path) -> None:
    cluster = EmbeddedCluster(seed=1, data_dir=tmp_path)
    await cluster.start()
    try:
        async with TestClient(TestServer(make_app(cluster))) as client:
            await cluster.store.saved()
            persistence = cluster.store._persistence
            assert isinstance(persistence, SqlitePersistence)
            make_read_only(persistence, tmp_path)
            for name in ("failed", "refused"):  # the write that failed, then one after it
                spec = {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": "nginx"}}}
                response = await client.post("/v1.41/services/create", json=spec)
                assert response.status == 500
                message = (await response.json())["message"]
                assert message.startswith("the state could not be saved: ")
                assert message.endswith("the engine takes no more writes until restarted")
            assert (await client.get("/_ping")).status == 200
    finally:
        with contextlib.suppress(ExceptionGroup):  # the control loops stopped on it too
            await cluster.stop()
    SqlitePersistence(tmp_path).close()  # stopped all the same: the data directory is free
