"""Serving the API on a unix socket (mode 0660, as dockerd's), and over TCP with mutual TLS."""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

__all__ = ["TcpListen", "serve_tcp", "serve_unix"]

SOCKET_MODE = 0o660
LIVE_CHECK = 1.0  # seconds a listener on an existing socket has to accept a connection
SHUTDOWN_TIMEOUT = 1.0  # seconds streams (logs -f, events) get to finish when the engine stops


async def serve_unix(app: web.Application, path: Path | str) -> web.AppRunner:
    """Starts serving ``app`` on ``path``; clean up with ``await runner.cleanup()``.

    Raises:
        FileExistsError: something other than a stale socket is at ``path``: a file, or a
            socket something still answers on (as dockerd, it is never taken over).
    """
    socket = Path(path)
    if socket.exists() or socket.is_symlink():
        if not stat.S_ISSOCK(socket.lstat().st_mode):
            raise FileExistsError(f"{socket} exists and is not a socket")
        if await _answers(socket):
            raise FileExistsError(f"{socket} is in use: something listens on it")
        socket.unlink()  # left behind by an engine that did not stop cleanly
    socket.parent.mkdir(parents=True, exist_ok=True)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    await web.UnixSite(runner, str(socket)).start()
    os.chmod(socket, SOCKET_MODE)
    return runner


@dataclass(frozen=True)
class TcpListen:
    """``--host tcp://HOST:PORT`` with dockerd's ``--tlscacert``, ``--tlscert`` and ``--tlskey``:
    a client must show a certificate that CA signed."""

    host: str
    port: int
    ca: Path
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        """Raises OSError or ssl.SSLError for files that are missing or not what they say."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        context.verify_mode = ssl.CERT_REQUIRED
        return context


async def serve_tcp(runner: web.AppRunner, listen: TcpListen) -> None:
    """Serves ``runner``'s application on ``listen`` too; the TLS handshake refuses a client
    without a certificate of its CA."""
    site = web.TCPSite(runner, listen.host, listen.port, ssl_context=listen.context())
    await site.start()


async def _answers(socket: Path) -> bool:
    """Whether something accepts connections on the unix socket ``socket``."""
    try:
        async with asyncio.timeout(LIVE_CHECK):
            _, writer = await asyncio.open_unix_connection(str(socket))
    except (ConnectionRefusedError, FileNotFoundError):
        return False  # nobody listens: stale
    except (OSError, TimeoutError):
        return True  # a listener too busy to take the connection is still somebody's
    writer.close()
    return True
