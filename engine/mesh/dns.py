"""The mesh's embedded DNS server, answering as Docker's (moby ``libnetwork/resolver.go``, on
miekg/dns).

``serve_dns(resolve, host, port)`` answers over UDP and TCP on one address and port. Names the
swarm knows come from ``resolve``, a callback the integrator provides:

- it is called with the queried name in lower case, without the final dot, escaped as miekg/dns
  writes names (``web``, ``tasks.web``, ``web.my-net``); the name is passed as asked: the
  callback strips search domains or network names if it wants to;
- it returns the name's IPv4 addresses as strings (a service's VIP, or its tasks' addresses in
  ``dnsrr`` mode and for ``tasks.NAME``), an empty list for a name it knows that has none, or
  None for a name it does not know;
- it runs on the event loop, for every query: it must answer from memory, without blocking.

Answers, as Docker's resolver gives them:

- A: the addresses with TTL 600, shuffled (``dnsrr``'s round-robin); a UDP reply holds what fits
  in 512 octets (or the query's EDNS size) and sets TC when some were left out;
- AAAA of a known name: NOERROR with no answer (the mesh is IPv4; the name must not be forwarded);
  MX of a name with addresses: NOERROR with no answer ("implicit MX", RFC 5321 5.1);
- PTR of an address in ``in-addr.arpa``: from the optional ``reverse`` callback (address in
  dotted form -> name), TTL 600;
- anything else, and names ``resolve`` does not know, go to the ``upstreams`` (at most 3, tried
  in order, each within 4 s, over the protocol the query came on, at most 1024 forwards at once:
  past that REFUSED); an upstream's SERVFAIL or REFUSED moves on to the next one, any other
  answer is passed on as it came. Without upstreams, or when none answered: SERVFAIL.

Packets, as miekg/dns's server treats them: shorter than a header, or a response (QR set):
dropped; an opcode other than QUERY or NOTIFY: NOTIMP; not exactly one question, more than one
answer or authority record, more than two additional records: FORMERR; a record or name that
cannot be read: FORMERR; a header that claims a question the packet does not hold: dropped.
Over TCP, a connection gets 2 s for its first query, 8 s between queries, 128 queries at most.

Not answered here (forwarded, as unknown names are): SRV, and PTR of IPv6 addresses. Docker's
rule for ``ndots`` set by the user does not apply: there are no per-container options here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import cast

from engine.mesh import dnswire as wire
from engine.mesh.closing import Closing
from engine.mesh.netns import MakeSocket, bound_socket

__all__ = [
    "MAX_CONCURRENT",
    "MAX_UPSTREAMS",
    "RESPONSE_TTL",
    "UPSTREAM_TIMEOUT",
    "DnsServer",
    "Resolve",
    "Reverse",
    "serve_dns",
]

log = logging.getLogger(__name__)

RESPONSE_TTL = 600  # libnetwork's respTTL
MAX_UPSTREAMS = 3  # libnetwork's maxExtDNS
UPSTREAM_TIMEOUT = 4.0  # libnetwork's extIOTimeout, seconds
MAX_CONCURRENT = 1024  # libnetwork's maxConcurrent forwarded queries
DNS_PORT = 53
TCP_READ_TIMEOUT = 2.0  # miekg/dns's dnsTimeout: the first query on a TCP connection
TCP_IDLE_TIMEOUT = 8.0  # miekg/dns's tcpIdleTimeout: between queries
MAX_TCP_QUERIES = 128  # miekg/dns's maxTCPQueries per connection
BIND_ATTEMPTS = 20  # port 0: tries to find a port free for both UDP and TCP

Resolve = Callable[[str], Sequence[str] | None]
Reverse = Callable[[str], str | None]

_REVERSE_V4 = ".in-addr.arpa"
_LENGTH = struct.Struct("!H")


async def serve_dns(
    resolve: Resolve,
    host: str,
    port: int,
    *,
    upstreams: Iterable[str | tuple[str, int]] = (),
    reverse: Reverse | None = None,
    sockets: MakeSocket = socket.socket,
) -> DnsServer:
    """Starts answering DNS over UDP and TCP on ``host:port`` (port 0: one free for both).

    Args:
        resolve: the swarm's names, see the module's docstring.
        host: the address to listen on.
        port: the port, the same for UDP and TCP.
        upstreams: servers for other names, as addresses (port 53) or ``(address, port)``.
        reverse: the name of an IPv4 address, for PTR queries.
        sockets: makes its listening sockets: another network namespace's to answer there
            (names are still forwarded from this thread's).

    Raises:
        OSError: the address cannot be bound.
        ValueError: an upstream is not an address.
    """
    upstreams = list(upstreams)
    server = DnsServer(resolve, reverse)
    server.set_upstreams(upstreams)  # checked before anything is bound
    loop = asyncio.get_running_loop()
    for attempt in range(BIND_ATTEMPTS):
        udp, _ = await loop.create_datagram_endpoint(
            lambda: _UdpSide(server), sock=bound_socket(sockets, socket.SOCK_DGRAM, host, port)
        )
        bound = udp.get_extra_info("sockname")[1]
        try:
            tcp = await asyncio.start_server(
                server._serve_connection,
                sock=bound_socket(sockets, socket.SOCK_STREAM, host, bound),
            )
        except OSError:
            udp.close()
            if port or attempt == BIND_ATTEMPTS - 1:
                raise
            continue
        server._udp = udp
        server._tcp = tcp
        server.address = (host, bound)
        server.set_upstreams(upstreams)  # now that its own address is known
        return server
    raise AssertionError("unreachable")


class DnsServer(Closing):
    """A DNS server of the mesh; made by ``serve_dns``.

    Attributes:
        address: the ``(host, port)`` it answers on, over UDP and TCP.
    """

    def __init__(self, resolve: Resolve, reverse: Reverse | None) -> None:
        self.address: tuple[str, int] = ("", 0)
        self._resolve = resolve
        self._reverse = reverse
        self._upstreams: tuple[tuple[str, int], ...] = ()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._forwarding: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._waiting = 0

    @property
    def upstreams(self) -> tuple[tuple[str, int], ...]:
        """The servers other names go to, in the order they are tried."""
        return self._upstreams

    def set_upstreams(self, upstreams: Iterable[str | tuple[str, int]]) -> None:
        """Sets the servers other names go to; the first ``MAX_UPSTREAMS`` count, and this
        server's own address is left out (as Docker leaves out its own).

        Raises:
            ValueError: an upstream is not an IP address and port; nothing changes.
        """
        checked = []
        for upstream in upstreams:
            address, port = (upstream, DNS_PORT) if isinstance(upstream, str) else upstream
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"invalid upstream DNS server {address!r}") from None
            if not 0 < port < 65536:
                raise ValueError(f"invalid upstream DNS server port {port!r}")
            if (address, port) != self.address:
                checked.append((address, port))
        self._upstreams = tuple(checked[:MAX_UPSTREAMS])

    async def close(self) -> None:
        """Stops answering; queries being forwarded are dropped."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        for writer in list(self._connections):
            writer.transport.abort()
        for task in list(self._forwarding):
            task.cancel()
        await asyncio.gather(*self._forwarding, return_exceptions=True)

    def _answer(self, packet: bytes, tcp: bool) -> bytes | wire.Message | None:
        """The reply to ``packet``, the query itself when it must be forwarded, or None to drop
        it."""
        header = wire.unpack_header(packet)
        if header is None or header.flags & wire.FLAG_QR:
            return None
        if header.opcode not in (wire.OPCODE_QUERY, wire.OPCODE_NOTIFY):
            return _rejection(header, wire.RCODE_NOTIMP)
        if header.qdcount != 1 or header.ancount > 1 or header.nscount > 1 or header.arcount > 2:
            return _rejection(header, wire.RCODE_FORMERR)
        try:
            message = wire.unpack(packet)
        except wire.Malformed as error:
            return _rejection(header, wire.RCODE_FORMERR, error.question)
        question = message.question
        if question is None:
            return None
        limit = wire.MAX_SIZE if tcp else max(wire.MIN_UDP_SIZE, message.udp_size or 0)
        try:
            answers = self._local_answers(question)
        except Exception:
            log.exception("resolving %s (type %d) failed", question.name, question.qtype)
            return _reply(header, question, wire.RCODE_SERVFAIL, recursion_available=False)
        if answers is None:
            return message
        return _reply(header, question, wire.RCODE_NOERROR, answers, limit)

    def _local_answers(self, question: wire.Question) -> list[bytes] | None:
        """The swarm's answer records, or None for a question the swarm does not answer."""
        qtype = question.qtype
        if qtype == wire.TYPE_A:
            addresses = self._resolve(question.name)
            if addresses is None:
                return None
            packed = [ipaddress.IPv4Address(address).packed for address in addresses]
            random.shuffle(packed)
            return [wire.a_record(address, RESPONSE_TTL) for address in packed]
        if qtype == wire.TYPE_AAAA:
            return None if self._resolve(question.name) is None else []
        if qtype == wire.TYPE_MX:
            return [] if self._resolve(question.name) else None
        if qtype == wire.TYPE_PTR and self._reverse is not None:
            address = _reversed_address(question.name)
            target = self._reverse(address) if address is not None else None
            if not target:
                return None
            labels = tuple(label.encode("ascii") for label in target.rstrip(".").split("."))
            if not all(0 < len(label) < 64 for label in labels):
                raise ValueError(f"invalid name {target!r} for {address}")
            return [wire.ptr_record(labels, RESPONSE_TTL)]
        return None

    async def _forward(self, packet: bytes, message: wire.Message, tcp: bool) -> bytes:
        header, question = message.header, message.question
        for upstream in self._upstreams:
            if self._waiting >= MAX_CONCURRENT:
                return _reply(header, question, wire.RCODE_REFUSED, recursion_available=False)
            self._waiting += 1
            try:
                async with asyncio.timeout(UPSTREAM_TIMEOUT):
                    await self._slots.acquire()
            except TimeoutError:
                log.error("more than %d concurrent queries", MAX_CONCURRENT)
                return _reply(header, question, wire.RCODE_REFUSED, recursion_available=False)
            finally:
                self._waiting -= 1
            try:
                exchange = _exchange_tcp if tcp else _exchange_udp
                response = await exchange(upstream, packet, header.id)
            finally:
                self._slots.release()
            if response is None:
                continue
            if response[3] & 0xF in (wire.RCODE_SERVFAIL, wire.RCODE_REFUSED):
                continue
            return response
        return _reply(header, question, wire.RCODE_SERVFAIL, recursion_available=False)

    def _forward_udp(self, packet: bytes, message: wire.Message, client: tuple[str, int]) -> None:
        async def forward() -> None:
            response = await self._forward(packet, message, tcp=False)
            if self._udp is not None:
                self._udp.sendto(response, client)

        task = asyncio.get_running_loop().create_task(forward())
        self._forwarding.add(task)
        task.add_done_callback(self._forwarding.discard)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._connections.add(writer)
        timeout = TCP_READ_TIMEOUT
        try:
            for _ in range(MAX_TCP_QUERIES):
                async with asyncio.timeout(timeout):
                    (size,) = _LENGTH.unpack(await reader.readexactly(2))
                    packet = await reader.readexactly(size)
                answer = self._answer(packet, tcp=True)
                if isinstance(answer, wire.Message):
                    answer = await self._forward(packet, answer, tcp=True)
                if answer is not None:
                    writer.write(_LENGTH.pack(len(answer)) + answer)
                    await writer.drain()
                timeout = TCP_IDLE_TIMEOUT
        except (TimeoutError, asyncio.IncompleteReadError, OSError):
            pass  # the client went, or was too slow: its connection ends
        finally:
            self._connections.discard(writer)
            writer.close()


class _UdpSide(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = self._server._answer(data, tcp=False)
        if isinstance(answer, wire.Message):
            self._server._forward_udp(data, answer, addr)
        elif answer is not None and self._transport is not None:
            self._transport.sendto(answer, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("dns over udp: %s", exc)


class _UpstreamAnswer(asyncio.DatagramProtocol):
    def __init__(self, query_id: int) -> None:
        self.query_id = query_id
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        header = wire.unpack_header(data)
        # Anything but the answer to our query is ignored, as miekg/dns's client does.
        matches = header and header.id == self.query_id and header.flags & wire.FLAG_QR
        if matches and not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


async def _exchange_udp(upstream: tuple[str, int], packet: bytes, query_id: int) -> bytes | None:
    loop = asyncio.get_running_loop()
    transport = None
    try:
        async with asyncio.timeout(UPSTREAM_TIMEOUT):
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _UpstreamAnswer(query_id), remote_addr=upstream
            )
            transport.sendto(packet)
            return await protocol.answer
    except (OSError, TimeoutError) as error:
        log.debug("upstream %s:%d: %r", upstream[0], upstream[1], error)
        return None
    finally:
        if transport is not None:
            transport.close()


async def _exchange_tcp(upstream: tuple[str, int], packet: bytes, query_id: int) -> bytes | None:
    writer = None
    try:
        async with asyncio.timeout(UPSTREAM_TIMEOUT):
            reader, writer = await asyncio.open_connection(*upstream)
            writer.write(_LENGTH.pack(len(packet)) + packet)
            while True:
                (size,) = _LENGTH.unpack(await reader.readexactly(2))
                answer = await reader.readexactly(size)
                header = wire.unpack_header(answer)
                if header and header.id == query_id and header.flags & wire.FLAG_QR:
                    return answer
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
        log.debug("upstream %s:%d: %r", upstream[0], upstream[1], error)
        return None
    finally:
        if writer is not None:
            writer.close()


def _reply(
    header: wire.Header,
    question: wire.Question | None,
    rcode: int,
    answers: list[bytes] | None = None,
    limit: int = wire.MAX_SIZE,
    *,
    recursion_available: bool = True,
) -> bytes:
    """A reply as miekg/dns's ``SetReply`` makes one (``SetRcode`` without RA)."""
    flags = wire.FLAG_QR | header.opcode << 11 | rcode
    if header.opcode == wire.OPCODE_QUERY:
        flags |= header.flags & (wire.FLAG_RD | wire.FLAG_CD)
    if recursion_available:
        flags |= wire.FLAG_RA
    return wire.reply(header.id, flags, question, answers or [], limit)


def _rejection(header: wire.Header, rcode: int, question: wire.Question | None = None) -> bytes:
    """FORMERR or NOTIMP as miekg/dns's server sends them: the query's header bits kept but
    QR set and AA and Z cleared, the question if it was read, nothing else."""
    opcode = header.opcode if rcode == wire.RCODE_NOTIMP else wire.OPCODE_QUERY
    kept = wire.FLAG_TC | wire.FLAG_RD | wire.FLAG_RA | wire.FLAG_AD | wire.FLAG_CD
    flags = (header.flags & kept) | wire.FLAG_QR | opcode << 11 | rcode
    return wire.reply(header.id, flags, question, [])


def _reversed_address(name: str) -> str | None:
    """``10.0.0.5`` for ``5.0.0.10.in-addr.arpa``; None for anything else."""
    if not name.endswith(_REVERSE_V4):
        return None
    octets = name.removesuffix(_REVERSE_V4).split(".")
    if len(octets) != 4 or not all(octet.isdigit() and int(octet) < 256 for octet in octets):
        return None
    return ".".join(str(int(octet)) for octet in reversed(octets))
