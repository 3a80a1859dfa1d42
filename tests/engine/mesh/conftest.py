"""Real sockets on loopback for the mesh's tests: named backends, waiting on conditions, and
load balancers run for as long as a test lasts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

import pytest

from engine.mesh.lb import Balancer
from engine.mesh.pool import Backend

TIMEOUT = 30.0  # seconds a condition gets before the test fails

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def eventually(
    condition: Callable[[], object | Awaitable[object]], what: str, timeout: float = TIMEOUT
) -> None:
    """Waits until ``condition()`` (awaited when it is a coroutine) holds, at most ``timeout``
    seconds: sockets run on real time."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                held = condition()
                if isinstance(held, Awaitable):
                    held = await held
                if held:
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at ``host``: free to bind, and connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


class Backends:
    """TCP servers on loopback, each a ``Backend`` named by its key."""

    def __init__(self) -> None:
        self.servers: list[asyncio.Server] = []
        self.writers: dict[str, list[asyncio.StreamWriter]] = {}

    async def start(self, key: str, handler: Handler | None = None) -> Backend:
        """A backend that runs ``handler`` on each connection; by default it says its key."""

        async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(key.encode())
            await writer.drain()
            writer.close()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.setdefault(key, []).append(writer)
            try:
                await (handler or greet)(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.servers.append(server)
        return Backend(key, "127.0.0.1", server.sockets[0].getsockname()[1])

    def connections(self, key: str) -> int:
        """Connections ``key`` accepted."""
        return len(self.writers.get(key, []))

    def close(self) -> None:
        for server in self.servers:
            server.close()
        for writers in self.writers.values():
            for writer in writers:
                writer.transport.abort()


@pytest.fixture
async def backends() -> AsyncIterator[Backends]:
    made = Backends()
    yield made
    made.close()


B = TypeVar("B", bound=Balancer)


class Start(Protocol):
    def __call__(self, balancer: B) -> B:
        """Runs ``balancer`` until the test ends; returns it."""
        ...


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Runs the load balancers a test starts, and stops them after it."""
    running: list[asyncio.Task[None]] = []

    def starting(balancer: B) -> B:
        running.append(asyncio.create_task(balancer.run()))
        return balancer

    yield starting
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
