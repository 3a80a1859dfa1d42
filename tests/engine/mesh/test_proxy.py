"""The mesh's TCP and UDP listeners, with real sockets on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import struct
import tracemalloc
from collections.abc import AsyncIterator
from typing import cast

import pytest

from engine.mesh.pool import Backend, BackendPool
from engine.mesh.proxy import serve_tcp, serve_udp
from tests.engine.mesh.conftest import Backends, eventually, free_port


async def fetch(address: tuple[str, int], send: bytes = b"") -> bytes:
    """Connects, sends ``send`` and a FIN, and reads until the other side closes."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        if send:
            writer.write(send)
        writer.write_eof()
        return await reader.read()
    finally:
        writer.close()


async def is_closed_by_peer(address: tuple[str, int], send: bytes) -> bool:
    """Whether the other side closes (or resets) the connection without a word."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(send)
        return await reader.read() == b""
    except OSError:  # our write met the closed socket: a reset
        return True
    finally:
        writer.close()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Sends back what it reads; closes after the client's FIN."""
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def test_connections_go_round_robin_over_the_backends(backends: Backends) -> None:
    pool = BackendPool([await backends.start(key) for key in ("a", "b", "c")])
    async with await serve_tcp(pool, "127.0.0.1", 0) as listener:
        answers = [await fetch(listener.address) for _ in range(7)]
    assert answers == [b"a", b"b", b"c", b"a", b"b", b"c", b"a"]
    assert pool.connections_last_minute() == {"a": 3, "b": 2, "c": 2}


async def test_a_refusing_backend_is_skipped_for_the_next_one(backends: Backends) -> None:
    dead = Backend("dead", "127.0.0.1", free_port())
    pool = BackendPool([await backends.start("a"), dead, await backends.start("c")])
    async with await serve_tcp(pool, "127.0.0.1", 0) as listener:
        answers = [await fetch(listener.address) for _ in range(4)]
    assert answers == [b"a", b"c", b"a", b"c"]
    assert pool.connections_last_minute() == {"a": 2, "c": 2}


async def test_a_backend_that_never_answers_is_given_up_for_the_next_one(
    backends: Backends, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="engine.mesh.proxy")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)  # never accepted: once its queue is full, SYNs to it are dropped
    fillers = [socket.socket() for _ in range(3)]
    for filler in fillers:
        filler.setblocking(False)
        filler.connect_ex(silent.getsockname())
    pool = BackendPool([Backend("silent", *silent.getsockname()), await backends.start("b")])
    try:
        async with await serve_tcp(pool, "127.0.0.1", 0, connect_timeout=0.2) as listener:
            assert await fetch(listener.address) == b"b"
        assert pool.connections_last_minute() == {"b": 1}
        assert "backend silent at 127.0.0.1" in caplog.text
        assert "connection timed out" in caplog.text
    finally:
        for sock in (silent, *fillers):
            sock.close()


async def test_the_client_is_closed_when_every_backend_refuses() -> None:
    pool = BackendPool([Backend(key, "127.0.0.1", free_port()) for key in ("a", "b")])
    async with await serve_tcp(pool, "127.0.0.1", 0) as listener:
        assert await is_closed_by_peer(listener.address, b"GET / HTTP/1.0\r\n\r\n")
        await eventually(lambda: listener.connections == 0, "the client to be dropped")
    assert pool.connections_last_minute() == {}


async def test_an_empty_pool_closes_the_client() -> None:
    async with await serve_tcp(BackendPool(), "127.0.0.1", 0) as listener:
        assert await is_closed_by_peer(listener.address, b"hello")
        assert listener.connections == 0


async def test_a_removed_backend_gets_no_new_connection_and_keeps_its_own(
    backends: Backends,
) -> None:
    a, b = await backends.start("a", echo), await backends.start("b", echo)
    pool = BackendPool([a, b])
    async with await serve_tcp(pool, "127.0.0.1", 0) as listener:
        held = [await asyncio.open_connection(*listener.address) for _ in range(2)]
        await eventually(lambda: backends.connections("b") == 1, "b's first connection")
        pool.set_backends([a])
        for _ in range(4):
            reader, writer = await asyncio.open_connection(*listener.address)
            writer.write(b"x")
            assert await reader.readexactly(1) == b"x"
            writer.close()
        assert backends.connections("b") == 1
        assert backends.connections("a") == 5
        for reader, writer in held:  # the removed backend's connection still carries data
            writer.write(b"still here")
            assert await reader.readexactly(10) == b"still here"
            writer.close()


async def test_the_clients_fin_reaches_the_backend_and_its_answer_comes_back(
    backends: Backends,
) -> None:
    async def answer_after_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read()  # until the client's FIN
        writer.write(b"got " + request)
        await writer.drain()
        writer.close()

    pool = BackendPool([await backends.start("a", answer_after_eof)])
    async with await serve_tcp(pool, "127.0.0.1", 0) as listener:
        assert await fetch(listener.address, b"the whole request") == b"got the whole request"


async def test_the_backends_fin_reaches_the_client_which_can_still_send(
    backends: Backends,
) -> None:
    received = asyncio.get_running_loop().create_future()

    async def done_talking(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye")
        writer.write_eof()
        received.set_result(await reader.read())
        writer.close()

    pool = BackendPool([await backends.start("a", done_talking)])
    async with await serve_tcp(pool, "127.0.0.1", 0) as listener:
        reader, writer = await asyncio.open_connection(*listener.address)
        assert await reader.read() == b"bye"  # the backend's FIN arrived
        writer.write(b"late words")
        writer.write_eof()
        assert await received == b"late words"
        writer.close()
        await eventually(lambda: listener.connections == 0, "the splice to close")


async def test_a_big_transfer_both_ways_arrives_whole(backends: Backends) -> None:
    async def slow_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(4096):  # small reads: the proxy must hold back
            writer.write(data)
            await writer.drain()
        writer.close()

    pool = BackendPool([await backends.start("a", slow_echo)])
    payload = os.urandom(8 * 1024 * 1024)
    async with await serve_tcp(pool, "127.0.0.1", 0) as listener:
        reader, writer = await asyncio.open_connection(*listener.address)

        async def send() -> None:
            writer.write(payload)
            await writer.drain()
            writer.write_eof()

        sending = asyncio.create_task(send())
        echoed = await reader.read(-1)
        await sending
        writer.close()
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()


def reset(writer: asyncio.StreamWriter) -> None:
    """Closes with a TCP reset instead of a FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def test_a_client_that_resets_mid_transfer_leaves_no_trace_in_the_log(
    backends: Backends, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        chunk = b"x" * 65536
        while True:
            writer.write(chunk)
            await writer.drain()

    pool = BackendPool([await backends.start("a", flood)])
    async with await serve_tcp(pool, "127.0.0.1", 0) as listener:
        for _ in range(5):
            reader, writer = await asyncio.open_connection(*listener.address)
            await reader.readexactly(100_000)
            reset(writer)
        await eventually(lambda: listener.connections == 0, "every splice to close")
        await eventually(
            lambda: all(w.is_closing() for w in backends.writers["a"]), "the backend side to close"
        )
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == []


async def test_a_backend_that_resets_resets_the_client_quietly(
    backends: Backends, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def fail(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(5)
        reset(writer)

    pool = BackendPool([await backends.start("a", fail)])
    async with await serve_tcp(pool, "127.0.0.1", 0) as listener:
        reader, writer = await asyncio.open_connection(*listener.address)
        writer.write(b"hello")
        with pytest.raises(ConnectionResetError):
            await reader.read()
        writer.close()
        await eventually(lambda: listener.connections == 0, "the splice to close")
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == []


async def test_closing_keeps_established_connections_unless_told(backends: Backends) -> None:
    pool = BackendPool([await backends.start("a", echo)])
    listener = await serve_tcp(pool, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(*listener.address)
    writer.write(b"1")
    assert await reader.readexactly(1) == b"1"
    await listener.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*listener.address)
    writer.write(b"2")
    assert await reader.readexactly(1) == b"2"
    await listener.close(drop_established=True)
    assert await reader.read() == b""
    writer.close()


async def test_each_simulated_node_listens_on_the_same_port(backends: Backends) -> None:
    pool = BackendPool([await backends.start(key) for key in ("a", "b", "c")])
    first = await serve_tcp(pool, "127.0.1.1", 0)
    port = first.address[1]
    others = [await serve_tcp(pool, f"127.0.1.{n}", port) for n in (2, 3)]
    try:
        answers = [await fetch((f"127.0.1.{n}", port)) for n in (1, 2, 3)]
        assert answers == [b"a", b"b", b"c"]  # one rotation, whichever node is asked
        with pytest.raises(OSError) as raised:
            await serve_tcp(pool, "127.0.1.2", port)  # no SO_REUSEPORT sharing
        assert raised.value.errno == 98  # EADDRINUSE
    finally:
        for listener in (first, *others):
            await listener.close(drop_established=True)


async def test_a_thousand_idle_connections_are_held_with_bounded_memory(
    backends: Backends,
) -> None:
    count = 1200
    pool = BackendPool([await backends.start("a", echo)])
    async with await serve_tcp(pool, "127.0.0.1", 0) as listener:
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            clients = []
            for _ in range(count):
                clients.append(await asyncio.open_connection(*listener.address))
            await eventually(lambda: backends.connections("a") == count, "every backend side")
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert listener.connections == count
        for _, writer in clients:  # every one of them still carries data
            writer.write(b"?")
        for reader, _ in clients:
            assert await reader.readexactly(1) == b"?"
        for _, writer in clients:
            writer.close()
    # What this process holds per connection: the client's end, the proxy's two, the backend's.
    assert held / count < 32 * 1024


# UDP


class UdpBackend(asyncio.DatagramProtocol):
    """Answers each datagram with its key and the datagram."""

    def __init__(self, key: str) -> None:
        self.key = key.encode()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.key + b":" + data, addr)


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.answers.put_nowait(data)


class UdpBackends:
    """UDP servers on loopback, each a ``Backend`` named by its key."""

    def __init__(self) -> None:
        self.transports: list[asyncio.DatagramTransport] = []

    async def start(self, key: str) -> Backend:
        """A backend that answers each datagram with its key and the datagram."""
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: UdpBackend(key), local_addr=("127.0.0.1", 0)
        )
        self.transports.append(transport)
        return Backend(key, "127.0.0.1", transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        for transport in self.transports:
            transport.close()


@pytest.fixture
async def udp_backends() -> AsyncIterator[UdpBackends]:
    made = UdpBackends()
    yield made
    made.close()


async def udp_client(address: tuple[str, int]) -> tuple[asyncio.DatagramTransport, UdpClient]:
    return await asyncio.get_running_loop().create_datagram_endpoint(UdpClient, remote_addr=address)


async def ask(
    transport: asyncio.DatagramTransport, client: UdpClient, data: bytes, tries: int = 50
) -> bytes:
    """Sends ``data`` until an answer comes: UDP may lose the first datagrams of a flow."""
    for _ in range(tries):
        transport.sendto(data)
        try:
            return await asyncio.wait_for(client.answers.get(), 0.2)
        except TimeoutError:
            continue
    raise AssertionError(f"no answer to {data!r}")


async def test_udp_flows_go_round_robin_and_stick_to_their_backend(
    udp_backends: UdpBackends,
) -> None:
    pool = BackendPool([await udp_backends.start(key) for key in ("a", "b")])
    async with await serve_udp(pool, "127.0.0.1", 0) as listener:
        first, first_answers = await udp_client(listener.address)
        second, second_answers = await udp_client(listener.address)
        assert await ask(first, first_answers, b"1") == b"a:1"
        assert await ask(second, second_answers, b"1") == b"b:1"
        assert await ask(first, first_answers, b"2") == b"a:2"
        assert await ask(second, second_answers, b"2") == b"b:2"
        assert listener.flows == 2
        assert pool.connections_last_minute() == {"a": 1, "b": 1}
        first.close()
        second.close()


async def test_an_idle_udp_flow_is_forgotten_and_the_next_one_rotates(
    udp_backends: UdpBackends,
) -> None:
    pool = BackendPool([await udp_backends.start(key) for key in ("a", "b")])
    async with await serve_udp(pool, "127.0.0.1", 0, idle_timeout=0.1) as listener:
        transport, answers = await udp_client(listener.address)
        assert await ask(transport, answers, b"x") == b"a:x"
        await eventually(lambda: listener.flows == 0, "the idle flow to expire")
        assert await ask(transport, answers, b"y") == b"b:y"
        transport.close()


async def test_a_udp_flow_moves_on_from_a_backend_that_is_not_there(
    udp_backends: UdpBackends,
) -> None:
    dead = Backend("dead", "127.0.0.1", free_port())
    pool = BackendPool([dead, await udp_backends.start("b")])
    async with await serve_udp(pool, "127.0.0.1", 0) as listener:
        transport, answers = await udp_client(listener.address)
        assert await ask(transport, answers, b"hello") == b"b:hello"
        assert listener.flows == 1
        transport.close()


async def test_a_udp_flow_moves_when_its_backend_leaves_the_pool(udp_backends: UdpBackends) -> None:
    a, b = await udp_backends.start("a"), await udp_backends.start("b")
    pool = BackendPool([a, b])
    async with await serve_udp(pool, "127.0.0.1", 0) as listener:
        transport, answers = await udp_client(listener.address)
        assert await ask(transport, answers, b"1") == b"a:1"
        pool.set_backends([b])
        assert await ask(transport, answers, b"2") == b"b:2"
        assert await ask(transport, answers, b"3") == b"b:3"
        assert listener.flows == 1
        transport.close()


async def test_the_oldest_udp_flow_goes_when_the_table_is_full(udp_backends: UdpBackends) -> None:
    pool = BackendPool([await udp_backends.start("a")])
    async with await serve_udp(pool, "127.0.0.1", 0, max_flows=2) as listener:
        clients = [await udp_client(listener.address) for _ in range(3)]
        for transport, answers in clients:
            assert await ask(transport, answers, b"hi") == b"a:hi"
        assert listener.flows == 2
        for transport, answers in clients:  # the first client gets a new flow
            assert await ask(transport, answers, b"again") == b"a:again"
            transport.close()
