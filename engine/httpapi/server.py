"""Serving the API on a unix socket (mode 0660, as dockerd's)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from aiohttp import web

__all__ = ["serve_unix"]

SOCKET_MODE = 0o660
SHUTDOWN_TIMEOUT = 1.0  # seconds streams (logs -f, events) get to finish when the engine stops


async def serve_unix(app: web.Application, path: Path | str) -> web.AppRunner:
    """Starts serving ``app`` on ``path``; clean up with ``await runner.cleanup()``.

    Raises:
        FileExistsError: something other than a stale socket is at ``path``.
    """
    socket = Path(path)
    if socket.exists() or socket.is_symlink():
        if not stat.S_ISSOCK(socket.lstat().st_mode):
            raise FileExistsError(f"{socket} exists and is not a socket")
        socket.unlink()  # left behind by an engine that did not stop cleanly
    socket.parent.mkdir(parents=True, exist_ok=True)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    await web.UnixSite(runner, str(socket)).start()
    os.chmod(socket, SOCKET_MODE)
    return runner
