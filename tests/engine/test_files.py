"""The engine's files and streams: a data directory only its owner reads, locked by the engine
using it; a socket never taken from a live engine; streams that end quietly when left."""

from __future__ import annotations

import asyncio
import logging
import socket as sockets
import stat
from pathlib import Path

import pytest

from engine.client import EngineClient
from engine.embedded import EmbeddedCluster
from engine.serve import served
from engine.store.sqlite import DataDirInUse, SqlitePersistence
from tests.conftest import make_spec


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_its_files_are_the_owners_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    store = SqlitePersistence(data)
    try:
        store.commit(1, [], [])
        assert mode(data) == 0o700
        files = sorted(p.name for p in data.iterdir())
        assert "state.db" in files and "engine.lock" in files
        for name in files:
            assert mode(data / name) & 0o077 == 0, name  # nothing for group or others
    finally:
        store.close()


def test_a_second_engine_on_the_same_data_directory_is_refused_by_name(tmp_path: Path) -> None:
    first = SqlitePersistence(tmp_path)
    try:
        with pytest.raises(
            DataDirInUse, match=rf"{tmp_path} is in use by another engine \(PID \d+\)"
        ):
            SqlitePersistence(tmp_path)
    finally:
        first.close()
    SqlitePersistence(tmp_path).close()  # once it stopped, the next one starts


async def test_a_live_socket_is_never_taken_over_and_a_stale_one_is_replaced(
    tmp_path: Path,
) -> None:
    socket = tmp_path / "engine.sock"
    async with served(EmbeddedCluster(seed=1), socket):
        with pytest.raises(FileExistsError, match="is in use"):
            async with served(EmbeddedCluster(seed=2), socket):
                pass
        assert socket.exists()  # the live engine keeps its socket
    stale = sockets.socket(sockets.AF_UNIX)
    stale.bind(str(socket))  # a socket nobody listens on, as a killed engine leaves
    stale.close()
    async with served(EmbeddedCluster(seed=3), socket):
        assert socket.exists()


async def test_streams_whose_client_leaves_end_without_an_error_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A followed log stream and the event stream, left by their client mid-stream, end
    quietly: no error and no traceback in the engine's log."""
    socket = tmp_path / "engine.sock"
    cluster = EmbeddedCluster(seed=1)
    async with served(cluster, socket):
        cluster.control.create_service(make_spec(name="web", replicas=2, image="nginx:1.10"))
        client = EngineClient(f"unix://{socket}")
        try:
            service = (await client.services())[0]
            for _ in range(5):
                logs = client.logs("services", service.id, tail=5, follow=True)
                await anext(logs)
                await logs.aclose()
                events = client.events(since=0)
                await anext(events)
                await events.aclose()
            await client.close()
            await asyncio.sleep(0.6)  # the engine's follow notices
        finally:
            await client.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
