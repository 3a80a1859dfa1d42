"""The manager's swarm port (2377 by default): the CA and the node protocol over TLS, nothing else.

    GET  /ca/root         the root certificate, to anyone (a joining node checks its digest)
    POST /ca/certificate  a certificate for a CSR: a new node shows a join token; a node renews
                          with its own certificate
    GET  /ca/unlockkey    managers only
    GET  /node/session    the node protocol (``engine.api.dispatch``'s messages on a websocket)

Who a peer is comes only from the certificate it presents, which the TLS handshake checked
against the swarm's root: its ID is the certificate's CN, its role the OU. A node removed from
the swarm is refused, and its open session closed, at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable
from datetime import timedelta

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from engine.api.dispatch import (
    Assignments,
    AssignmentsMessage,
    ContainerReport,
    Heartbeat,
    HeartbeatAnswer,
    Register,
    Registered,
    Renew,
    SessionInvalid,
    StatusReport,
    read_agent_message,
    write_message,
)
from engine.api.durations import SECOND
from engine.api.objects import Cluster
from engine.api.secrets import task_files
from engine.api.types import Availability, NodeRole
from engine.ca import (
    DEFAULT_NODE_CERT_EXPIRY,
    MANAGER,
    WORKER,
    CAError,
    NodeFiles,
    NodeIdentity,
    RootCA,
    RootRotation,
    issue_node_certificate,
    node_identity,
    same_trust,
    tls_info,
    utc,
)
from engine.clock import Clock
from engine.errors import EngineError, FailedPrecondition, InvalidArgument, PermissionDenied
from engine.manager.controlapi import ONE_MANAGER
from engine.manager.dispatcher import Dispatcher, NodeSession
from engine.manager.manager import Manager
from engine.node.containers import RemoteContainers
from engine.store import ReadTx, get_config, get_node, get_secret, get_service

__all__ = [
    "CertificateAnswer",
    "CertificateRequest",
    "SwarmCA",
    "SwarmPort",
    "cert_expiry",
]

log = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024 * 1024  # bytes: a node's every task in one assignment
NO_TOKEN = "A valid join token is necessary to join this cluster"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CertificateRequest(msgspec.Struct, frozen=True, rename="pascal"):
    csr: str
    token: str = ""
    availability: Availability | None = None


class CertificateAnswer(msgspec.Struct, frozen=True, rename="pascal"):
    node_id: str
    certificate: str  # the node's, then the chain to the root
    root: str = ""  # the root the swarm trusts now: a node renewing after a rotation takes it


class SwarmCA:
    """The manager's CA as it stands: the root, and during a rotation the next root, which
    signs from the start of the rotation on; and the swarm port's TLS, which trusts both.

    ``context`` is the swarm port's: the manager's own certificate; a client certificate asked
    for, not required (a joining node has none yet), and checked against the roots when shown.
    """

    def __init__(self, root: RootCA, rotation: RootRotation | None, files: NodeFiles) -> None:
        self.root = root
        self.rotation = rotation
        self._files = files
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.verify_mode = ssl.CERT_OPTIONAL
        for trusted in self.trusted:
            self.context.load_verify_locations(cadata=trusted.cert_pem.decode())
        self.reload()

    @property
    def trusted(self) -> tuple[RootCA, ...]:
        return (self.root,) if self.rotation is None else (self.root, self.rotation.root)

    def signer(self) -> tuple[RootCA, bytes]:
        """What signs node certificates, and the chain that follows them."""
        if self.rotation is None:
            return self.root, b""
        return self.rotation.root, self.rotation.cross_signed

    def tls_info(self) -> dict[str, str]:
        """The swarm's ``TLSInfo``: the root, and what issues certificates now."""
        issuer = self.rotation.cross_signed if self.rotation is not None else None
        return tls_info(self.root, issuer)

    def rotating(self, rotation: RootRotation) -> None:
        self.rotation = rotation
        self.context.load_verify_locations(cadata=rotation.root.cert_pem.decode())

    def rotated(self, root: RootCA) -> None:
        """The rotation is over: ``root`` alone is trusted by the swarm from now on (the
        handshake still lets the old root's certificates through; ``node_identity`` does not)."""
        self.root, self.rotation = root, None

    def reload(self) -> None:
        """Takes the manager's renewed certificate for the handshakes to come."""
        self.context.load_cert_chain(self._files.cert, self._files.key, self._files.password)


def cert_expiry(cluster: Cluster) -> timedelta:
    """The lifetime of the certificates the swarm's CA issues (``--cert-expiry``)."""
    nanoseconds = (cluster.spec.ca_config or {}).get("NodeCertExpiry")
    if not isinstance(nanoseconds, int) or nanoseconds <= 0:
        return DEFAULT_NODE_CERT_EXPIRY
    return timedelta(seconds=nanoseconds / SECOND)


class SwarmPort:
    def __init__(self, manager: Manager, ca: SwarmCA, clock: Clock, cluster_id: str) -> None:
        self._manager = manager
        self._ca = ca
        self._clock = clock
        self._cluster_id = cluster_id
        self._sockets: dict[str, web.WebSocketResponse] = {}  # by node ID, while in session
        self._runner: web.AppRunner | None = None
        self.containers = RemoteContainers()  # other nodes' containers, from their reports

    @property
    def _dispatcher(self) -> Dispatcher:
        return self._manager.dispatcher

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_errors], client_max_size=64 * 1024)
        app.router.add_get("/ca/root", self.root)
        app.router.add_post("/ca/certificate", self.certificate)
        app.router.add_get("/ca/unlockkey", self.unlock_key)
        app.router.add_get("/node/session", self.session)
        return app

    async def serve(self, host: str, port: int, context: ssl.SSLContext) -> None:
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def close(self) -> None:
        """Ends every node's session (the nodes see the manager go, and reconnect elsewhere or
        later), then stops listening."""
        sockets = list(self._sockets.values())
        await asyncio.gather(
            *(
                socket.close(code=WSCloseCode.GOING_AWAY, message=b"manager stopping")
                for socket in sockets
            ),
            return_exceptions=True,
        )
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # The CA.

    async def root(self, request: web.Request) -> web.Response:
        return web.Response(body=self._ca.root.cert_pem, content_type="application/x-pem-file")

    async def certificate(self, request: web.Request) -> web.Response:
        try:
            asked = msgspec.json.decode(await request.read(), type=CertificateRequest)
        except msgspec.DecodeError as error:
            raise InvalidArgument(f"invalid certificate request: {error}") from None
        peer = self._peer(request)
        if peer is not None:  # a node renews: it stays who it is
            self._authorize(peer, (MANAGER, WORKER))
            identity = peer
        else:
            role = self._role_of(asked.token)
            if role == NodeRole.MANAGER:
                raise FailedPrecondition(f"{ONE_MANAGER}: join as a worker")
            node = self._manager.control.admit_node(role, asked.availability)
            identity = NodeIdentity(node.id, WORKER, self._cluster_id)
            log.info("node %s joined as a worker", node.id)
        signer, chain = self._ca.signer()
        try:
            cert = issue_node_certificate(
                signer,
                asked.csr.encode(),
                identity,
                utc(self._clock.time()),
                cert_expiry(self._manager.control.get_cluster()),
                chain,
            )
        except CAError as error:
            raise InvalidArgument(str(error)) from None
        await self._manager.store.saved()
        answer = CertificateAnswer(
            node_id=identity.node_id,
            certificate=cert.decode(),
            root=self._ca.root.cert_pem.decode(),
        )
        return web.Response(body=msgspec.json.encode(answer), content_type="application/json")

    async def unlock_key(self, request: web.Request) -> web.Response:
        self._authorize(self._peer(request), (MANAGER,))
        return web.json_response({"UnlockKey": ""})

    def _role_of(self, token: str) -> NodeRole:
        """The role a join token admits to, compared in constant time (manager's first)."""
        tokens = self._manager.control.get_cluster().join_tokens
        for role, expected in (
            (NodeRole.MANAGER, tokens.manager if tokens else None),
            (NodeRole.WORKER, tokens.worker if tokens else None),
        ):
            if expected and hmac.compare_digest(token.encode(), expected.encode()):
                return role
        raise InvalidArgument(NO_TOKEN)

    def _peer(self, request: web.Request) -> NodeIdentity | None:
        """Who the peer is, by the certificate it showed (the handshake checked its chain)."""
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        if not der:
            return None
        try:
            return node_identity(
                self._ca.trusted, ssl.DER_cert_to_PEM_cert(der).encode(), utc(self._clock.time())
            )
        except CAError as error:
            raise PermissionDenied(f"Permission denied: {error}") from None

    def _authorize(self, peer: NodeIdentity | None, roles: tuple[str, ...]) -> str:
        """The peer's node ID, if its certificate's role is one of ``roles`` and its node is
        still in the swarm (SwarmKit's AuthorizeOrgAndRole)."""
        if peer is None:
            raise PermissionDenied("Permission denied: no client certificates in request")
        if peer.role not in roles:
            raise PermissionDenied(
                f"Permission denied: remote certificate not part of OUs: [{' '.join(roles)}]"
            )
        if peer.cluster_id != self._cluster_id:
            raise PermissionDenied(
                "Permission denied: remote certificate not part of organization: "
                f"{self._cluster_id}"
            )
        if self._manager.store.view(lambda tx: get_node(tx, peer.node_id)) is None:
            raise PermissionDenied(f"Permission denied: node {peer.node_id} was removed from swarm")
        return peer.node_id

    # The node protocol.

    async def session(self, request: web.Request) -> web.StreamResponse:
        node_id = self._authorize(self._peer(request), (MANAGER, WORKER))
        socket = web.WebSocketResponse(max_msg_size=MAX_FRAME, autoping=True)
        await socket.prepare(request)
        try:
            first = await socket.receive(timeout=30)
            if first.type != WSMsgType.BINARY:
                return socket
            hello = read_agent_message(first.data)
            if not isinstance(hello, Register):
                raise ValueError("a session opens with a register message")
            addr = hello.addr or (request.remote or "")
            session = self._dispatcher.register(node_id, hello.description, addr)
            period = self._dispatcher.heartbeat(session)
            await socket.send_bytes(write_message(Registered(session.session_id, period)))
            self._sockets[node_id] = socket
            if not same_trust(hello.description.tls_info, self._ca.tls_info()):
                await socket.send_bytes(write_message(Renew()))  # it missed a root rotation
            await _first_to_end(self._send(socket, session), self._receive(socket, session))
        except (ValueError, TimeoutError) as error:
            log.warning("node %s: session ended: %s", node_id, error)
        except (EngineError, SessionInvalid, ConnectionError) as error:
            log.info("node %s: session ended: %s", node_id, error)
        finally:
            if self._sockets.get(node_id) is socket:
                del self._sockets[node_id]
            if self._manager.store.view(lambda tx: get_node(tx, node_id)) is None:
                self.containers.forget_node(node_id)  # removed from the swarm
            await socket.close()
        return socket

    async def renew_all(self) -> None:
        """Tells every node in session to renew its certificate now (a root rotation)."""
        message = write_message(Renew())
        for node_id, socket in list(self._sockets.items()):
            try:
                await socket.send_bytes(message)
            except ConnectionError as error:
                log.info("node %s: not told to renew: %s", node_id, error)

    async def _send(self, socket: web.WebSocketResponse, session: NodeSession) -> None:
        async for change in session.assignments():
            message = self._manager.store.view(functools.partial(_message, change=change))
            await socket.send_bytes(write_message(message))

    async def _receive(self, socket: web.WebSocketResponse, session: NodeSession) -> None:
        async for frame in socket:
            if frame.type != WSMsgType.BINARY:
                return
            match read_agent_message(frame.data):
                case Heartbeat():
                    period = self._dispatcher.heartbeat(session)
                    await socket.send_bytes(write_message(HeartbeatAnswer(period)))
                case StatusReport(updates=updates):
                    self._dispatcher.update_task_status(
                        session, [(update.task_id, update.status) for update in updates]
                    )
                case ContainerReport() as report:
                    self.containers.apply(session.node_id, report)
                case Register():
                    raise ValueError("registered twice in one session")


def _message(tx: ReadTx, *, change: Assignments) -> AssignmentsMessage:
    """The change as a node is sent it: with the services of its tasks, and the secrets and
    configs they mount (those meant to run, or to complete: a job's), the ones still there."""
    service_ids = {task.service_id for task in change.tasks}
    services = [found for found in (get_service(tx, i) for i in service_ids) if found]
    ids: set[str] = set()
    for task in change.tasks:
        spec = task.spec.container_spec
        if spec is not None and task.meant_to_run:
            ids.update(file.source_id for file in task_files(spec.secrets, spec.configs))
    secrets = [found for found in (get_secret(tx, i) for i in sorted(ids)) if found]
    configs = [found for found in (get_config(tx, i) for i in sorted(ids)) if found]
    return AssignmentsMessage.of(change, services, secrets, configs)


async def _first_to_end(*work: Awaitable[None]) -> None:
    """Runs ``work`` until one ends; cancels the rest; raises what ended it, if it failed."""
    tasks = [asyncio.ensure_future(one) for one in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    for task in done:
        task.result()


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except EngineError as error:
        return web.json_response({"message": error.public_text()}, status=error.http_status)
