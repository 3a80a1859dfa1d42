"""A node's side of the manager's swarm port: joining, and the node protocol over mutual TLS.

Joining is SwarmKit's flow: fetch the root certificate without trusting it, check its digest
against the join token, then send a CSR with the token over TLS pinned to that root; the
manager answers with a certificate whose subject it chose. From then on the node connects with
that certificate: ``RemoteDispatcher`` is the manager's dispatcher as the agent knows it
(``DispatcherAPI``), one websocket per session.

    joined = await join("10.0.0.2:2377", token, NodeFiles.of(data_dir))
    agent = Agent(joined.node_id, ..., RemoteDispatcher("10.0.0.2:2377", files), executor, clock)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import msgspec
from cryptography.hazmat.primitives.asymmetric import ec

from engine.api.dispatch import (
    Assignments,
    AssignmentsMessage,
    ContainerReport,
    Heartbeat,
    HeartbeatAnswer,
    Register,
    Registered,
    Renew,
    Session,
    SessionInvalid,
    StatusReport,
    StatusUpdate,
    read_manager_message,
    write_message,
)
from engine.api.objects import Config, NodeDescription, Secret, Service, TaskStatus
from engine.api.types import Availability
from engine.ca import (
    ROOT_CN,
    CAError,
    NodeFiles,
    certifies,
    check_remote_ca,
    new_node_key,
    node_csr,
)
from engine.errors import (
    EngineError,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unavailable,
)
from engine.manager import defaults
from engine.node.swarmport import MAX_FRAME, CertificateAnswer, CertificateRequest

__all__ = ["Joined", "RemoteDispatcher", "RemoteSession", "client_context", "join", "renew"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds to reach the manager and get its first answer
# Seconds a call to the manager's CA may take: a manager that many nodes join at once answers
# late, and a join given up on leaves a node it admitted that never comes (dockerd waits 20 s).
CA_TIMEOUT = 20.0
UNREGISTERED_PERIOD = 0.1  # seconds between heartbeats not sent while the session opens
PING_EVERY = 10.0  # seconds between websocket pings: a manager that stops answering is left


def client_context(root_pem: bytes, files: NodeFiles | None = None) -> ssl.SSLContext:
    """TLS to a manager: its certificate must chain to ``root_pem`` and name ``swarm-ca``; the
    node's own certificate from ``files`` is shown, if given."""
    context = ssl.create_default_context(cadata=root_pem.decode())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if files is not None:
        context.load_cert_chain(files.cert, files.key, files.password)
    return context


async def join(
    addr: str, token: str, files: NodeFiles, availability: Availability | None = None
) -> Joined:
    """Joins the swarm whose manager is at ``addr`` (``HOST:PORT``); writes the root, the node's
    certificate and key into ``files``; returns the node ID the manager gave.

    Raises:
        EngineError: the manager refused (its words), or its CA is not the token's.
        Unavailable: the manager cannot be reached.
    """
    async with _reaching(addr) as http:
        async with http.get(f"https://{addr}/ca/root", ssl=False) as response:
            root_pem = await response.read()
            local = _local_host(response)
        try:
            root = check_remote_ca(root_pem, token)
        except CAError as error:
            raise InvalidArgument(str(error), rpc=False) from None
        key = new_node_key()
        asked = CertificateRequest(
            csr=node_csr(key).decode(), token=token, availability=availability
        )
        answer = await _certificate(http, addr, asked, client_context(root.cert_pem), key)
    files.save(root.cert_pem, answer.certificate.encode(), key)
    return Joined(answer.node_id, local)


async def renew(addr: str, files: NodeFiles) -> None:
    """Renews the node's certificate with the manager at ``addr``: a new key, shown with the
    current certificate, which says who the node is; the new one replaces it in ``files``, and
    the root the swarm trusts now (after a rotation) the one there."""
    key = new_node_key()
    asked = CertificateRequest(csr=node_csr(key).decode())
    context = client_context(files.root.read_bytes(), files)
    async with _reaching(addr) as http:
        answer = await _certificate(http, addr, asked, context, key)
    root = answer.root.encode()
    files.save(
        root if root and root != files.root.read_bytes() else None, answer.certificate.encode(), key
    )


@contextlib.asynccontextmanager
async def _reaching(addr: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client for calls to the manager at ``addr``; failing to reach it is Unavailable."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CA_TIMEOUT)) as http:
            yield http
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        why = str(error) or f"no answer within {CA_TIMEOUT:.0f} s"
        raise Unavailable(f"cannot reach the manager at {addr}: {why}", rpc=False) from None


async def _certificate(
    http: aiohttp.ClientSession,
    addr: str,
    asked: CertificateRequest,
    context: ssl.SSLContext,
    key: ec.EllipticCurvePrivateKey,
) -> CertificateAnswer:
    """Asks the manager's CA for a certificate; checks that it certifies ``key``."""
    async with http.post(
        f"https://{addr}/ca/certificate",
        data=msgspec.json.encode(asked),
        ssl=context,
        server_hostname=ROOT_CN,
    ) as response:
        body = await response.read()
        if response.status != 200:
            raise _refusal(response.status, body)
    try:
        answer = msgspec.json.decode(body, type=CertificateAnswer)
    except msgspec.DecodeError as error:
        raise Unavailable(f"the manager at {addr} answered nonsense: {error}") from None
    if not certifies(answer.certificate.encode(), key):
        raise Unavailable(f"the manager at {addr} sent a certificate for another key")
    return answer


@dataclass(frozen=True)
class Joined:
    node_id: str
    local_addr: str  # the address this node reached the manager from: its own, as seen there


def _local_host(response: aiohttp.ClientResponse) -> str:
    connection = response.connection
    transport = connection.transport if connection is not None else None
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    return str(sockname[0]) if sockname else ""


_RPC_CODE = re.compile(r"^rpc error: code = (\w+) desc = ")


def _refusal(status: int, body: bytes) -> EngineError:
    """The manager's error answer as the error it is, its message as it said it."""
    try:
        message = str(msgspec.json.decode(body).get("message", ""))
    except (msgspec.DecodeError, AttributeError):
        message = body.decode("utf-8", "replace")[:500]
    match = _RPC_CODE.match(message)
    kinds = {kind.code: kind for kind in (InvalidArgument, FailedPrecondition, PermissionDenied)}
    kind = kinds.get(match.group(1), Unavailable) if match else Unavailable
    return kind(message, rpc=False)  # the text is in the rpc form already


class RemoteSession:
    """One session with the manager: one websocket. Heartbeats and reports are queued and sent
    in order after the registration."""

    def __init__(
        self, dispatcher: RemoteDispatcher, node_id: str, description: NodeDescription, addr: str
    ) -> None:
        self.node_id = node_id
        self.session_id = ""
        self._dispatcher = dispatcher
        self._description = description
        self._addr = addr
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._period = dispatcher.period
        self._closed = False

    def heartbeat(self) -> float:
        """Queues a heartbeat; returns the period until the next. Until the manager has
        answered the registration (which counts as one), the next comes soon: the period is
        the manager's to say."""
        self._check()
        if not self.session_id:
            return UNREGISTERED_PERIOD
        self._outbox.put_nowait(write_message(Heartbeat()))
        return self._period

    def ship(self, report: ContainerReport) -> None:
        """Queues what the node's containers wrote and use."""
        self._check()
        self._outbox.put_nowait(write_message(report))

    def report(self, updates: list[tuple[str, TaskStatus]]) -> None:
        self._check()
        statuses = [StatusUpdate(task_id=task_id, status=status) for task_id, status in updates]
        self._outbox.put_nowait(write_message(StatusReport(updates=statuses)))

    def _check(self) -> None:
        if self._closed:
            raise SessionInvalid("session closed")

    @property
    def period(self) -> float:
        return self._period

    @property
    def open(self) -> bool:
        return bool(self.session_id) and not self._closed

    async def assignments(self) -> AsyncIterator[Assignments]:
        try:
            async for change in self._connected():
                yield change
        finally:
            self._closed = True

    async def _connected(self) -> AsyncIterator[Assignments]:
        dispatcher = self._dispatcher
        try:
            context = client_context(dispatcher.files.root.read_bytes(), dispatcher.files)
            async with dispatcher.http().ws_connect(
                f"https://{dispatcher.addr}/node/session",
                ssl=context,
                server_hostname=ROOT_CN,
                max_msg_size=MAX_FRAME,
                heartbeat=PING_EVERY,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CONNECT_TIMEOUT),
            ) as socket:
                await socket.send_bytes(write_message(Register(self._description, self._addr)))
                hello = read_manager_message(await socket.receive_bytes(timeout=CONNECT_TIMEOUT))
                if not isinstance(hello, Registered):
                    raise ValueError("the manager did not open the session")
                self.session_id, self._period = hello.session_id, hello.period
                dispatcher.connected(self)
                writer = asyncio.ensure_future(self._write(socket))
                try:
                    async for frame in socket:
                        if frame.type != aiohttp.WSMsgType.BINARY:
                            break
                        match read_manager_message(frame.data):
                            case AssignmentsMessage() as message:
                                if message.full:  # of these tasks only: no others
                                    dispatcher.services.clear()
                                    dispatcher.dependencies.clear()
                                dispatcher.services.update((s.id, s) for s in message.services)
                                dispatcher.dependencies.update((d.id, d) for d in message.secrets)
                                dispatcher.dependencies.update((d.id, d) for d in message.configs)
                                yield message.change()
                            case HeartbeatAnswer(period=period):
                                self._period = dispatcher.period = period
                            case Renew():
                                dispatcher.renew()
                        if writer.done():
                            break
                finally:
                    writer.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await writer
        except aiohttp.WSServerHandshakeError as error:
            refused = f"the manager at {dispatcher.addr} refused this node ({error.status})"
            dispatcher.failed(refused)
            raise SessionInvalid(dispatcher.error) from None
        except (aiohttp.ClientError, OSError, ValueError, TimeoutError) as error:
            why = str(error) or f"no answer within {CONNECT_TIMEOUT:.0f} s"
            dispatcher.failed(f"cannot reach the manager at {dispatcher.addr}: {why}")
            raise SessionInvalid(dispatcher.error) from None
        raise SessionInvalid("the manager closed the session")

    async def _write(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await socket.send_bytes(await self._outbox.get())


class RemoteDispatcher:
    """The manager's dispatcher, reached at ``addr`` with the node's certificate in ``files``.
    ``error`` says why the last session could not be opened ("" once one is)."""

    def __init__(
        self, addr: str, files: NodeFiles, renew: Callable[[], None] = lambda: None
    ) -> None:
        """``renew`` is called when the manager asks the node to renew its certificate."""
        self.addr = addr
        self.files = files
        self.renew = renew
        self.period = defaults.HEARTBEAT_PERIOD
        self.error = ""
        self.session: RemoteSession | None = None  # the one open, once registered
        self.services: dict[str, Service] = {}  # of the tasks assigned, as the manager sent them
        # The secrets and configs of the tasks assigned, as the manager sent them: in memory only.
        self.dependencies: dict[str, Secret | Config] = {}
        self._http: aiohttp.ClientSession | None = None

    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    def connected(self, session: RemoteSession) -> None:
        self.session, self.period, self.error = session, session.period, ""

    def failed(self, error: str) -> None:
        if error != self.error:
            log.warning("%s", error)
        self.error = error

    def register(self, node_id: str, description: NodeDescription, addr: str) -> RemoteSession:
        return RemoteSession(self, node_id, description, addr)

    def heartbeat(self, session: Session) -> float:
        return _remote(session).heartbeat()

    def update_task_status(self, session: Session, updates: list[tuple[str, TaskStatus]]) -> None:
        _remote(session).report(updates)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()


def _remote(session: Session) -> RemoteSession:
    if not isinstance(session, RemoteSession):
        raise SessionInvalid("not a session of this dispatcher")
    return session
