"""The swarm CA as SwarmKit's: the root, join tokens that pin it, node certificates whose subject
the CA chooses, identities read only from certificates the root signed, renewal times."""

from __future__ import annotations

import hashlib
import random
import re
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine.ca import (
    BACKDATE,
    CERTIFICATES,
    DEFAULT_NODE_CERT_EXPIRY,
    MANAGER,
    ROOT_EXPIRY,
    WORKER,
    CAError,
    NodeIdentity,
    RootCA,
    check_remote_ca,
    finish_root_rotation,
    issue_node_certificate,
    join_token,
    last_forced_rotation,
    load_or_create_root,
    new_node_key,
    new_root_ca,
    node_csr,
    node_identity,
    node_tls_info,
    parse_join_token,
    renewal_delay,
    root_rotation,
    same_trust,
    start_root_rotation,
    tls_info,
    token_admits,
    utc,
)

NOW = utc(1_767_225_600)  # 2026-01-01
WORKER_ID = NodeIdentity("dw02poa4vqvzxi5c10gm4pq2g", WORKER, "ec2adilxf4ngv7ev8fwsi61i7")
TOKEN = re.compile(r"^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$")  # swarm-semantics.md, checks 9


@pytest.fixture(scope="module")
def root() -> RootCA:
    return new_root_ca(NOW)


def subject(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    return str(cert.subject.get_attributes_for_oid(oid)[0].value)


def issued(root: RootCA, identity: NodeIdentity = WORKER_ID, **options: object) -> bytes:
    return issue_node_certificate(root, node_csr(new_node_key()), identity, NOW, **options)  # type: ignore[arg-type]


def test_the_root_is_a_self_signed_p256_swarm_ca_for_twenty_years(root: RootCA) -> None:
    cert = root.cert
    assert subject(cert, NameOID.COMMON_NAME) == "swarm-ca"
    assert cert.issuer == cert.subject
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert cert.not_valid_before_utc == NOW - BACKDATE
    assert cert.not_valid_after_utc == NOW + ROOT_EXPIRY
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(cert)


def test_join_tokens_pin_the_root_and_differ_only_in_their_secret(root: RootCA) -> None:
    worker, manager = join_token(root), join_token(root)
    assert TOKEN.match(worker) and TOKEN.match(manager)
    assert worker.split("-")[2] == manager.split("-")[2]
    assert worker.split("-")[3] != manager.split("-")[3]
    assert parse_join_token(worker).digest == hashlib.sha256(root.cert_pem).hexdigest()
    assert token_admits(worker, worker) and not token_admits(manager, worker)


def test_the_secret_is_sixteen_bytes_in_base_36() -> None:
    root = RootCA(b"any bundle")
    assert join_token(root, bytes(16)).endswith("-" + "0" * 25)
    top = join_token(root, b"\xff" * 16).split("-")[3]
    assert int(top, 36) == 2**128 - 1 and len(top) == 25


@pytest.mark.parametrize(
    "token",
    [
        "",
        "SWMTKN-1-abc-def",
        "SWMTKN-2-1-" + "0" * 50 + "-" + "0" * 25,
        "SWMTKN-1-" + "z" * 50 + "-" + "0" * 25,  # more than 256 bits
        "SWMTKN-1-" + "A" * 50 + "-" + "0" * 25,
    ],
)
def test_a_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(CAError, match=r"^invalid join token$"):
        parse_join_token(token)


def test_a_joining_node_trusts_only_the_root_its_token_pins(root: RootCA) -> None:
    token = join_token(root)
    assert check_remote_ca(root.cert_pem, token).cert_pem == root.cert_pem
    other = new_root_ca(NOW)
    expected = hashlib.sha256(root.cert_pem).hexdigest()
    with pytest.raises(
        CAError, match=f"^remote CA does not match fingerprint. Expected: {expected}$"
    ):
        check_remote_ca(other.cert_pem, token)


def test_a_node_certificate_carries_the_subject_the_ca_chose(root: RootCA) -> None:
    key = new_node_key()
    claimed = (  # a CSR that asks to be a manager of another cluster
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "chosen-by-me"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, MANAGER),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "elsewhere"),
                ]
            )
        )
        .sign(key, hashes.SHA256())
    )
    pem = issue_node_certificate(
        root, claimed.public_bytes(serialization.Encoding.PEM), WORKER_ID, NOW
    )
    cert = x509.load_pem_x509_certificate(pem)
    assert subject(cert, NameOID.COMMON_NAME) == WORKER_ID.node_id
    assert subject(cert, NameOID.ORGANIZATIONAL_UNIT_NAME) == WORKER
    assert subject(cert, NameOID.ORGANIZATION_NAME) == WORKER_ID.cluster_id
    assert cert.issuer == root.cert.subject
    assert cert.public_key() == key.public_key()
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [WORKER, WORKER_ID.node_id]
    assert cert.not_valid_before_utc == NOW - BACKDATE
    assert cert.not_valid_after_utc == NOW + DEFAULT_NODE_CERT_EXPIRY
    assert node_identity(root, pem, NOW) == WORKER_ID


def test_a_manager_certificate_also_names_the_ca(root: RootCA) -> None:
    manager = NodeIdentity("m1", MANAGER, "c1")
    cert = x509.load_pem_x509_certificate(issued(root, manager))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [MANAGER, "m1", "swarm-ca"]


def test_an_expiry_below_an_hour_gets_the_default_and_others_are_kept(root: RootCA) -> None:
    short = x509.load_pem_x509_certificate(issued(root, expiry=timedelta(minutes=30)))
    assert short.not_valid_after_utc == NOW + DEFAULT_NODE_CERT_EXPIRY
    day = x509.load_pem_x509_certificate(issued(root, expiry=timedelta(hours=24)))
    assert day.not_valid_after_utc == NOW + timedelta(hours=24)


def test_bad_requests_are_refused(root: RootCA) -> None:
    with pytest.raises(CAError, match=r"^invalid certificate request"):
        issue_node_certificate(root, b"not a csr", WORKER_ID, NOW)
    with pytest.raises(CAError, match=r"^this CA cannot sign"):
        issued(RootCA(root.cert_pem))
    with pytest.raises(CAError, match=r"^invalid role"):
        issued(root, NodeIdentity("n", "swarm-admin", "c"))


def test_an_identity_comes_only_from_a_valid_certificate_of_this_root(root: RootCA) -> None:
    pem = issued(root)
    with pytest.raises(CAError, match=r"^certificate not signed by this swarm's CA$"):
        node_identity(new_root_ca(NOW), pem, NOW)
    with pytest.raises(CAError, match=r"^Swarm certificates have expired"):
        node_identity(root, pem, NOW + DEFAULT_NODE_CERT_EXPIRY + timedelta(seconds=1))
    with pytest.raises(CAError, match=r"^invalid certificate"):
        node_identity(root, b"garbage", NOW)
    with pytest.raises(CAError, match=r"^a CA certificate names no node$"):
        node_identity(root, root.cert_pem, NOW)


def test_a_node_renews_between_half_and_four_fifths_of_its_validity(root: RootCA) -> None:
    pem = issued(root, expiry=timedelta(hours=100))
    start = NOW - BACKDATE
    validity = timedelta(hours=101)
    rng = random.Random(7)
    delays = [renewal_delay(pem, start, rng) for _ in range(200)]
    assert all(validity * 0.5 <= d <= validity * 0.8 for d in delays)
    assert len(set(delays)) > 50  # spread out, so nodes do not renew together
    assert all(d.total_seconds() % 60 == 0 for d in delays)
    assert renewal_delay(pem, start + validity, rng) == timedelta(0)


def test_during_a_rotation_the_next_root_signs_through_the_cross_signed_one(
    root: RootCA, tmp_path: Path
) -> None:
    rotation = start_root_rotation(tmp_path, root, 1, NOW)
    crossed = x509.load_pem_x509_certificate(rotation.cross_signed)
    assert crossed.public_key() == rotation.root.cert.public_key()
    crossed.verify_directly_issued_by(root.cert)  # what a node that trusts the old root needs
    chain = issued(rotation.root, chain=rotation.cross_signed)
    leaf, intermediate = x509.load_pem_x509_certificates(chain)
    leaf.verify_directly_issued_by(intermediate)
    assert node_identity((root, rotation.root), chain, NOW) == WORKER_ID
    with pytest.raises(CAError, match="not signed by this swarm's CA"):
        node_identity(root, chain, NOW)  # once the rotation is over, the old root alone fails
    info = node_tls_info(root.cert_pem, chain)
    assert info["TrustRoot"] == root.cert_pem.decode()
    assert same_trust(info, tls_info(root, rotation.cross_signed))  # the swarm's, mid-rotation
    assert not same_trust(info, tls_info(root))
    assert info["CertNotAfter"] == (NOW + DEFAULT_NODE_CERT_EXPIRY).strftime("%Y-%m-%dT%H:%M:%SZ")

    assert root_rotation(tmp_path) == rotation  # a restarted manager carries on with it
    for path in (tmp_path / CERTIFICATES).iterdir():
        assert path.stat().st_mode & 0o777 == 0o600
    assert finish_root_rotation(tmp_path) == rotation.root
    assert root_rotation(tmp_path) is None and last_forced_rotation(tmp_path) == 1
    assert load_or_create_root(tmp_path, NOW) == rotation.root
