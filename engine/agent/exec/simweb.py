"""What a simulated container answers on its ports: real traffic, as the program it stands for.

A running simulated task listens, on its node's address, on a port of its own for each target
port its service publishes (the mesh sends it the connections for them): HTTP over TCP, an echo
over UDP. An nginx (or httpd) image serves nginx's welcome page, any other a line of text; both
name the task and the node that answered, and every request is written to the container's log
as nginx writes its access log, so ``docker service logs`` shows the traffic that was sent.

    servers = await serve_ports("127.0.1.2", [(80, "tcp")], answer, clock.time, container.write)
    servers.endpoints  # {(80, "tcp"): ("127.0.1.2", 41234)}
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Answer", "PortServers", "serve_ports"]

MAX_HEAD = 16 * 1024  # bytes of request line and headers; more is a 431, as nginx answers
MAX_BODY = 1024 * 1024  # bytes of a request body read (and dropped); more is a 413

Now = Callable[[], float]  # the time it is (the engine's clock)
Write = Callable[[float, str], None]  # writes a line, written at that time, to the container's log


@dataclass(frozen=True)
class Answer:
    """Who answers: the task's name (``web.1.<id>``), its node, and its image."""

    task: str
    node: str
    image: str

    @property
    def web_server(self) -> bool:
        name = self.image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
        return name in ("nginx", "httpd")

    def page(self) -> tuple[str, bytes]:
        """The content type and body of the page served at ``/``."""
        served_by = f"{self.task} on {self.node}"
        if not self.web_server:
            return "text/plain", f"Hello from {served_by}\n".encode()
        return "text/html", _WELCOME.format(served_by=_escape(served_by)).encode()


class PortServers:
    """The listening sockets of one container, by (target port, protocol): where the mesh
    reaches it (``endpoints``). ``close`` stops them all."""

    def __init__(self) -> None:
        self.endpoints: dict[tuple[int, str], tuple[str, int]] = {}
        self._closers: list[Callable[[], None]] = []

    def close(self) -> None:
        closers, self._closers = self._closers, []
        self.endpoints.clear()
        for close in closers:
            close()


async def serve_ports(
    host: str, ports: list[tuple[int, str]], answer: Answer, now: Now, write: Write
) -> PortServers:
    """Listens on ``host`` for each target port (a free port each): HTTP for TCP, an echo for
    UDP.

    Raises:
        OSError: an address could not be bound; none is left open.
    """
    loop = asyncio.get_running_loop()
    servers = PortServers()
    try:
        for target, protocol in ports:
            if protocol == "udp":
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Echo(answer, now, write), local_addr=(host, 0)
                )
                servers._closers.append(transport.close)
                address = transport.get_extra_info("sockname")
            elif protocol == "tcp":
                server = await loop.create_server(lambda: _Http(answer, now, write), host, 0)
                servers._closers.append(server.close)
                address = server.sockets[0].getsockname()
            else:
                continue  # sctp: nothing answers it here
            servers.endpoints[(target, protocol)] = (str(address[0]), int(address[1]))
    except BaseException:
        servers.close()
        raise
    return servers


class _Http(asyncio.Protocol):
    """HTTP/1.1 with keep-alive: ``/`` and ``/index.html`` are the page, the rest 404, as a
    fresh nginx serves."""

    def __init__(self, answer: Answer, now: Now, write: Write) -> None:
        self._answer = answer
        self._now = now
        self._write = write
        self._buffer = bytearray()
        self._body_left = 0
        self._client = "-"
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if peer else "-"

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and not self._transport.is_closing():
            if self._body_left:
                dropped = min(self._body_left, len(self._buffer))
                del self._buffer[:dropped]
                self._body_left -= dropped
                if self._body_left:
                    return
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    self._respond("-", 431, "Request Header Fields Too Large", keep=False)
                return
            head = bytes(self._buffer[:end]).decode("latin-1")
            del self._buffer[: end + 4]
            self._request(head)

    def _request(self, head: str) -> None:
        request, *lines = head.split("\r\n")
        parts = request.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._respond(request, 400, "Bad Request", keep=False)
            return
        method, path, version = parts
        headers = {}
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon:
                self._respond(request, 400, "Bad Request", keep=False)
                return
            headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        length = headers.get("content-length", "0")
        if not length.isdigit():
            self._respond(request, 400, "Bad Request", keep=False)
            return
        if int(length) > MAX_BODY:
            self._respond(request, 413, "Request Entity Too Large", keep=False)
            return
        self._body_left = int(length)
        agent = headers.get("user-agent", "-")
        if method not in ("GET", "HEAD"):
            self._respond(request, 405, "Not Allowed", keep=keep, agent=agent)
        elif path.split("?", 1)[0] in ("/", "/index.html"):
            kind, body = self._answer.page()
            self._respond(
                request,
                200,
                "OK",
                keep=keep,
                agent=agent,
                body=body,
                kind=kind,
                head_only=method == "HEAD",
            )
        else:
            self._respond(request, 404, "Not Found", keep=keep, agent=agent)

    def _respond(
        self,
        request: str,
        status: int,
        reason: str,
        *,
        keep: bool,
        agent: str = "-",
        body: bytes | None = None,
        kind: str = "text/html",
        head_only: bool = False,
    ) -> None:
        assert self._transport is not None
        if body is None:
            body = _ERROR.format(status=status, reason=reason).encode()
        head = (
            f"HTTP/1.1 {status} {reason}\r\nServer: nginx\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: {'keep-alive' if keep else 'close'}"
            "\r\n\r\n"
        )
        self._transport.write(head.encode() + (b"" if head_only else body))
        sent = 0 if head_only else len(body)
        moment = self._now()
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(moment))
        self._write(
            moment,
            f'{self._client} - - [{stamp}] "{_printable(request)}" {status} {sent} "-" '
            f'"{_printable(agent)}"',
        )
        if not keep:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


class _Echo(asyncio.DatagramProtocol):
    """UDP: each datagram is answered with who answered and what came."""

    def __init__(self, answer: Answer, now: Now, write: Write) -> None:
        self._answer = answer
        self._now = now
        self._write = write
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self._transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._transport is None:
            return
        reply = f"{self._answer.task} on {self._answer.node}: ".encode() + data[:1024]
        with contextlib.suppress(OSError):
            self._transport.sendto(reply, addr)
        self._write(self._now(), f"{addr[0]} udp {len(data)} bytes")


def _printable(text: str) -> str:
    """As nginx logs a request: bytes outside printable ASCII escaped (``\\x1B``)."""
    return "".join(
        c if " " <= c <= "~" and c != '"' else f"\\x{ord(c) & 0xFF:02X}" for c in text[:2048]
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_WELCOME = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
    body {{
        width: 35em;
        margin: 0 auto;
        font-family: Tahoma, Verdana, Arial, sans-serif;
    }}
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>Served by {served_by}.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

_ERROR = """<html>
<head><title>{status} {reason}</title></head>
<body>
<center><h1>{status} {reason}</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""
