"""The Engine API over TCP, as dockerd serves it with ``--tlsverify``: the docker CLI with
``DOCKER_TLS_VERIFY=1`` and a client certificate of the CA works; a client without one, or with
another CA's, is refused during the handshake; the unix socket stays 0660."""

from __future__ import annotations

import ipaddress
import os
import socket as sockets
import ssl
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.integration.conftest import require, start_engine
from tests.integration.test_swarm_join import free_port


def write_pem(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def certificate(
    name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    usage: x509.ObjectIdentifier | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A CA (no issuer), or a certificate it signs for ``usage``, valid for an hour."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    signer = issuer[1] if issuer else key
    return builder.sign(signer, hashes.SHA256()), key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ca.pem`` and ``server/``, ``client/`` (``ca.pem``, ``cert.pem``, ``key.pem`` as
    DOCKER_CERT_PATH wants them), and ``stranger/``: a client of another CA."""
    root = tmp_path_factory.mktemp("pki")
    ca = certificate("swarmdeck test CA", None)
    other = certificate("another CA", None)
    ca_pem = ca[0].public_bytes(serialization.Encoding.PEM)
    (root / "ca.pem").write_bytes(ca_pem)
    write_pem(root / "server", *certificate("engine", ca, ExtendedKeyUsageOID.SERVER_AUTH))
    for name, issuer in (("client", ca), ("stranger", other)):
        write_pem(root / name, *certificate(name, issuer, ExtendedKeyUsageOID.CLIENT_AUTH))
        (root / name / "ca.pem").write_bytes(ca_pem)
    return root


def test_the_api_over_tcp_needs_a_client_certificate_of_the_ca(tmp_path: Path, pki: Path) -> None:
    port = free_port()
    engine = start_engine(
        tmp_path,
        "--nodes=1",
        f"--host=tcp://127.0.0.1:{port}",
        "--tlsverify",
        f"--tlscacert={pki / 'ca.pem'}",
        f"--tlscert={pki / 'server' / 'cert.pem'}",
        f"--tlskey={pki / 'server' / 'key.pem'}",
    )
    try:
        assert engine.socket.stat().st_mode & 0o777 == 0o660

        def docker(cert_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
            env = {
                **os.environ,
                "DOCKER_HOST": f"tcp://127.0.0.1:{port}",
                "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": str(cert_path),
            }
            return subprocess.run(
                [require("docker"), *args], env=env, capture_output=True, text=True, timeout=60
            )

        listed = docker(pki / "client", "node", "ls", "--format", "{{.Hostname}}")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.split() == ["swarm-master"]
        refused = docker(pki / "stranger", "node", "ls")
        assert refused.returncode != 0

        context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        with (
            sockets.create_connection(("127.0.0.1", port), timeout=10) as raw,
            pytest.raises((ssl.SSLError, ConnectionError)),
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"GET /_ping HTTP/1.1\r\nHost: engine\r\n\r\n")
            if not tls.recv(1024):  # TLS 1.3: the refusal comes with the first read
                raise ConnectionError("closed without an answer")
    finally:
        assert engine.stop() == 0


def test_tcp_without_mutual_tls_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="served with mutual TLS only"):
        start_engine(tmp_path, "--nodes=1", f"--host=tcp://127.0.0.1:{free_port()}")
