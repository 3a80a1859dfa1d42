"""DNS messages on the wire (RFC 1035, EDNS from RFC 6891): what the mesh's resolver reads and
writes, and no more.

``unpack`` reads a query as miekg/dns (the library Docker's resolver is built on) reads it: the
question, then every resource record of the other sections, checked against the packet's bounds;
names may use compression pointers. A message that ends exactly where a record would start holds
fewer records than its header says (miekg's leniency); one that ends inside a record is
``Malformed``. Replies are built whole: the question, then answers whose owner name is a pointer
to it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "CLASS_IN",
    "FLAG_AA",
    "FLAG_AD",
    "FLAG_CD",
    "FLAG_QR",
    "FLAG_RA",
    "FLAG_RD",
    "FLAG_TC",
    "HEADER",
    "MAX_SIZE",
    "MIN_UDP_SIZE",
    "OPCODE_NOTIFY",
    "OPCODE_QUERY",
    "RCODE_FORMERR",
    "RCODE_NOERROR",
    "RCODE_NOTIMP",
    "RCODE_NXDOMAIN",
    "RCODE_REFUSED",
    "RCODE_SERVFAIL",
    "TYPE_A",
    "TYPE_AAAA",
    "TYPE_MX",
    "TYPE_OPT",
    "TYPE_PTR",
    "Header",
    "Malformed",
    "Message",
    "Question",
    "a_record",
    "encode_name",
    "ptr_record",
    "reply",
    "unpack",
    "unpack_header",
]

HEADER = struct.Struct("!6H")  # ID, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT
MIN_UDP_SIZE = 512  # RFC 1035's UDP limit; EDNS may raise it, never lower it (RFC 6891)
MAX_SIZE = 65535  # a TCP message's length prefix is 16 bits
MAX_NAME = 255  # octets of a name on the wire (RFC 1035 3.1)
MAX_POINTERS = 126  # miekg/dns's maxCompressionPointers: (255 + 1) / 2 - 2

FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
FLAG_RD = 0x0100
FLAG_RA = 0x0080
FLAG_AD = 0x0020
FLAG_CD = 0x0010

OPCODE_QUERY = 0
OPCODE_NOTIFY = 4

RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4
RCODE_REFUSED = 5

TYPE_A = 1
TYPE_PTR = 12
TYPE_MX = 15
TYPE_AAAA = 28
TYPE_OPT = 41
CLASS_IN = 1

_RR_FIXED = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH
_QUESTION_FIXED = struct.Struct("!HH")  # type, class
_POINTER_TO_QUESTION = b"\xc0\x0c"  # the question's name sits right after the header
_ESCAPED = frozenset(b". '@;()\"\\")  # characters miekg/dns writes with a backslash


class Malformed(ValueError):
    """The message cannot be read; ``question`` is what was read of it before it broke."""

    def __init__(self, reason: str, question: Question | None = None) -> None:
        super().__init__(reason)
        self.question = question


@dataclass(frozen=True, slots=True)
class Header:
    id: int
    flags: int
    qdcount: int
    ancount: int
    nscount: int
    arcount: int

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF


@dataclass(frozen=True, slots=True)
class Question:
    labels: tuple[bytes, ...]  # as asked, case kept
    qtype: int
    qclass: int

    @property
    def name(self) -> str:
        """The name in lower case without the root's dot, escaped as miekg/dns writes it."""
        return ".".join(_label_text(label.lower()) for label in self.labels)

    def wire(self) -> bytes:
        return encode_name(self.labels) + _QUESTION_FIXED.pack(self.qtype, self.qclass)


@dataclass(frozen=True, slots=True)
class Message:
    header: Header
    question: Question | None  # None when the message ends right after its header
    udp_size: int | None  # the payload size of an EDNS OPT record, if any


def unpack_header(packet: bytes) -> Header | None:
    """The header, or None for a packet too short to hold one."""
    if len(packet) < HEADER.size:
        return None
    return Header(*HEADER.unpack_from(packet))


def unpack(packet: bytes) -> Message:
    """Reads a whole message.

    Raises:
        Malformed: a name or record runs past the end, or a name is not a name.
    """
    header = unpack_header(packet)
    if header is None:
        raise Malformed("shorter than a header")
    offset = HEADER.size
    question = None
    if header.qdcount and offset < len(packet):
        labels, offset = _read_name(packet, offset)
        if offset + _QUESTION_FIXED.size > len(packet):
            raise Malformed("question runs past the end")
        qtype, qclass = _QUESTION_FIXED.unpack_from(packet, offset)
        offset += _QUESTION_FIXED.size
        question = Question(labels, qtype, qclass)
    udp_size = None
    for _ in range(header.ancount + header.nscount + header.arcount):
        if offset == len(packet):
            break
        try:
            _, offset = _read_name(packet, offset)
        except Malformed as error:
            raise Malformed(str(error), question) from None
        if offset + _RR_FIXED.size > len(packet):
            raise Malformed("record runs past the end", question)
        rtype, rclass, _, rdlength = _RR_FIXED.unpack_from(packet, offset)
        offset += _RR_FIXED.size + rdlength
        if offset > len(packet):
            raise Malformed("record data runs past the end", question)
        if rtype == TYPE_OPT:
            udp_size = rclass
    return Message(header, question, udp_size)


def encode_name(labels: tuple[bytes, ...]) -> bytes:
    return b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"


def a_record(address: bytes, ttl: int) -> bytes:
    """An A record for the question's name; ``address`` is 4 bytes."""
    return _POINTER_TO_QUESTION + _RR_FIXED.pack(TYPE_A, CLASS_IN, ttl, 4) + address


def ptr_record(target: tuple[bytes, ...], ttl: int) -> bytes:
    """A PTR record for the question's name, pointing at ``target``."""
    rdata = encode_name(target)
    return _POINTER_TO_QUESTION + _RR_FIXED.pack(TYPE_PTR, CLASS_IN, ttl, len(rdata)) + rdata


def reply(
    query_id: int,
    flags: int,
    question: Question | None,
    answers: list[bytes],
    limit: int = MAX_SIZE,
) -> bytes:
    """A reply with ``flags`` (rcode included); answers that do not fit in ``limit`` octets are
    left out and TC is set, as miekg/dns's ``Msg.Truncate`` does."""
    head = question.wire() if question is not None else b""
    room = limit - HEADER.size - len(head)
    kept = 0
    for answer in answers:
        room -= len(answer)
        if room < 0:
            break
        kept += 1
    if kept < len(answers):
        flags |= FLAG_TC
    header = HEADER.pack(query_id, flags, 1 if question is not None else 0, kept, 0, 0)
    return header + head + b"".join(answers[:kept])


def _read_name(packet: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    labels: list[bytes] = []
    size = 1  # the root's zero octet
    end = None  # where the name ends in the message, once a pointer was followed
    pointers = 0
    while True:
        if offset >= len(packet):
            raise Malformed("name runs past the end")
        length = packet[offset]
        kind = length & 0xC0
        if kind == 0xC0:
            if offset + 1 >= len(packet):
                raise Malformed("name runs past the end")
            pointers += 1
            if pointers > MAX_POINTERS:
                raise Malformed("too many compression pointers")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | packet[offset + 1]
            continue
        if kind:
            raise Malformed("bad label type")
        if length == 0:
            return tuple(labels), (end if end is not None else offset + 1)
        size += length + 1
        if size > MAX_NAME or offset + 1 + length > len(packet):
            raise Malformed("name too long or runs past the end")
        labels.append(packet[offset + 1 : offset + 1 + length])
        offset += 1 + length


def _label_text(label: bytes) -> str:
    if all(0x21 <= octet <= 0x7E and octet not in _ESCAPED for octet in label):
        return label.decode("ascii")
    text = []
    for octet in label:
        if octet in _ESCAPED:
            text.append("\\" + chr(octet))
        elif 0x21 <= octet <= 0x7E:
            text.append(chr(octet))
        else:
            text.append(f"\\{octet:03d}")
    return "".join(text)
