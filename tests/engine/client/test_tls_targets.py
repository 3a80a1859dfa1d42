"""TLS targets: ``tcp://`` with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (or a docker context's
TLS files) gives a verifying context with the client's certificate, and a real exchange with an
HTTPS engine on 127.0.0.1 works with the right CA and fails with another."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from engine.client import ConnectError, EngineClient, TargetError, resolve_target


@dataclass
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def issue(ca: Issued, common_name: str, server: bool) -> Issued:
    """A leaf certificate signed by ``ca``: for 127.0.0.1 and localhost if ``server``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    return Issued(key, builder.sign(ca.key, hashes.SHA256()))


def write_cert_dir(directory: Path, ca: Issued, client: Issued) -> Path:
    """ca.pem, cert.pem and key.pem, as ``docker-machine`` and client bundles lay them out."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(ca.cert_pem())
    (directory / "cert.pem").write_bytes(client.cert_pem())
    (directory / "key.pem").write_bytes(client.key_pem())
    return directory


@dataclass
class Engine:
    """An HTTPS engine on 127.0.0.1 that wants a client certificate signed by its CA."""

    port: int
    ca: Issued
    client: Issued


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    ca = make_ca("engine-ca")
    server = issue(ca, "engine", server=True)
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    (server_dir / "cert.pem").write_bytes(server.cert_pem())
    (server_dir / "key.pem").write_bytes(server.key_pem())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca.cert_pem().decode())
    context.load_cert_chain(server_dir / "cert.pem", server_dir / "key.pem")
    context.verify_mode = ssl.CERT_REQUIRED  # as dockerd --tlsverify

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="OK", headers={"Api-Version": "1.41"})

    async def info(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        subject = dict(item for rdn in (peer or {}).get("subject", ()) for item in rdn)
        return web.json_response({"ClientCommonName": subject.get("commonName")})

    app = web.Application()
    app.router.add_get("/_ping", ping)
    app.router.add_get("/v1.41/info", info)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Engine(port, ca, issue(ca, "ops", server=False))
    finally:
        await runner.cleanup()


def tls_env(url: str, cert_path: Path) -> dict[str, str]:
    return {"DOCKER_HOST": url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(cert_path)}


def write_context(config: Path, name: str, host: str) -> Path:
    """A docker context named ``name``; returns the directory its TLS files go in."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": False}
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Endpoints": {"docker": endpoint}}))
    return config / "contexts" / "tls" / digest / "docker"


def test_tls_verify_makes_a_verifying_context_from_the_cert_path(tmp_path: Path) -> None:
    ca = make_ca("ops-ca")
    certs = write_cert_dir(tmp_path / "certs", ca, issue(ca, "ops", server=False))
    target = resolve_target(environ=tls_env("tcp://10.0.0.2:2376", certs), config_dir=tmp_path)
    assert (target.url, target.source) == ("tcp://10.0.0.2:2376", "DOCKER_HOST")
    assert target.tls is not None
    assert target.tls.verify_mode == ssl.CERT_REQUIRED and target.tls.check_hostname
    # Only the given CA is trusted, as the docker CLI trusts only it.
    assert [dict(rdn[0] for rdn in c["subject"]) for c in target.tls.get_ca_certs()] == [
        {"commonName": "ops-ca"}
    ]


def test_the_host_argument_takes_its_tls_from_the_environment(tmp_path: Path) -> None:
    ca = make_ca("ops-ca")
    certs = write_cert_dir(tmp_path / "certs", ca, issue(ca, "ops", server=False))
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}
    target = resolve_target("tcp://manager:2376", environ=env, config_dir=tmp_path)
    assert target.source == "--host" and target.tls is not None
    # Without DOCKER_TLS_VERIFY (or with it empty) it is plain TCP; a unix socket never has TLS.
    for plain in ({}, {"DOCKER_TLS_VERIFY": "", "DOCKER_CERT_PATH": str(certs)}):
        assert resolve_target("tcp://manager:2375", environ=plain, config_dir=tmp_path).tls is None
    unix = resolve_target("unix:///var/run/docker.sock", environ=env, config_dir=tmp_path)
    assert unix.tls is None


def test_the_cert_path_defaults_to_the_docker_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = make_ca("ops-ca")
    write_cert_dir(tmp_path / ".docker", ca, issue(ca, "ops", server=False))
    monkeypatch.setenv("HOME", str(tmp_path))
    env = {"DOCKER_HOST": "tcp://manager:2376", "DOCKER_TLS_VERIFY": "1"}
    assert resolve_target(environ=env, config_dir=tmp_path).tls is not None


def test_missing_tls_files_are_named(tmp_path: Path) -> None:
    ca = make_ca("ops-ca")
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.pem").write_bytes(ca.cert_pem())
    with pytest.raises(TargetError) as raised:
        resolve_target(environ=tls_env("tcp://manager:2376", certs), config_dir=tmp_path)
    assert str(raised.value) == f"TLS files missing: {certs / 'cert.pem'}, {certs / 'key.pem'}"


def test_unusable_tls_files_are_a_target_error(tmp_path: Path) -> None:
    ca, other = make_ca("ops-ca"), make_ca("other-ca")
    certs = write_cert_dir(tmp_path / "certs", ca, issue(ca, "ops", server=False))
    (certs / "key.pem").write_bytes(issue(other, "ops", server=False).key_pem())  # not its key
    mismatch = r"TLS files in .*certs: cert\.pem and key\.pem: .*key values mismatch"
    with pytest.raises(TargetError, match=mismatch):
        resolve_target(environ=tls_env("tcp://manager:2376", certs), config_dir=tmp_path)
    write_cert_dir(certs, ca, issue(ca, "ops", server=False))
    (certs / "ca.pem").write_text("not a certificate\n")
    with pytest.raises(TargetError, match=r"cannot use the TLS files in .*certs: ca\.pem: "):
        resolve_target(environ=tls_env("tcp://manager:2376", certs), config_dir=tmp_path)


def test_a_docker_context_with_tls_files(tmp_path: Path) -> None:
    ca = make_ca("ops-ca")
    tls_dir = write_context(tmp_path, "prod", "tcp://manager:2376")
    write_cert_dir(tls_dir, ca, issue(ca, "ops", server=False))
    target = resolve_target(context="prod", environ={}, config_dir=tmp_path)
    assert target.url == "tcp://manager:2376" and target.tls is not None
    assert target.tls.verify_mode == ssl.CERT_REQUIRED
    (tls_dir / "key.pem").unlink()
    with pytest.raises(TargetError, match=r"TLS files missing: .*key\.pem"):
        resolve_target(context="prod", environ={}, config_dir=tmp_path)


async def test_a_round_trip_with_the_engines_ca(engine: Engine, tmp_path: Path) -> None:
    certs = write_cert_dir(tmp_path / "certs", engine.ca, engine.client)
    url = f"tcp://127.0.0.1:{engine.port}"
    target = resolve_target(environ=tls_env(url, certs), config_dir=tmp_path)
    client = EngineClient(target.url, target.tls)
    try:
        assert await client.ping()
        info = await client.info()
    finally:
        await client.close()
    assert info == {"ClientCommonName": "ops"}  # the engine saw our client certificate


async def test_another_ca_is_refused(engine: Engine, tmp_path: Path) -> None:
    stranger = make_ca("stranger-ca")
    certs = write_cert_dir(tmp_path / "certs", stranger, engine.client)
    url = f"tcp://127.0.0.1:{engine.port}"
    target = resolve_target(environ=tls_env(url, certs), config_dir=tmp_path)
    client = EngineClient(target.url, target.tls)
    try:
        assert not await client.ping()
        with pytest.raises(ConnectError, match="certificate verify failed") as raised:
            await client.info()
    finally:
        await client.close()
    assert raised.value.message.startswith(f"cannot reach {url}: ")


async def test_a_client_certificate_of_another_ca_is_refused_by_the_engine(
    engine: Engine, tmp_path: Path
) -> None:
    stranger = make_ca("stranger-ca")
    certs = write_cert_dir(tmp_path / "certs", engine.ca, issue(stranger, "ops", server=False))
    url = f"tcp://127.0.0.1:{engine.port}"
    target = resolve_target(environ=tls_env(url, certs), config_dir=tmp_path)
    client = EngineClient(target.url, target.tls)
    try:
        with pytest.raises(ConnectError):
            await client.info()
    finally:
        await client.close()
