"""The mesh's DNS server, queried with dnspython over real UDP and TCP sockets."""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import AsyncIterator, Callable, Sequence
from typing import cast

import dns.asyncquery
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.mesh import dnswire as wire
from engine.mesh.dns import RESPONSE_TTL, DnsServer, serve_dns

SERVICES = {
    "web": ["10.0.0.2"],  # endpoint mode vip: the VIP
    "tasks.web": ["10.0.0.3", "10.0.0.4", "10.0.0.5"],
    "db": ["10.0.1.3", "10.0.1.4"],  # endpoint mode dnsrr: the tasks
    "tasks.db": ["10.0.1.3", "10.0.1.4"],
    "idle": [],  # a service with no running task
}
NAMES = {"10.0.0.3": "web.1.abcdef"}


class Swarm:
    """The callbacks the integrator gives the server, recording what they were asked."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = records
        self.asked: list[str] = []

    def resolve(self, name: str) -> Sequence[str] | None:
        self.asked.append(name)
        return self.records.get(name)

    def reverse(self, address: str) -> str | None:
        return NAMES.get(address)


@pytest.fixture
def swarm() -> Swarm:
    return Swarm(dict(SERVICES))


@pytest.fixture
async def server(swarm: Swarm) -> AsyncIterator[DnsServer]:
    async with await serve_dns(swarm.resolve, "127.0.0.1", 0, reverse=swarm.reverse) as made:
        yield made


async def query(
    server: DnsServer, name: str, rdtype: str = "A", tcp: bool = False, **options: object
) -> dns.message.Message:
    message = dns.message.make_query(name, rdtype, **options)  # type: ignore[arg-type]
    host, port = server.address
    if tcp:
        return await dns.asyncquery.tcp(message, host, port=port, timeout=10)
    return await dns.asyncquery.udp(message, host, port=port, timeout=10)


def addresses(answer: dns.message.Message) -> list[str]:
    return [item.address for rrset in answer.answer for item in rrset]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_a_service_name_resolves_with_ttl_600(server: DnsServer, tcp: bool) -> None:
    answer = await query(server, "web", tcp=tcp)
    assert answer.rcode() == dns.rcode.NOERROR
    assert addresses(answer) == ["10.0.0.2"]
    (rrset,) = answer.answer
    assert rrset.ttl == RESPONSE_TTL == 600
    assert answer.flags & dns.flags.RA
    assert not answer.flags & dns.flags.AA


async def test_tasks_names_and_dnsrr_names_give_every_address_shuffled(
    server: DnsServer, swarm: Swarm
) -> None:
    orders = set()
    for _ in range(20):
        answer = await query(server, "tasks.web")
        orders.add(tuple(addresses(answer)))
    assert {frozenset(order) for order in orders} == {frozenset(SERVICES["tasks.web"])}
    assert len(orders) > 1  # 20 answers in one order out of 6 would be a 1 in 6**19 chance
    assert set(swarm.asked) == {"tasks.web"}
    assert sorted(addresses(await query(server, "db"))) == SERVICES["db"]


async def test_names_are_matched_in_any_case_and_answered_as_asked(
    server: DnsServer, swarm: Swarm
) -> None:
    answer = await query(server, "TASKS.Web.")
    assert sorted(addresses(answer)) == SERVICES["tasks.web"]
    assert answer.answer[0].name.to_text() == "TASKS.Web."
    assert swarm.asked == ["tasks.web"]


async def test_a_known_name_without_address_is_answered_empty(server: DnsServer) -> None:
    answer = await query(server, "idle")
    assert (answer.rcode(), answer.answer) == (dns.rcode.NOERROR, [])


async def test_aaaa_of_a_known_name_is_empty_and_not_forwarded(server: DnsServer) -> None:
    answer = await query(server, "web", "AAAA")
    assert (answer.rcode(), answer.answer) == (dns.rcode.NOERROR, [])


async def test_mx_of_a_known_name_is_an_implicit_mx(server: DnsServer) -> None:
    answer = await query(server, "web", "MX")
    assert (answer.rcode(), answer.answer) == (dns.rcode.NOERROR, [])


async def test_an_address_of_the_swarm_has_a_name(server: DnsServer) -> None:
    answer = await query(server, "3.0.0.10.in-addr.arpa", "PTR")
    assert [item.target.to_text() for rrset in answer.answer for item in rrset] == ["web.1.abcdef."]
    assert answer.answer[0].ttl == 600


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [("example.com", "A"), ("nowhere", "A"), ("nowhere", "AAAA"), ("web", "TXT")],
)
async def test_without_upstream_what_the_swarm_does_not_know_fails(
    server: DnsServer, name: str, rdtype: str
) -> None:
    answer = await query(server, name, rdtype)
    assert answer.rcode() == dns.rcode.SERVFAIL
    assert not answer.flags & dns.flags.RA


async def test_a_udp_answer_too_big_is_truncated_and_whole_over_tcp(swarm: Swarm) -> None:
    swarm.records["big"] = [f"10.0.2.{n}" for n in range(1, 101)]
    async with await serve_dns(swarm.resolve, "127.0.0.1", 0) as server:
        small = await query(server, "big")
        assert small.flags & dns.flags.TC
        assert 0 < len(addresses(small)) < 100
        assert len(addresses(await query(server, "big", use_edns=0, payload=4096))) == 100
        assert len(addresses(await query(server, "big", tcp=True))) == 100


async def test_a_failing_callback_gets_servfail_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(name: str) -> Sequence[str] | None:
        raise RuntimeError("store unavailable")

    async with await serve_dns(broken, "127.0.0.1", 0) as server:
        answer = await query(server, "web")
    assert answer.rcode() == dns.rcode.SERVFAIL
    assert "resolving web (type 1) failed" in caplog.text


# Malformed packets, sent raw over UDP.


class Raw(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.replies.put_nowait(data)


async def reply_to(server: DnsServer, packet: bytes) -> dns.message.Message | None:
    """What the server answers to ``packet``: a valid query is sent right after it on the same
    socket, and the server answers in order, so a first reply for the valid query means none."""
    transport, raw = await asyncio.get_running_loop().create_datagram_endpoint(
        Raw, remote_addr=server.address
    )
    try:
        probe = dns.message.make_query("web", "A")
        probe.id = 4242
        cast(asyncio.DatagramTransport, transport).sendto(packet)
        cast(asyncio.DatagramTransport, transport).sendto(probe.to_wire())
        first = await asyncio.wait_for(raw.replies.get(), 10)
        if first[:2] == struct.pack("!H", 4242):
            return None
        return dns.message.from_wire(first, question_only=True)
    finally:
        transport.close()


def header(
    flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0, id_: int = 7
) -> bytes:
    return struct.pack("!6H", id_, flags, qd, an, ns, ar)


QUESTION = b"\x03web\x00\x00\x01\x00\x01"


@pytest.mark.parametrize(
    ("packet", "rcode"),
    [
        (header(qd=2) + QUESTION + QUESTION, dns.rcode.FORMERR),
        (header(qd=0), dns.rcode.FORMERR),
        (header(ar=3) + QUESTION, dns.rcode.FORMERR),
        (header() + b"\x03we", dns.rcode.FORMERR),  # the name runs past the end
        (header() + b"\xc0\x0c\x00\x01\x00\x01", dns.rcode.FORMERR),  # a pointer loop
        (header() + b"\x83web\x00\x00\x01\x00\x01", dns.rcode.FORMERR),  # a bad label type
        (header(an=1) + QUESTION + b"\xc0\x0c\x00\x01\x00\x01", dns.rcode.FORMERR),
        (header(flags=5 << 11) + QUESTION, dns.rcode.NOTIMP),  # UPDATE
    ],
    ids=[
        "two-questions",
        "no-question",
        "three-additional",
        "short-name",
        "pointer-loop",
        "label-type",
        "short-record",
        "update",
    ],
)
async def test_a_malformed_query_gets_formerr_or_notimp(
    server: DnsServer, packet: bytes, rcode: dns.rcode.Rcode
) -> None:
    answer = await reply_to(server, packet)
    assert answer is not None
    assert answer.rcode() == rcode
    assert answer.id == 7
    assert answer.flags & dns.flags.QR
    assert answer.answer == []


@pytest.mark.parametrize(
    "packet",
    [b"", b"\x00\x07\x01", header(), header(flags=0x8100) + QUESTION],
    ids=["empty", "short-header", "question-missing", "a-response"],
)
async def test_a_packet_that_is_not_a_query_is_dropped(server: DnsServer, packet: bytes) -> None:
    assert await reply_to(server, packet) is None


async def test_garbage_never_stops_the_server(server: DnsServer) -> None:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        Raw, remote_addr=server.address
    )
    for size in range(2000):
        cast(asyncio.DatagramTransport, transport).sendto(header(id_=size) + os.urandom(size % 300))
        await asyncio.sleep(0)  # the server reads a datagram a turn: keep its buffer from filling
    transport.close()
    _, writer = await asyncio.open_connection(*server.address)
    writer.write(struct.pack("!H", 300) + os.urandom(300) + b"\x00\x01")
    writer.close()
    assert addresses(await query(server, "web")) == ["10.0.0.2"]
    assert addresses(await query(server, "web", tcp=True)) == ["10.0.0.2"]


# Forwarding to upstream servers.


Answerer = Callable[[dns.message.Message], dns.message.Message]


class Upstream(asyncio.DatagramProtocol):
    """A DNS server standing for the host's resolvers, over UDP and TCP."""

    def __init__(self, answer: Answerer) -> None:
        self.answer = answer
        self.transport: asyncio.DatagramTransport | None = None
        self.asked: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def respond(self, wire: bytes) -> bytes:
        message = dns.message.from_wire(wire)
        self.asked.append(message.question[0].name.to_text())
        return self.answer(message).to_wire()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.respond(data), addr)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
        answer = self.respond(await reader.readexactly(size))
        writer.write(struct.pack("!H", len(answer)) + answer)
        await writer.drain()
        writer.close()


def answering(address: str) -> Answerer:
    def answer(message: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(message)
        name = message.question[0].name
        response.answer.append(dns.rrset.from_text(name, 30, "IN", "A", address))
        return response

    return answer


def failing(rcode: dns.rcode.Rcode) -> Answerer:
    def answer(message: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(message)
        response.set_rcode(rcode)
        return response

    return answer


@pytest.fixture
async def upstreams() -> AsyncIterator[Callable[[Answerer], asyncio.Future[tuple[str, int]]]]:
    closing: list[Callable[[], object]] = []

    async def start(answer: Answerer) -> tuple[str, int]:
        upstream = Upstream(answer)
        loop = asyncio.get_running_loop()
        for _ in range(20):  # a UDP port whose TCP twin is free too
            transport, _ = await loop.create_datagram_endpoint(
                lambda: upstream, local_addr=("127.0.0.1", 0)
            )
            port = transport.get_extra_info("sockname")[1]
            try:
                tcp = await asyncio.start_server(upstream.serve, "127.0.0.1", port)
            except OSError:
                transport.close()
                continue
            closing.extend((transport.close, tcp.close))
            return ("127.0.0.1", port)
        raise AssertionError("no port free for both UDP and TCP")

    yield start  # type: ignore[misc]
    for close in closing:
        close()


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_other_names_are_forwarded_past_failing_upstreams(
    swarm: Swarm, upstreams: Callable[[Answerer], asyncio.Future[tuple[str, int]]], tcp: bool
) -> None:
    servers = [
        await upstreams(failing(dns.rcode.SERVFAIL)),
        await upstreams(failing(dns.rcode.REFUSED)),
        await upstreams(answering("192.0.2.80")),
    ]
    async with await serve_dns(swarm.resolve, "127.0.0.1", 0, upstreams=servers) as server:
        answer = await query(server, "www.example.com", tcp=tcp)
        assert addresses(answer) == ["192.0.2.80"]
        assert answer.answer[0].ttl == 30  # the upstream's answer, passed on
        assert addresses(await query(server, "web", tcp=tcp)) == ["10.0.0.2"]  # never forwarded


async def test_an_upstream_nxdomain_is_passed_on(
    swarm: Swarm, upstreams: Callable[[Answerer], asyncio.Future[tuple[str, int]]]
) -> None:
    servers = [
        await upstreams(failing(dns.rcode.NXDOMAIN)),
        await upstreams(answering("192.0.2.1")),
    ]
    async with await serve_dns(swarm.resolve, "127.0.0.1", 0, upstreams=servers) as server:
        answer = await query(server, "nowhere.example")
    assert answer.rcode() == dns.rcode.NXDOMAIN


async def test_when_no_upstream_answers_the_query_fails(
    swarm: Swarm, upstreams: Callable[[Answerer], asyncio.Future[tuple[str, int]]]
) -> None:
    servers = [await upstreams(failing(dns.rcode.SERVFAIL)), ("127.0.0.1", 9)]  # 9: discard
    async with await serve_dns(swarm.resolve, "127.0.0.1", 0, upstreams=servers) as server:
        for tcp in (False, True):
            answer = await query(server, "www.example.com", tcp=tcp)
            assert answer.rcode() == dns.rcode.SERVFAIL


async def test_only_three_upstreams_are_used_never_itself_and_addresses_are_checked(
    swarm: Swarm,
) -> None:
    async with await serve_dns(swarm.resolve, "127.0.0.1", 0) as server:
        server.set_upstreams(
            [server.address, "10.0.0.1", "10.0.0.2", ("10.0.0.3", 5353), "10.0.0.4"]
        )  # never itself
        assert server.upstreams == (("10.0.0.1", 53), ("10.0.0.2", 53), ("10.0.0.3", 5353))
        with pytest.raises(ValueError, match=r"invalid upstream DNS server 'dns\.google'"):
            server.set_upstreams(["dns.google"])
        assert len(server.upstreams) == 3


async def test_errors_from_closed_tcp_clients_are_quiet(
    server: DnsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(5):
        _, writer = await asyncio.open_connection(*server.address)
        writer.write(b"\x00")  # half a length prefix, then gone
        writer.close()
    assert addresses(await query(server, "web", tcp=True)) == ["10.0.0.2"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []


@given(st.binary(max_size=600))
@settings(max_examples=500, deadline=None)
def test_reading_any_bytes_gives_a_message_or_malformed(packet: bytes) -> None:
    query = header() + packet
    try:
        message = wire.unpack(query)
    except wire.Malformed:
        return
    assert message.header.id == 7
