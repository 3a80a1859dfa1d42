"""A set of the mesh's listeners kept in step with what is wanted of them.

Each listener is wanted under a key of the integrator's (an address, a port and a protocol; or
a node and those), with the pool it forwards to and where its sockets are made. ``bring_to``
stops the listeners no longer wanted, or wanted with another pool, and starts the missing ones;
a listener wanted with the same pool as before is left alone, and keeps its connections. A bind
that fails is logged once, and tried again at the next ``bring_to`` (``failing`` says whether
one is waiting).

    listeners = Listeners[tuple[str, int, str]]()
    await listeners.bring_to({key: Wanted(pool, "127.0.1.1", 8080, "tcp")})
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Hashable, Mapping
from typing import Generic, NamedTuple, TypeVar

from engine.mesh.netns import MakeSocket
from engine.mesh.pool import BackendPool
from engine.mesh.proxy import TcpListener, UdpListener, serve_tcp, serve_udp

__all__ = ["Listeners", "Wanted"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class Wanted(NamedTuple):
    """A listener as wanted: its pool, where it listens, and what makes its sockets."""

    pool: BackendPool
    address: str
    port: int
    protocol: str  # tcp or udp
    sockets: MakeSocket = socket.socket


class Listeners(Generic[K]):
    def __init__(self) -> None:
        self._listeners: dict[K, TcpListener | UdpListener] = {}
        self._failed: set[K] = set()  # binds that failed, logged once

    def __getitem__(self, key: K) -> TcpListener | UdpListener:
        return self._listeners[key]

    def get(self, key: K) -> TcpListener | UdpListener | None:
        return self._listeners.get(key)

    def keys(self) -> list[K]:
        return list(self._listeners)

    @property
    def failing(self) -> bool:
        """Whether a wanted listener could not bind at the last ``bring_to``."""
        return bool(self._failed)

    async def bring_to(self, wanted: Mapping[K, Wanted]) -> None:
        """Listens where wanted, with the pool wanted there; stops listening elsewhere."""
        for key, listener in list(self._listeners.items()):
            want = wanted.get(key)
            if want is None or want.pool is not listener.pool:
                del self._listeners[key]
                await listener.close()
        self._failed &= set(wanted)
        for key, want in wanted.items():
            if key in self._listeners:
                continue
            serve = serve_udp if want.protocol == "udp" else serve_tcp
            try:
                self._listeners[key] = await serve(
                    want.pool, want.address, want.port, sockets=want.sockets
                )
            except OSError as error:
                if key not in self._failed:
                    self._failed.add(key)
                    log.warning(
                        "the mesh cannot listen on %s:%d/%s: %s",
                        want.address,
                        want.port,
                        want.protocol,
                        error,
                    )
                continue
            self._failed.discard(key)

    async def close(self) -> None:
        """Stops every listener and drops the connections they carry."""
        listeners, self._listeners = self._listeners, {}
        self._failed.clear()
        for listener in listeners.values():
            with contextlib.suppress(OSError):
                await listener.close(drop_established=True)
