"""Sockets made in a network namespace, and finding an engine's namespace and address."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from engine.mesh.netns import NetNamespace, engine_namespace, first_address_outside
from engine.mesh.pool import BackendPool
from engine.mesh.proxy import serve_tcp, serve_udp
from tests.engine.mesh.conftest import Backends

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="entering a namespace needs root")


def test_a_nodes_address_is_its_first_outside_its_engines_networks() -> None:
    addresses = ["172.17.0.1", "10.213.0.11", "172.18.0.1"]
    subnets = ["172.17.0.0/16", "172.18.0.0/16", "fd00::/64"]
    assert first_address_outside(addresses, subnets) == "10.213.0.11"
    assert first_address_outside(["172.17.0.1"], subnets) is None


async def test_the_mesh_listens_and_dials_with_the_sockets_it_is_given(
    backends: Backends,
) -> None:
    made: list[socket.SocketKind] = []

    def sockets(family: socket.AddressFamily, kind: socket.SocketKind) -> socket.socket:
        made.append(kind)
        return socket.socket(family, kind)

    pool = BackendPool([await backends.start("a")])
    async with await serve_tcp(pool, "127.0.0.1", 0, sockets=sockets) as listener:
        reader, writer = await asyncio.open_connection(*listener.address)
        writer.write_eof()
        assert await reader.read() == b"a"
        writer.close()
    assert made == [socket.SOCK_STREAM, socket.SOCK_STREAM]  # the listener, then the dial
    async with await serve_udp(BackendPool(), "127.0.0.1", 0, sockets=sockets):
        assert made[-1] == socket.SOCK_DGRAM


async def test_an_engine_in_this_processs_namespace_needs_none_of_its_own(
    tmp_path: Path,
) -> None:
    server = await asyncio.start_unix_server(lambda r, w: w.close(), str(tmp_path / "e.sock"))
    async with server:
        assert await asyncio.to_thread(engine_namespace, str(tmp_path / "e.sock")) is None


@root_only
def test_a_namespaces_sockets_are_made_in_it() -> None:
    namespace = NetNamespace("/proc/self/ns/net")
    try:
        sock = namespace.socket(socket.AF_INET, socket.SOCK_STREAM)
        with sock:
            sock.bind(("127.0.0.1", 0))
            assert sock.getsockname()[0] == "127.0.0.1"
        assert "127.0.0.1" not in namespace.addresses()  # loopback is no node's address
    finally:
        namespace.close()
