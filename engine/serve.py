"""Starting a served engine: a cluster with the Engine API on a unix socket, in this process or
as a process of its own.

    async with served(EmbeddedCluster(), socket):      # in this process
        ...
    subprocess.Popen(serve_command(socket, data_dir))  # a daemon, ``python -m engine serve``
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from engine.demo import DEMO_SERVICES
from engine.embedded import EmbeddedCluster
from engine.httpapi.app import make_app
from engine.httpapi.events import EventLog
from engine.httpapi.server import serve_unix

__all__ = ["serve_command", "serve_demo", "served"]


@contextlib.asynccontextmanager
async def served(cluster: EmbeddedCluster, socket: Path) -> AsyncIterator[None]:
    """Starts ``cluster`` and serves the Engine API for it on ``socket`` while the block runs."""
    await cluster.start()
    events = EventLog(cluster.store, cluster.clock)
    event_task = asyncio.create_task(events.run())
    try:
        runner = await serve_unix(make_app(cluster, events), socket)
    except BaseException:
        event_task.cancel()
        await cluster.stop()
        raise
    try:
        yield
    finally:
        await runner.cleanup()
        event_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await event_task
        await cluster.stop()
        with contextlib.suppress(FileNotFoundError):
            socket.unlink()


@contextlib.asynccontextmanager
async def serve_demo(socket: Path, nodes: int = 3, seed: int | None = None) -> AsyncIterator[None]:
    """Serves the embedded demo cluster (``engine.demo``'s services) on ``socket`` while the
    block runs."""
    cluster = EmbeddedCluster(nodes=nodes, seed=seed)
    async with served(cluster, socket):
        for spec in DEMO_SERVICES:
            cluster.control.create_service(spec)
        yield


def serve_command(socket: Path, data_dir: Path, *extra: str) -> list[str]:
    """The command line of ``python -m engine serve`` with this interpreter, for whatever starts
    an engine as a process of its own (tests, benchmarks)."""
    return [
        sys.executable,
        "-m",
        "engine",
        "serve",
        f"--socket={socket}",
        f"--data-dir={data_dir}",
        *extra,
    ]
