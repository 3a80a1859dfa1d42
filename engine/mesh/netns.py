"""Network namespaces of this host: where a node whose engine runs in one of its own listens.

A Docker Engine reached over a unix socket may run in a network namespace of its own (each
node of ``swarmdeck lab`` does): its containers publish their ports there, and only there do
the node's address and the task's host ports answer. The mesh then serves that node from this
process all the same: a socket belongs to the namespace it was made in, so its listeners, the
connections they dial and its DNS server are made in the node's namespace, for the moment of a
``socket()`` call (``setns(2)``, which changes only the calling thread's namespace, and back).

    namespace = engine_namespace("/run/docker.sock")  # None: the engine shares ours
    sock = namespace.socket(socket.AF_INET, socket.SOCK_STREAM)

The swarm's virtual IPs and task addresses have no interface on such a node: ``local_subnets``
makes the subnets of the swarm's networks local to the namespace (a ``local`` route on ``lo``,
through ``ip`` from iproute2), so what its containers send there (through their bridge's
gateway, the node) reaches the mesh's listeners on those addresses. The routes go when the
namespace is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import ipaddress
import logging
import os
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator

__all__ = [
    "MakeSocket",
    "NetNamespace",
    "address_family",
    "bound_socket",
    "engine_namespace",
    "first_address_outside",
]

log = logging.getLogger(__name__)

MakeSocket = Callable[[socket.AddressFamily, socket.SocketKind], socket.socket]

CLONE_NEWNET = 0x40000000  # <sched.h>: setns(2)'s nstype for a network namespace
SIOCGIFADDR = 0x8915  # <linux/sockios.h>: an interface's IPv4 address
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_THREAD_NAMESPACE = "/proc/thread-self/ns/net"


class NetNamespace:
    """A network namespace, held open by a file descriptor (it outlives its processes)."""

    def __init__(self, path: str) -> None:
        """Opens the namespace at ``path`` (``/proc/PID/ns/net``, ``/run/netns/NAME``).

        Raises:
            OSError: it cannot be opened.
        """
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._local: set[str] = set()  # subnets made local here

    def close(self) -> None:
        """Removes the routes it added, and lets the namespace go."""
        if self._fd < 0:
            return
        for subnet in sorted(self._local):
            self._route("del", subnet)
        self._local.clear()
        os.close(self._fd)
        self._fd = -1

    async def local_subnets(self, subnets: Iterable[str]) -> None:
        """Makes ``subnets`` (CIDR) local to the namespace, and no longer those it made local
        before that are not among them. A route that cannot be added is logged."""
        wanted = set(subnets)
        for subnet in sorted(self._local - wanted):
            self._local.discard(subnet)
            await asyncio.to_thread(self._route, "del", subnet)
        for subnet in sorted(wanted - self._local):
            if await asyncio.to_thread(self._route, "replace", subnet):
                self._local.add(subnet)

    def socket(self, family: socket.AddressFamily, kind: socket.SocketKind) -> socket.socket:
        """A new socket in this namespace.

        Raises:
            OSError: the namespace cannot be entered (it needs CAP_SYS_ADMIN), or no socket.
        """
        with self._entered():
            return socket.socket(family, kind)

    def addresses(self) -> list[str]:
        """The IPv4 addresses of its interfaces, but loopback's, in the interfaces' order."""
        found = []
        with self._entered(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            for _, name in socket.if_nameindex():
                request = struct.pack("256s", name.encode()[:15])
                try:
                    answer = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, request)
                except OSError:  # no IPv4 address on it
                    continue
                address = ipaddress.IPv4Address(answer[20:24])
                if not address.is_loopback:
                    found.append(str(address))
        return found

    def _route(self, verb: str, subnet: str) -> bool:
        """``ip route VERB`` of ``subnet`` as a local route on ``lo``; whether it was done."""
        return self._ip("route", verb, "local", subnet, "dev", "lo", "table", "local")

    def _ip(self, *args: str) -> bool:
        """Runs ``ip ARGS`` in the namespace (a child forked from a thread in it is born in
        it); whether it did what it was asked."""
        ip = shutil.which("ip")
        if ip is None:
            log.warning(
                "%s: ip %s: not found (apt-get install iproute2)", self.path, " ".join(args)
            )
            return False
        with self._entered():
            done = subprocess.run(
                [ip, *args], capture_output=True, text=True, timeout=10, check=False
            )
        if done.returncode != 0:
            log.warning("%s: ip %s: %s", self.path, " ".join(args), done.stderr.strip())
        return done.returncode == 0

    @contextlib.contextmanager
    def _entered(self) -> Iterator[None]:
        """This thread in the namespace for the block's duration, then back in its own."""
        home = _home_namespace()
        _setns(self._fd)
        try:
            yield
        finally:
            _setns(home)


_homes = threading.local()  # each thread's own namespace, held open once


def _home_namespace() -> int:
    """A descriptor of this thread's own namespace (the one it is in outside ``_entered``)."""
    fd: int | None = getattr(_homes, "fd", None)
    if fd is None:
        fd = _homes.fd = os.open(_THREAD_NAMESPACE, os.O_RDONLY | os.O_CLOEXEC)
    return fd


def engine_namespace(socket_path: str) -> NetNamespace | None:
    """The network namespace of the engine serving the unix socket ``socket_path``, found by
    the process at the other end (``SO_PEERCRED``); None when it is this thread's own.

    Raises:
        OSError: the socket cannot be reached, or the engine's namespace cannot be opened
            (another user's process: it needs root).
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.connect(socket_path)
        credentials = probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, _, _ = _PEERCRED.unpack(credentials)
    theirs = f"/proc/{pid}/ns/net"
    if os.stat(theirs).st_ino == os.stat(_THREAD_NAMESPACE).st_ino:
        return None
    return NetNamespace(theirs)


def bound_socket(
    sockets: MakeSocket, kind: socket.SocketKind, host: str, port: int
) -> socket.socket:
    """A socket of ``sockets`` bound to ``host:port``. Never with SO_REUSEPORT, and with
    SO_REUSEADDR for TCP only (a TCP listener rebinds at once after a restart; on UDP it would
    let a second socket share the port), so a second bind fails with EADDRINUSE.

    Raises:
        OSError: the address cannot be bound.
    """
    sock = sockets(address_family(host), kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def address_family(host: str) -> socket.AddressFamily:
    """The family of the IP address ``host``: AF_INET6 or AF_INET."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def first_address_outside(addresses: Iterable[str], subnets: Iterable[str]) -> str | None:
    """The first of ``addresses`` in none of ``subnets`` (CIDR), or None."""
    networks = [ipaddress.ip_network(subnet, strict=False) for subnet in subnets]
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if not any(ip.version == n.version and ip in n for n in networks):
            return address
    return None


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")
