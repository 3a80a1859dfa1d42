"""An engine whose state stops reaching the disk stops, with status 1, rather than go on with
a state in memory that a restart would not find."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from engine import cli
from engine.embedded import EmbeddedCluster
from engine.store import SqlitePersistence
from tests.conftest import make_spec
from tests.engine.store.test_written_behind import make_read_only


async def test_serve_stops_with_status_1_when_the_disk_refuses_its_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir, socket = tmp_path / "data", tmp_path / "engine.sock"
    cluster = EmbeddedCluster(nodes=1, seed=1, data_dir=data_dir)
    monkeypatch.setattr(cli, "_backend", lambda args: cluster)
    args = cli._parser().parse_args(
        ["serve", f"--socket={socket}", f"--data-dir={data_dir}", "--nodes=1"]
    )
    serving = asyncio.ensure_future(cli.serve(args))
    while not socket.exists():
        await asyncio.sleep(0.01)
    persistence = cluster.store._persistence
    assert isinstance(persistence, SqlitePersistence)
    make_read_only(persistence, data_dir)
    cluster.control.create_service(make_spec("web", replicas=3))  # its tasks cannot be written
    with caplog.at_level(logging.ERROR, logger="swarmdeck.engine"):
        status = await asyncio.wait_for(serving, 30)
    assert status == 1
    assert "the engine failed" in caplog.text and "could not be saved" in caplog.text
    assert not socket.exists()  # it stopped as it does on SIGTERM
