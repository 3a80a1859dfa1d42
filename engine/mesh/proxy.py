"""The mesh's data plane: user-space L4 load balancing on asyncio, in place of IPVS.

``serve_tcp`` listens on one address and port and hands each accepted connection to the next
backend of a ``BackendPool``; the two sockets are spliced with asyncio protocols, each side's
reading paused while the other side's write buffer is full, half-closes passed on (the client's
FIN becomes a FIN to the backend and back), and an error on either side closes both (a reset
on one side becomes a reset on the other). A backend that refuses (or does not answer within
``connect_timeout``) is skipped for the next one, each at most once; with no backend left, or
none at all, the client is closed. A connection stays with its backend when the backend leaves
the pool, as IPVS keeps it.

``serve_udp`` keeps one flow per client address, each with its own connected socket to the
backend picked when the flow began; replies go back from the listening address. A flow is
forgotten after ``idle_timeout`` seconds without a datagram either way (IPVS's UDP timeout is
300 s) or when ``max_flows`` is reached (the oldest goes). A flow whose backend left the pool,
or answered with ICMP port unreachable, moves to the next backend with the client's next
datagram (what kube-proxy gets from IPVS with ``expire_nodest_conn=1``); datagrams are never
queued.

Simulated nodes each own an address in 127/8 (127.0.1.N): listeners on the same port on
different addresses coexist. Listeners set SO_REUSEADDR (a restarted mesh rebinds at once) and
never SO_REUSEPORT, so a second listener on the same address and port fails with EADDRINUSE
instead of silently sharing its traffic. On Linux a wildcard listener (0.0.0.0) on a port
excludes every specific address on that port, and the other way round.

The client's address is hidden from the backend, as the routing mesh's ingress SNAT hides it
(moby #25526).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import cast

from engine.mesh.closing import Closing
from engine.mesh.netns import MakeSocket, address_family, bound_socket
from engine.mesh.pool import Backend, BackendPool

__all__ = [
    "CONNECT_TIMEOUT",
    "UDP_IDLE_TIMEOUT",
    "TcpListener",
    "UdpListener",
    "serve_tcp",
    "serve_udp",
]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0  # seconds for a backend to accept before the next one is tried
UDP_IDLE_TIMEOUT = 300.0  # IPVS's default UDP timeout (ipvsadm --set: 900 120 300)
MAX_UDP_FLOWS = 16384  # each flow holds a socket; past this the least recently used goes
BACKLOG = 4096  # the kernel caps it at net.core.somaxconn
PENDING_LIMIT = 256 * 1024  # bytes a client may send before its backend is connected
UDP_BATCH = 64  # datagrams read from one flow socket per wakeup, so others get their turn
UDP_MAX_DATAGRAM = 65535


async def serve_tcp(
    pool: BackendPool,
    host: str,
    port: int,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    sockets: MakeSocket = socket.socket,
) -> TcpListener:
    """Starts forwarding TCP connections on ``host:port`` (port 0: any free port).

    ``sockets`` makes the listening socket and those to the backends: another network
    namespace's (``NetNamespace.socket``) to listen and dial in that namespace.

    Raises:
        OSError: the address cannot be bound (EADDRINUSE when something listens there).
    """
    listener = TcpListener(pool, connect_timeout, sockets)
    loop = asyncio.get_running_loop()
    listener._server = await loop.create_server(
        lambda: _ClientSide(listener),
        sock=bound_socket(sockets, socket.SOCK_STREAM, host, port),
        backlog=BACKLOG,
    )
    listener.address = listener._server.sockets[0].getsockname()[:2]
    return listener


async def serve_udp(
    pool: BackendPool,
    host: str,
    port: int,
    *,
    idle_timeout: float = UDP_IDLE_TIMEOUT,
    max_flows: int = MAX_UDP_FLOWS,
    sockets: MakeSocket = socket.socket,
) -> UdpListener:
    """Starts forwarding UDP flows on ``host:port`` (port 0: any free port); ``sockets`` as
    ``serve_tcp``'s.

    Raises:
        OSError: the address cannot be bound.
        ValueError: ``idle_timeout`` or ``max_flows`` is not positive.
    """
    if idle_timeout <= 0 or max_flows <= 0:
        raise ValueError("idle_timeout and max_flows must be positive")
    loop = asyncio.get_running_loop()
    listener = UdpListener(pool, idle_timeout, max_flows, sockets=sockets)
    sock = bound_socket(sockets, socket.SOCK_DGRAM, host, port)
    await loop.create_datagram_endpoint(lambda: listener, sock=sock)
    return listener


class TcpListener(Closing):
    """A TCP listener of the mesh; made by ``serve_tcp``.

    Attributes:
        pool: the backends it forwards to.
        address: the ``(host, port)`` it listens on.
    """

    def __init__(self, pool: BackendPool, connect_timeout: float, sockets: MakeSocket) -> None:
        self.pool = pool
        self.address: tuple[str, int] = ("", 0)
        self._connect_timeout = connect_timeout
        self._sockets = sockets
        self._server: asyncio.Server | None = None
        self._connections: set[_ClientSide] = set()

    @property
    def connections(self) -> int:
        """Client connections open now (connecting, forwarding, or half-closed)."""
        return len(self._connections)

    async def close(self, *, drop_established: bool = False) -> None:
        """Stops listening; established connections carry on unless ``drop_established``."""
        if self._server is not None:
            # Not wait_closed(): from Python 3.12 on it waits for every connection to end.
            self._server.close()
        if drop_established:
            for connection in list(self._connections):
                connection.abort()

    async def _close_on_exit(self) -> None:
        await self.close(drop_established=True)


class _ClientSide(asyncio.Protocol):
    """One accepted connection and, once connected, its backend: the splice's state."""

    __slots__ = (
        "_backend",
        "_backend_eof",
        "_client_eof",
        "_closed",
        "_connecting",
        "_listener",
        "_pending",
        "_pending_size",
        "_transport",
    )

    def __init__(self, listener: TcpListener) -> None:
        self._listener = listener
        self._transport: asyncio.Transport | None = None
        self._backend: asyncio.Transport | None = None
        self._connecting: _Dial | None = None
        self._pending: list[bytes] | None = None
        self._pending_size = 0
        self._client_eof = False
        self._backend_eof = False
        self._closed = False

    # The client's side.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are no subclasses
        if not self._listener.pool.backends:
            transport.close()
            return
        self._listener._connections.add(self)
        self._connecting = _Dial(self)
        self._connecting.next()

    def data_received(self, data: bytes) -> None:
        backend = self._backend
        if backend is not None:
            if not backend.is_closing():
                backend.write(data)
            return
        if self._pending is None:
            self._pending = []
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= PENDING_LIMIT and self._transport is not None:
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        self._client_eof = True
        backend = self._backend
        if backend is not None:
            if self._backend_eof:
                self._close_both()
            elif not backend.is_closing():
                backend.write_eof()
        return True  # keep our sending direction open for the backend's answer

    def pause_writing(self) -> None:
        if self._backend is not None:
            self._backend.pause_reading()

    def resume_writing(self) -> None:
        if self._backend is not None and not self._backend.is_closing():
            self._backend.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._listener._connections.discard(self)
        self._pending = None
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        if self._backend is not None:
            if exc is None:
                self._backend.close()
            else:
                _reset(self._backend)

    # The backend's side, called by _BackendSide.

    def backend_made(self, transport: asyncio.Transport) -> None:
        client = self._transport
        if self._closed or client is None:
            transport.abort()
            return
        self._backend = transport
        if self._pending is not None:
            transport.writelines(self._pending)
            self._pending = None
            if self._pending_size >= PENDING_LIMIT:
                client.resume_reading()
            self._pending_size = 0
        if self._client_eof:
            transport.write_eof()

    def backend_data(self, data: bytes) -> None:
        client = self._transport
        if client is not None and not client.is_closing():
            client.write(data)

    def backend_eof(self) -> None:
        self._backend_eof = True
        client = self._transport
        if self._client_eof:
            self._close_both()
        elif client is not None and not client.is_closing():
            client.write_eof()

    def backend_lost(self, exc: Exception | None) -> None:
        client = self._transport
        if client is None:
            return
        if exc is None:
            client.close()
        else:
            _reset(client)

    def abort(self) -> None:
        """Drops the connection on both sides."""
        if self._transport is not None:
            self._transport.abort()
        if self._backend is not None:
            self._backend.abort()

    def _close_both(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._backend is not None:
            self._backend.close()

    def dialed(self, sock: socket.socket, backend: Backend) -> None:
        """The backend accepted: its socket becomes the splice's other transport."""
        self._connecting = None
        self._listener.pool.record(backend)
        _adopt(sock, _BackendSide(self))

    def undialable(self) -> None:
        """No backend could be reached."""
        self._connecting = None
        if self._transport is not None:
            self._transport.close()


class _Dial:
    """Connecting a client to the next backend in the rotation, each backend at most once.

    A non-blocking ``connect`` watched by the loop, rather than ``loop.create_connection`` in a
    task: a new connection costs two turns of the loop instead of five, and no task.
    """

    __slots__ = ("_backend", "_client", "_loop", "_sock", "_timer", "_tried")

    def __init__(self, client: _ClientSide) -> None:
        self._client = client
        self._loop = asyncio.get_running_loop()
        self._tried: list[Backend] = []
        self._sock: socket.socket | None = None
        self._backend: Backend | None = None
        self._timer: asyncio.TimerHandle | None = None

    def next(self) -> None:
        listener = self._client._listener
        while (backend := listener.pool.pick(self._tried)) is not None:
            self._tried.append(backend)
            try:
                sock = listener._sockets(address_family(backend.host), socket.SOCK_STREAM)
            except OSError as failure:  # out of file descriptors, say
                _log_unreachable(backend, str(failure))
                continue
            sock.setblocking(False)
            try:
                error = sock.connect_ex((backend.host, backend.port))
            except OSError as failure:
                error = failure.errno or errno.EINVAL
            if error in (0, errno.EINPROGRESS):
                self._sock, self._backend = sock, backend
                self._loop.add_writer(sock.fileno(), self._writable)
                self._timer = self._loop.call_later(listener._connect_timeout, self._timed_out)
                return
            sock.close()
            _log_unreachable(backend, os.strerror(error))
        self._client.undialable()

    def cancel(self) -> None:
        if self._sock is not None:
            self._loop.remove_writer(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._timer is not None:
            self._timer.cancel()

    def _writable(self) -> None:
        sock, backend = self._sock, self._backend
        assert sock is not None and backend is not None
        self._loop.remove_writer(sock.fileno())
        if self._timer is not None:
            self._timer.cancel()
        self._sock = None
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            sock.close()
            _log_unreachable(backend, os.strerror(error))
            self.next()
            return
        self._client.dialed(sock, backend)

    def _timed_out(self) -> None:
        backend = self._backend
        self.cancel()
        if backend is not None:
            _log_unreachable(backend, "connection timed out")
        self.next()


def _adopt(sock: socket.socket, protocol: asyncio.Protocol) -> None:
    """Wraps a connected socket in a transport for ``protocol``.

    asyncio's selector loops do it at once through their ``_make_socket_transport`` (what
    ``create_connection`` ends with); other loops (uvloop) through the public coroutine.
    """
    loop = asyncio.get_running_loop()
    make = getattr(loop, "_make_socket_transport", None)
    if make is not None:
        make(sock, protocol)
        return

    async def adopt() -> None:
        try:
            await loop.create_connection(lambda: protocol, sock=sock)
        except OSError as error:
            sock.close()
            protocol.connection_lost(error)

    task = loop.create_task(adopt())
    _adopting.add(task)
    task.add_done_callback(_adopting.discard)


_adopting: set[asyncio.Task[None]] = set()  # tasks are held until done, or they may vanish


def _log_unreachable(backend: Backend, reason: str) -> None:
    log.debug("backend %s at %s:%d: %s", backend.key, backend.host, backend.port, reason)


class _BackendSide(asyncio.Protocol):
    """The backend's end of a splice: passes everything to the client's side."""

    __slots__ = ("_client",)

    def __init__(self, client: _ClientSide) -> None:
        self._client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._client.backend_made(cast(asyncio.Transport, transport))  # uvloop's: no subclass

    def data_received(self, data: bytes) -> None:
        self._client.backend_data(data)

    def eof_received(self) -> bool:
        self._client.backend_eof()
        return True

    def pause_writing(self) -> None:
        transport = self._client._transport
        if transport is not None:
            transport.pause_reading()

    def resume_writing(self) -> None:
        transport = self._client._transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._client.backend_lost(exc)


class UdpListener(Closing, asyncio.DatagramProtocol):
    """A UDP listener of the mesh; made by ``serve_udp``.

    Attributes:
        pool: the backends it forwards to.
        address: the ``(host, port)`` it listens on.
    """

    def __init__(
        self,
        pool: BackendPool,
        idle_timeout: float,
        max_flows: int,
        clock: Callable[[], float] = time.monotonic,
        sockets: MakeSocket = socket.socket,
    ) -> None:
        self.pool = pool
        self.address: tuple[str, int] = ("", 0)
        self._sockets = sockets
        self._idle_timeout = idle_timeout
        self._max_flows = max_flows
        self._clock = clock
        self._transport: asyncio.DatagramTransport | None = None
        self._flows: OrderedDict[tuple[str, int], _Flow] = OrderedDict()
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def flows(self) -> int:
        """Client flows open now."""
        return len(self._flows)

    async def close(self, *, drop_established: bool = False) -> None:
        """Stops listening and forgets every flow (UDP has no connection to carry on)."""
        del drop_established  # a flow cannot outlive its listening socket
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for flow in list(self._flows.values()):
            self._forget(flow)
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport is not a subclass of DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)
        self.address = transport.get_extra_info("sockname")[:2]
        self._schedule_sweep()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        client = (addr[0], addr[1])
        flow = self._flows.get(client)
        if flow is None:
            flow = self._open_flow(client, [])
            if flow is None:
                return
        else:
            self._flows.move_to_end(client)
        flow.active = self._clock()
        if flow.refused or flow.backend not in self.pool:
            self._move(flow, data)
            return
        try:
            flow.sock.send(data)
        except BlockingIOError:
            pass  # a full socket buffer drops the datagram, as a full link would
        except ConnectionRefusedError:
            # An earlier datagram met ICMP port unreachable: the backend is gone.
            self._move(flow, data)
        except OSError as error:
            log.debug("udp flow %s:%d: %s", client[0], client[1], error)
            self._forget(flow)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp listener %s:%d: %s", self.address[0], self.address[1], exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def _open_flow(self, client: tuple[str, int], tried: list[Backend]) -> _Flow | None:
        while (backend := self.pool.pick(tried)) is not None:
            tried.append(backend)
            try:
                sock = _udp_socket_to(backend, self._sockets)
            except OSError as error:
                _log_unreachable(backend, str(error))
                continue
            if len(self._flows) >= self._max_flows:
                self._forget(next(iter(self._flows.values())))
            flow = _Flow(client, backend, sock, tried)
            self._flows[client] = flow
            asyncio.get_running_loop().add_reader(sock.fileno(), self._reply_ready, flow)
            self.pool.record(backend)
            return flow
        return None

    def _move(self, flow: _Flow, data: bytes) -> None:
        """Gives the flow another backend: its own left the pool or is not listening."""
        self._forget(flow)
        moved = self._open_flow(flow.client, flow.tried)
        if moved is not None:
            with contextlib.suppress(OSError):
                moved.sock.send(data)

    def _reply_ready(self, flow: _Flow) -> None:
        transport = self._transport
        for _ in range(UDP_BATCH):
            try:
                data = flow.sock.recv(UDP_MAX_DATAGRAM)
            except BlockingIOError:
                return
            except ConnectionRefusedError:
                flow.refused = True  # the client's next datagram moves the flow
                return
            except OSError as error:
                log.debug("udp flow %s:%d: %s", flow.client[0], flow.client[1], error)
                self._forget(flow)
                return
            if transport is None:
                return
            transport.sendto(data, flow.client)
            flow.active = self._clock()
            if flow.client in self._flows:
                self._flows.move_to_end(flow.client)

    def _forget(self, flow: _Flow) -> None:
        if self._flows.get(flow.client) is flow:
            del self._flows[flow.client]
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(flow.sock.fileno())
        flow.sock.close()

    def _schedule_sweep(self) -> None:
        self._sweeper = asyncio.get_running_loop().call_later(self._idle_timeout / 2, self._sweep)

    def _sweep(self) -> None:
        horizon = self._clock() - self._idle_timeout
        while self._flows:
            flow = next(iter(self._flows.values()))
            if flow.active > horizon:
                break
            self._forget(flow)
        self._schedule_sweep()


class _Flow:
    """One client's UDP flow: its socket connected to the backend it was given."""

    __slots__ = ("active", "backend", "client", "refused", "sock", "tried")

    def __init__(
        self, client: tuple[str, int], backend: Backend, sock: socket.socket, tried: list[Backend]
    ) -> None:
        self.client = client
        self.backend = backend
        self.sock = sock
        self.tried = tried
        self.active = 0.0
        self.refused = False


def _reset(transport: asyncio.Transport) -> None:
    """Closes with a TCP reset, passing on the other side's: the peer learns it was cut short."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


_LINGER_RESET = struct.pack("ii", 1, 0)


def _udp_socket_to(backend: Backend, sockets: MakeSocket) -> socket.socket:
    sock = sockets(address_family(backend.host), socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect((backend.host, backend.port))
    except OSError:
        sock.close()
        raise
    return sock
