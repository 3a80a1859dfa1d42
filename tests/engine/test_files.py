"""The engine's files: a data directory only its owner reads, locked by the engine using it,
and a socket that is never taken from a live engine."""

from __future__ import annotations

import socket as sockets
import stat
from pathlib import Path

import pytest

from engine.embedded import EmbeddedCluster
from engine.serve import served
from engine.store.sqlite import DataDirInUse, SqlitePersistence


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
