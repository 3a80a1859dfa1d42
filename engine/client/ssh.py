"""``ssh://user@host`` targets, as the docker CLI reaches them: ``ssh host docker system
dial-stdio`` per connection, bridged to a private unix socket the HTTP client can use."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["ssh_bridge"]

CHUNK = 65536


def _ssh_command(url: str) -> list[str]:
    parsed = urlparse(url)
    if not parsed.hostname:
        raise ValueError(f"ssh target without a host: {url!r}")
    destination = f"{parsed.username}@{parsed.hostname}" if parsed.username else parsed.hostname
    command = [os.environ.get("SWARMDECK_SSH", "ssh"), "-o", "BatchMode=yes"]
    if parsed.port:
        command += ["-p", str(parsed.port)]
    return [*command, "--", destination, "docker", "system", "dial-stdio"]


@contextlib.asynccontextmanager
async def ssh_bridge(url: str) -> AsyncIterator[str]:
    """Yields a ``unix://`` URL whose connections each run over a new ssh dial-stdio."""
    command = _ssh_command(url)

    async def bridge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert process.stdin is not None and process.stdout is not None

        async def upstream() -> None:
            while data := await reader.read(CHUNK):
                process.stdin.write(data)  # type: ignore[union-attr]
                await process.stdin.drain()  # type: ignore[union-attr]
            process.stdin.close()  # type: ignore[union-attr]

        async def downstream() -> None:
            while data := await process.stdout.read(CHUNK):  # type: ignore[union-attr]
                writer.write(data)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(upstream(), downstream())
        except (ConnectionError, BrokenPipeError):
            pass
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
            writer.close()

    with tempfile.TemporaryDirectory(prefix="swarmdeck-ssh-") as workdir:
        socket = Path(workdir) / "docker.sock"
        server = await asyncio.start_unix_server(bridge, path=str(socket))
        os.chmod(socket, 0o600)
        try:
            yield f"unix://{socket}"
        finally:
            server.close()
            await server.wait_closed()
