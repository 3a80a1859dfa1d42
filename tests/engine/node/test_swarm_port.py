"""The manager's swarm port: who a peer is comes from its certificate alone.

A daemon made a manager by ``init_swarm`` in this process; joining nodes are ``engine.node
.remote.join`` with a data directory each, and their certificates are presented as they would be.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket as sockets
import ssl
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import msgspec
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from msgspec.structs import replace

from engine.api.dispatch import (
    AssignmentsMessage,
    Heartbeat,
    HeartbeatAnswer,
    Register,
    Registered,
    Renew,
    read_manager_message,
    write_message,
)
from engine.api.durations import SECOND
from engine.api.objects import NodeDescription, Secret
from engine.api.secrets import ConfigReference, DataRequest, FileTarget, SecretReference
from engine.api.specs import ReplicatedJob, ServiceMode, ServiceSpec
from engine.api.swarm import SwarmInitRequest, SwarmJoinRequest, SwarmRotations
from engine.api.types import NodeState
from engine.ca import (
    MANAGER,
    ROOT_CN,
    WORKER,
    NodeFiles,
    join_token,
    load_or_create_root,
    new_node_key,
    node_csr,
    utc,
)
from engine.errors import FailedPrecondition, InvalidArgument, Unavailable
from engine.manager.secrets import CONFIGS, SECRETS
from engine.node import daemon as daemon_module
from engine.node.daemon import NodeDaemon
from engine.node.remote import client_context, join, renew
from engine.node.swarmport import CertificateAnswer, CertificateRequest
from tests.conftest import make_spec


def free_port() -> int:
    with sockets.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def manager_at(data_dir: Path) -> AsyncIterator[tuple[NodeDaemon, str]]:
    """A manager daemon and its swarm port's address."""
    daemon = NodeDaemon(data_dir, "swarm-master", seed=3)
    await daemon.start()
    addr = f"127.0.0.1:{free_port()}"
    try:
        await daemon.init_swarm(SwarmInitRequest(listen_addr=addr))
        yield daemon, addr
    finally:
        await daemon.stop()


def worker_token(daemon: NodeDaemon) -> str:
    tokens = daemon.control.get_cluster().join_tokens
    assert tokens is not None and tokens.worker
    return tokens.worker


def subject(cert_pem: bytes, oid: x509.ObjectIdentifier) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return str(cert.subject.get_attributes_for_oid(oid)[0].value)


async def call(
    method: str, url: str, context: ssl.SSLContext, body: bytes = b""
) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, data=body, ssl=context, server_hostname=ROOT_CN) as response,
    ):
        return response.status, await response.read()


async def test_init_makes_a_manager_whose_certificate_the_ca_chose(tmp_path: Path) -> None:
    async with manager_at(tmp_path / "manager") as (daemon, _):
        files = NodeFiles.of(tmp_path / "manager")
        cert = files.cert.read_bytes()
        cluster = daemon.control.get_cluster()
        assert subject(cert, NameOID.COMMON_NAME) == daemon.local_node_id
        assert subject(cert, NameOID.ORGANIZATIONAL_UNIT_NAME) == MANAGER
        assert subject(cert, NameOID.ORGANIZATION_NAME) == cluster.id
        for path in (files.cert, files.key, files.root):
            assert path.stat().st_mode & 0o777 == 0o600
        local = daemon.local_node()
        assert local.local_node_state == "active" and local.control_available
        await daemon.renew()
        renewed = files.cert.read_bytes()
        assert renewed != cert and subject(renewed, NameOID.COMMON_NAME) == daemon.local_node_id
        with pytest.raises(Unavailable, match="already part of a swarm"):
            await daemon.init_swarm(SwarmInitRequest(listen_addr=f"127.0.0.1:{free_port()}"))


async def test_a_node_outside_a_swarm_has_no_control_api(tmp_path: Path) -> None:
    daemon = NodeDaemon(tmp_path, "lonely")
    await daemon.start()
    try:
        assert daemon.local_node().local_node_state == "inactive"
        with pytest.raises(Unavailable, match='Use "docker swarm init"'):
            daemon.control.list_nodes()
        with pytest.raises(Unavailable, match="not part of a swarm"):
            await daemon.leave_swarm(force=True)
        with pytest.raises(InvalidArgument, match="specify one with --advertise-addr"):
            await daemon.init_swarm(SwarmInitRequest(listen_addr="0.0.0.0:2377"))
        with pytest.raises(InvalidArgument, match="invalid availability"):
            await daemon.init_swarm(
                SwarmInitRequest(listen_addr="127.0.0.1:2377", availability="sleepy")
            )
        with pytest.raises(InvalidArgument, match="invalid join token"):
            await daemon.join_swarm(
                SwarmJoinRequest(remote_addrs=["127.0.0.1:1"], join_token="SWMTKN-1-nope")
            )
        assert daemon.local_node().local_node_state == "inactive"
        assert not (tmp_path / "node.json").exists()
    finally:
        await daemon.stop()


async def test_a_csr_gets_the_identity_the_manager_chooses(tmp_path: Path) -> None:
    async with manager_at(tmp_path / "manager") as (daemon, addr):
        root = daemon_root(tmp_path / "manager")
        key = new_node_key()
        csr = node_csr(key)  # says CN=swarm-node: the CA takes only its key
        asked = CertificateRequest(csr=csr.decode(), token=worker_token(daemon))
        status, body = await call(
            "POST",
            f"https://{addr}/ca/certificate",
            client_context(root),
            msgspec.json.encode(asked),
        )
        assert status == 200, body
        answer = msgspec.json.decode(body, type=CertificateAnswer)
        cert = answer.certificate.encode()
        assert subject(cert, NameOID.COMMON_NAME) == answer.node_id != "swarm-node"
        assert subject(cert, NameOID.ORGANIZATIONAL_UNIT_NAME) == WORKER
        node = daemon.control.get_node(answer.node_id)
        assert node.spec.role is not None and node.spec.role.value == "worker"
        assert node.status.state == NodeState.UNKNOWN  # until its agent registers


async def test_join_refusals_change_nothing(tmp_path: Path) -> None:
    async with manager_at(tmp_path / "manager") as (daemon, addr):
        token = worker_token(daemon)
        files = NodeFiles.of(tmp_path / "joiner")
        wrong_secret = token[:-25] + "0" * 25
        with pytest.raises(InvalidArgument, match="A valid join token is necessary"):
            await join(addr, wrong_secret, files)
        other_root = load_or_create_root(None, utc(0))
        other_ca = join_token(other_root)
        with pytest.raises(InvalidArgument, match="remote CA does not match fingerprint"):
            await join(addr, other_ca, files)
        manager_token = daemon.control.get_cluster().join_tokens
        assert manager_token is not None and manager_token.manager
        with pytest.raises(FailedPrecondition, match=r"no consensus.*join as a worker"):
            await join(addr, manager_token.manager, files)
        assert [n.id for n in daemon.control.list_nodes()] == [daemon.local_node_id]
        assert not files.cert.exists() and not files.key.exists()


async def test_a_worker_certificate_cannot_call_a_managers_method(tmp_path: Path) -> None:
    async with manager_at(tmp_path / "manager") as (daemon, addr):
        root = daemon_root(tmp_path / "manager")
        worker = NodeFiles.of(tmp_path / "worker")
        await join(addr, worker_token(daemon), worker)
        url = f"https://{addr}/ca/unlockkey"
        status, body = await call("GET", url, client_context(root, worker))
        assert status == 403
        assert b"remote certificate not part of OUs: [swarm-manager]" in body
        status, body = await call("GET", url, client_context(root))
        assert status == 403 and b"no client certificates in request" in body
        manager = NodeFiles.of(tmp_path / "manager")
        status, _ = await call("GET", url, client_context(root, manager))
        assert status == 200


async def test_a_certificate_of_another_ca_fails_the_handshake(tmp_path: Path) -> None:
    async with manager_at(tmp_path / "manager") as (_, addr):
        root = daemon_root(tmp_path / "manager")
        async with manager_at(tmp_path / "other"):
            stranger = NodeFiles.of(tmp_path / "other")  # a manager, of another swarm
            with pytest.raises(aiohttp.ClientError):
                await call("GET", f"https://{addr}/ca/unlockkey", client_context(root, stranger))


async def test_a_removed_node_is_refused_at_once(tmp_path: Path) -> None:
    async with manager_at(tmp_path / "manager") as (daemon, addr):
        root = daemon_root(tmp_path / "manager")
        worker = NodeFiles.of(tmp_path / "worker")
        node_id = (await join(addr, worker_token(daemon), worker)).node_id
        context = client_context(root, worker)
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(
                f"https://{addr}/node/session", ssl=context, server_hostname=ROOT_CN
            ) as session:
                hello = Register(description=NodeDescription(hostname="w1"), addr="127.0.0.9")
                await session.send_bytes(write_message(hello))
                opened = read_manager_message(await session.receive_bytes(timeout=5))
                assert isinstance(opened, Registered)
                await session.send_bytes(write_message(Heartbeat()))
                kinds: set[type] = set()
                while not {HeartbeatAnswer, Renew, AssignmentsMessage} <= kinds:
                    kinds.add(type(read_manager_message(await session.receive_bytes(timeout=5))))
                # Renew: it said nothing of its certificate; the (empty) full set of tasks
                node = daemon.control.get_node(node_id)
                assert node.status.state == NodeState.READY
                assert node.status.addr == "127.0.0.9"
                assert node.description is not None and node.description.hostname == "w1"
                daemon.control.remove_node(node_id, force=True)
                closed = await session.receive(timeout=5)
                assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(
                    f"https://{addr}/node/session", ssl=context, server_hostname=ROOT_CN
                )
            assert refused.value.status == 403
        status, body = await call(
            "POST",
            f"https://{addr}/ca/certificate",
            context,
            msgspec.json.encode(CertificateRequest(csr=node_csr(new_node_key()).decode())),
        )
        assert status == 403 and f"node {node_id} was removed from swarm".encode() in body


async def joined_worker(daemon: NodeDaemon, addr: str, data_dir: Path) -> NodeDaemon:
    """A worker daemon joined to ``daemon``'s swarm, once the manager has it Ready."""
    worker = NodeDaemon(data_dir, "swarm-node-1", seed=4)
    await worker.start()
    token = worker_token(daemon)
    await worker.join_swarm(SwarmJoinRequest(remote_addrs=[addr], join_token=token))

    async def ready() -> None:
        while daemon.control.get_node(worker.local_node_id).status.state != NodeState.READY:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(ready(), 10)
    return worker


async def running_on_both(daemon: NodeDaemon, replicas: int) -> str:
    """A new service of ``replicas`` tasks, once they run on the manager and the worker."""
    service = daemon.control.create_service(make_spec("web", replicas=replicas))

    async def placed() -> None:
        while True:
            tasks = daemon.control.list_tasks(service.id)
            nodes = {t.node_id for t in tasks if t.status.state.value == "running"}
            if len(nodes) == 2 and len(tasks) == replicas:
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(placed(), 20)
    return service.id


async def test_a_worker_daemon_runs_tasks_over_mutual_tls(tmp_path: Path) -> None:
    async with manager_at(tmp_path / "manager") as (daemon, addr):
        worker = await joined_worker(daemon, addr, tmp_path / "worker")
        try:
            assert worker.local_node().local_node_state == "active"
            with pytest.raises(Unavailable, match="Worker nodes can't be used"):
                worker.control.list_services()
            service = daemon.control.get_service(await running_on_both(daemon, 4))
            known = worker._service(service.id)  # sent with the tasks: containers are named by it
            assert known is not None and known.spec.name == "web"
            node = daemon.control.get_node(worker.local_node_id)
            assert node.description is not None
            assert (
                node.description.tls_info["TrustRoot"] == daemon_root(tmp_path / "manager").decode()
            )

            cluster = daemon.control.get_cluster()  # docker swarm update --cert-expiry 2h
            ca_config = {**(cluster.spec.ca_config or {}), "NodeCertExpiry": 2 * 3600 * SECOND}
            daemon.control.update_cluster(
                cluster.version.index, replace(cluster.spec, ca_config=ca_config)
            )
            files = NodeFiles.of(tmp_path / "worker")
            before = x509.load_pem_x509_certificate(files.cert.read_bytes())
            running = {t.id for t in daemon.control.list_tasks(service.id)}
            await worker.renew()
            after = x509.load_pem_x509_certificate(files.cert.read_bytes())
            assert after.serial_number != before.serial_number
            assert after.public_key() != before.public_key()
            assert after.subject == before.subject  # the same node, the same role
            lifetime = after.not_valid_after_utc - after.not_valid_before_utc
            assert lifetime == timedelta(hours=3)  # two, and the hour it is backdated
            await asyncio.sleep(1)
            assert daemon.control.get_node(worker.local_node_id).status.state == NodeState.READY
            tasks = daemon.control.list_tasks(service.id)
            assert {t.id for t in tasks} == running  # no task was dropped
            assert all(t.status.state.value == "running" for t in tasks)
        finally:
            await worker.stop()


async def test_a_stopping_manager_ends_its_nodes_sessions(tmp_path: Path) -> None:
    """The manager closes every node's session as it stops, so its nodes see it go at once and
    its stop does not wait out their connections (the close handshake's 10 s timeout)."""
    daemon = NodeDaemon(tmp_path / "manager", "swarm-master", seed=3)
    await daemon.start()
    addr = f"127.0.0.1:{free_port()}"
    await daemon.init_swarm(SwarmInitRequest(listen_addr=addr))
    worker = await joined_worker(daemon, addr, tmp_path / "worker")
    try:
        session = worker._remote.session if worker._remote else None
        assert session is not None and session.open
        await asyncio.wait_for(daemon.stop(), 5)

        async def ended() -> None:
            while session.open:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(ended(), 5)
    finally:
        await worker.stop()


async def test_renewals_under_a_short_lifetime_keep_tasks_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Certificates of an hour, renewed at 50-80 % of their validity, with time sped up 3,600
    times: the worker renews about every second, its tasks running on."""
    real = daemon_module.renewal_delay
    monkeypatch.setattr(
        daemon_module, "renewal_delay", lambda cert, now, rng: real(cert, now, rng) / 3600
    )
    async with manager_at(tmp_path / "manager") as (daemon, addr):
        cluster = daemon.control.get_cluster()  # docker swarm update --cert-expiry 1h
        ca_config = {**(cluster.spec.ca_config or {}), "NodeCertExpiry": 3600 * SECOND}
        daemon.control.update_cluster(
            cluster.version.index, replace(cluster.spec, ca_config=ca_config)
        )
        worker = await joined_worker(daemon, addr, tmp_path / "worker")
        try:
            service_id = await running_on_both(daemon, 4)
            running = {t.id for t in daemon.control.list_tasks(service_id)}
            certificate = NodeFiles.of(tmp_path / "worker").cert
            seen: set[bytes] = set()
            while len(seen) < 4:  # three renewals of the worker's certificate
                seen.add(certificate.read_bytes())
                tasks = daemon.control.list_tasks(service_id)
                assert {t.id for t in tasks} == running  # no task was dropped or replaced
                assert all(t.status.state.value == "running" for t in tasks)
                await asyncio.sleep(0.05)
            nodes = daemon.control.list_nodes()
            assert all(node.status.state == NodeState.READY for node in nodes)
        finally:
            await worker.stop()


def daemon_root(data_dir: Path) -> bytes:
    return NodeFiles.of(data_dir).root.read_bytes()


async def test_a_rotated_token_admits_no_more_nodes_but_joined_ones_stay(tmp_path: Path) -> None:
    async with manager_at(tmp_path / "manager") as (daemon, addr):
        old = worker_token(daemon)
        first = NodeFiles.of(tmp_path / "first")
        await join(addr, old, first)
        cluster = daemon.control.get_cluster()  # docker swarm join-token --rotate worker
        daemon.control.update_cluster(
            cluster.version.index, cluster.spec, SwarmRotations(worker_token=True)
        )
        new = worker_token(daemon)
        assert new != old and new[:60] == old[:60]  # the same CA's digest, a new secret
        with pytest.raises(InvalidArgument, match="A valid join token is necessary"):
            await join(addr, old, NodeFiles.of(tmp_path / "late"))
        await join(addr, new, NodeFiles.of(tmp_path / "second"))
        await renew(addr, first)  # a node that joined before keeps its place
        assert len(daemon.control.list_nodes()) == 3


async def test_a_worker_is_sent_the_secrets_and_configs_of_its_own_tasks_only(
    tmp_path: Path,
) -> None:
    async with manager_at(tmp_path / "manager") as (daemon, addr):
        worker = await joined_worker(daemon, addr, tmp_path / "worker")
        try:
            made = {
                name: daemon.control.create_item(
                    kind, DataRequest(name=name, data=base64.b64encode(name.encode()).decode())
                )
                for kind, name in ((SECRETS, "used"), (SECRETS, "unused"), (CONFIGS, "conf"))
            }
            config = ConfigReference(
                file=FileTarget(name="/etc/conf"), config_id=made["conf"].id, config_name="conf"
            )
            spec = mounting(make_spec("web", mode="global"), made["used"], config)
            daemon.control.create_service(spec)
            await sent(worker, made["used"].id)
            secret = worker._dependency(made["used"].id)
            assert secret is not None and secret.spec.data == b"used"
            config = worker._dependency(made["conf"].id)
            assert config is not None and config.spec.data == b"conf"
            assert worker._dependency(made["unused"].id) is None  # no task of its needs it
        finally:
            await worker.stop()


async def test_a_worker_is_sent_the_secrets_of_its_job_tasks(tmp_path: Path) -> None:
    """A job's tasks are meant to complete, not to run: their secrets are sent all the same."""
    async with manager_at(tmp_path / "manager") as (daemon, addr):
        worker = await joined_worker(daemon, addr, tmp_path / "worker")
        try:
            data = base64.b64encode(b"token").decode()
            secret = daemon.control.create_item(SECRETS, DataRequest(name="token", data=data))
            spec = make_spec("migrate", constraints=["node.role==worker"])
            job = replace(spec, mode=ServiceMode(replicated_job=ReplicatedJob()))
            daemon.control.create_service(mounting(job, secret))
            await sent(worker, secret.id)
            found = worker._dependency(secret.id)
            assert found is not None and found.spec.data == b"token"
        finally:
            await worker.stop()


def mounting(
    spec: ServiceSpec, secret: Secret, config: ConfigReference | None = None
) -> ServiceSpec:
    """``spec`` with its containers given ``secret`` as a file of its name, and ``config``."""
    template = spec.task_template
    assert template is not None and template.container_spec is not None
    container = replace(
        template.container_spec,
        secrets=[
            SecretReference(
                file=FileTarget(name=secret.name), secret_id=secret.id, secret_name=secret.name
            )
        ],
        configs=[config] if config is not None else None,
    )
    return replace(spec, task_template=replace(template, container_spec=container))


async def sent(worker: NodeDaemon, item_id: str) -> None:
    """Returns once the manager has sent the worker the secret or config ``item_id``."""

    async def arrived() -> None:
        while worker._dependency(item_id) is None:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(arrived(), 20)
