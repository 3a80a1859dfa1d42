"""The swarm's certificate authority, as SwarmKit's ``ca`` package: a root CA inside the
manager, a certificate per node whose subject the CA chooses, and join tokens that pin the root.

Functions over ``cryptography``, all pure but ``load_or_create_root`` (the data directory):

- ``new_root_ca`` makes the root (ECDSA P-256, ``CN=swarm-ca``, 20 years, backdated an hour);
- ``join_token`` / ``parse_join_token``: ``SWMTKN-1-<digest>-<secret>``, the digest the SHA-256
  of the root's PEM in base 36 (50 characters), the secret 16 random bytes in base 36 (25);
- ``check_remote_ca``: what a joining node does with the root it fetched before trusting it;
- ``new_node_key`` and ``node_csr``: the joining node's side; the CSR says nothing the CA uses
  but its public key;
- ``issue_node_certificate``: ``CN=<node id>``, ``OU=swarm-manager|swarm-worker``,
  ``O=<cluster id>``, SANs the role and the ID (and ``swarm-ca`` for managers), client and
  server auth, backdated an hour;
- ``node_identity``: who a peer is, read only from a certificate the root signed;
- ``load_or_create_root``: the manager's root, kept in its data directory (``certificates/``);
- ``tls_info``: the API's ``TLSInfo`` for what the root issues;
- ``renewal_delay``: when a node renews, at a random point between 50 % and 80 % of its
  certificate's validity.

Errors are ``CAError`` with SwarmKit's words.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import random
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from engine.ca.files import KeyLocked, key_pem, read_key, write_key, write_private

__all__ = [
    "BACKDATE",
    "CERTIFICATES",
    "DEFAULT_NODE_CERT_EXPIRY",
    "MANAGER",
    "MIN_NODE_CERT_EXPIRY",
    "ROOT_CN",
    "ROOT_EXPIRY",
    "WORKER",
    "CAError",
    "JoinToken",
    "KeyLocked",
    "NodeFiles",
    "NodeIdentity",
    "RootCA",
    "RootRotation",
    "certifies",
    "check_remote_ca",
    "cross_sign",
    "finish_root_rotation",
    "issue_node_certificate",
    "join_token",
    "last_forced_rotation",
    "load_or_create_root",
    "new_node_key",
    "new_root_ca",
    "node_csr",
    "node_identity",
    "node_tls_info",
    "parse_join_token",
    "renewal_delay",
    "root_digest",
    "root_rotation",
    "same_trust",
    "start_root_rotation",
    "tls_info",
    "token_admits",
    "utc",
]

ROOT_CN = "swarm-ca"
ROOT_EXPIRY = timedelta(seconds=630_720_000)  # SwarmKit's RootCAExpiration: 20 years
DEFAULT_NODE_CERT_EXPIRY = timedelta(hours=2160)  # 90 days
MIN_NODE_CERT_EXPIRY = timedelta(hours=1)
BACKDATE = timedelta(hours=1)  # SwarmKit's CertBackdate: clocks a little behind still accept
MANAGER = "swarm-manager"
WORKER = "swarm-worker"
RENEW_FROM, RENEW_UNTIL = (
    0.5,
    0.8,
)  # of the validity: CertLowerRotationRange, CertUpperRotationRange

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_TOKEN = re.compile(r"^SWMTKN-1-([0-9a-z]{50})-([0-9a-z]{25})$")


class CAError(Exception):
    """A certificate, token or request the CA does not accept."""


@dataclass(frozen=True)
class RootCA:
    """The root certificate (PEM) and, on a manager, its private key (PEM, unencrypted: keep it
    in memory or in a file only its owner reads)."""

    cert_pem: bytes
    key_pem: bytes | None = None

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def digest(self) -> str:
        return root_digest(self.cert_pem)


@dataclass(frozen=True)
class JoinToken:
    digest: str  # hex SHA-256 of the root CA's PEM
    secret: str  # the part that admits a node: compare it in constant time


@dataclass(frozen=True)
class NodeIdentity:
    node_id: str
    role: str  # MANAGER or WORKER
    cluster_id: str


def new_root_ca(now: datetime, seed: str | None = None) -> RootCA:
    """A new root; the same every time for the same ``seed`` (a simulation that repeats)."""
    key = new_node_key(seed)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial(seed))
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + ROOT_EXPIRY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=seed is not None)
    )
    return RootCA(cert.public_bytes(serialization.Encoding.PEM), key_pem(key))


def _serial(seed: str | None) -> int:
    if seed is None:
        return x509.random_serial_number()
    return int.from_bytes(hashlib.sha256(f"serial {seed}".encode()).digest()[:19], "big")


def root_digest(cert_pem: bytes) -> str:
    """The hex SHA-256 of the root's PEM bundle, as join tokens carry it."""
    return hashlib.sha256(cert_pem).hexdigest()


def join_token(root: RootCA, secret: bytes | None = None) -> str:
    """A new join token for ``root``: worker and manager tokens share the digest and differ in
    their secret (16 random bytes unless given)."""
    secret = secrets.token_bytes(16) if secret is None else secret
    return (
        f"SWMTKN-1-{_base36(int(root.digest, 16), 50)}-{_base36(int.from_bytes(secret, 'big'), 25)}"
    )


def parse_join_token(token: str) -> JoinToken:
    match = _TOKEN.match(token)
    if match is None:
        raise CAError("invalid join token")
    digest, secret = match.groups()
    number = int(digest, 36)
    if number >= 1 << 256:
        raise CAError("invalid join token")
    return JoinToken(digest=f"{number:064x}", secret=secret)


def token_admits(token: str, expected: str) -> bool:
    """Whether ``token`` is ``expected``, compared in constant time."""
    return hmac.compare_digest(token.encode(), expected.encode())


def check_remote_ca(cert_pem: bytes, token: str) -> RootCA:
    """The root CA a joining node fetched, once its digest is the one the token pins.

    Raises:
        CAError: the token is malformed, the PEM is no certificate, or it is another CA.
    """
    expected = parse_join_token(token).digest
    if root_digest(cert_pem) != expected:
        raise CAError(f"remote CA does not match fingerprint. Expected: {expected}")
    try:
        x509.load_pem_x509_certificate(cert_pem)
    except ValueError as error:
        raise CAError(f"invalid root CA certificate: {error}") from None
    return RootCA(cert_pem)


def new_node_key(seed: str | None = None) -> ec.EllipticCurvePrivateKey:
    """A new P-256 key; the same every time for the same ``seed``."""
    if seed is None:
        return ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(f"key {seed}".encode()).digest()
    return ec.derive_private_key(
        int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1()
    )


_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def node_csr(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A CSR (PEM) for ``key``. Its subject is ignored: the CA chooses the node's identity."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "swarm-node")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def certifies(cert_pem: bytes, key: ec.EllipticCurvePrivateKey) -> bool:
    """Whether ``cert_pem`` is a certificate of ``key``'s public key: what a node checks of the
    certificate it was sent before it uses it."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return False
    return cert.public_key() == key.public_key()


def issue_node_certificate(
    root: RootCA,
    csr_pem: bytes,
    identity: NodeIdentity,
    now: datetime,
    expiry: timedelta = DEFAULT_NODE_CERT_EXPIRY,
    chain: bytes = b"",
    seed: str | None = None,
) -> bytes:
    """Signs the public key of ``csr_pem`` into a node certificate (PEM) for ``identity``,
    followed by ``chain``: during a root rotation, the new root cross-signed by the old, so that
    a peer that trusts only the old root still accepts it. The same every time for the same
    ``seed`` (a simulation that repeats).

    Raises:
        CAError: the CSR is malformed or not signed by its own key, or this CA has no key.
    """
    if root.key_pem is None:
        raise CAError("this CA cannot sign: it has no key")
    if identity.role not in (MANAGER, WORKER):
        raise CAError(f"invalid role {identity.role!r}")
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as error:
        raise CAError(f"invalid certificate request: {error}") from None
    if not csr.is_signature_valid:
        raise CAError("invalid certificate request: its signature does not match its key")
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise CAError("invalid certificate request: the key must be ECDSA")
    if expiry < MIN_NODE_CERT_EXPIRY:
        expiry = DEFAULT_NODE_CERT_EXPIRY  # as SwarmKit's signer
    signer = serialization.load_pem_private_key(root.key_pem, password=None)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    names = [identity.role, identity.node_id] + ([ROOT_CN] if identity.role == MANAGER else [])
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, identity.cluster_id),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.role),
                    x509.NameAttribute(NameOID.COMMON_NAME, identity.node_id),
                ]
            )
        )
        .issuer_name(root.cert.subject)
        .public_key(public_key)
        .serial_number(_serial(seed))
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + expiry)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
        )
        .add_extension(_authority(signer), critical=False)
        .sign(signer, hashes.SHA256(), ecdsa_deterministic=seed is not None)
    )
    return cert.public_bytes(serialization.Encoding.PEM) + chain


def node_identity(roots: RootCA | Sequence[RootCA], cert_pem: bytes, now: datetime) -> NodeIdentity:
    """Who the holder of ``cert_pem`` is, from a certificate one of ``roots`` signed (the
    swarm's root, and the next one during a rotation) and still valid.

    Raises:
        CAError: not a certificate, not signed by these roots, a CA's, expired or not yet
            valid, or without a node's subject.
    """
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as error:
        raise CAError(f"invalid certificate: {error}") from None
    if not any(_issued_by(cert, root.cert) for root in _sequence(roots)):
        raise CAError("certificate not signed by this swarm's CA")
    with contextlib.suppress(x509.ExtensionNotFound):
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise CAError("a CA certificate names no node")
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise CAError(
            "Swarm certificates have expired. To replace them, leave the swarm and join again."
        )

    def one(oid: x509.ObjectIdentifier) -> str:
        values = cert.subject.get_attributes_for_oid(oid)
        if len(values) != 1:
            raise CAError("certificate without a node's subject")
        return str(values[0].value)

    role = one(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if role not in (MANAGER, WORKER):
        raise CAError(f"certificate with an unknown role {role!r}")
    return NodeIdentity(
        node_id=one(NameOID.COMMON_NAME),
        role=role,
        cluster_id=one(NameOID.ORGANIZATION_NAME),
    )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _sequence(roots: RootCA | Sequence[RootCA]) -> Sequence[RootCA]:
    return (roots,) if isinstance(roots, RootCA) else roots


def cross_sign(old: RootCA, new: RootCA, now: datetime) -> bytes:
    """``new``'s root certificate signed by ``old``'s key (PEM): the intermediate through which
    what ``new`` signs chains to ``old`` while nodes still trust only ``old``."""
    if old.key_pem is None:
        raise CAError("this CA cannot sign: it has no key")
    signer = serialization.load_pem_private_key(old.key_pem, password=None)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    cert = new.cert
    crossed = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(old.cert.subject)
        .public_key(cert.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(cert.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(cert.public_key()), critical=False)
        .add_extension(_authority(signer), critical=False)
        .sign(signer, hashes.SHA256())
    )
    return crossed.public_bytes(serialization.Encoding.PEM)


def _authority(signer: ec.EllipticCurvePrivateKey) -> x509.AuthorityKeyIdentifier:
    """Which key signed: with roots that share a name (every swarm's is ``swarm-ca``), how a
    verifier finds the right one."""
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key())


def renewal_delay(cert_pem: bytes, now: datetime, rng: random.Random) -> timedelta:
    """How long until the holder renews ``cert_pem``: a random point between 50 % and 80 % of
    its validity, to the minute (SwarmKit's calculateRandomExpiry); zero once it is past."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    validity = cert.not_valid_after_utc - cert.not_valid_before_utc
    lowest = int(validity.total_seconds() * RENEW_FROM / 60)
    highest = int(validity.total_seconds() * RENEW_UNTIL / 60)
    renew_at = cert.not_valid_before_utc + timedelta(minutes=rng.randint(lowest, highest))
    return max(timedelta(0), renew_at - now)


def _base36(number: int, width: int) -> str:
    digits = []
    while number:
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """A CA signs certificates; a node signs and enciphers keys (SwarmKit's signing profile)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def utc(seconds: float) -> datetime:
    """A Unix time as an aware UTC datetime, as the functions here take ``now``."""
    return datetime.fromtimestamp(seconds, UTC)


CERTIFICATES = "certificates"  # the data directory's folder of the CA's files
_ROOT_CERT, _ROOT_KEY = "swarm-root-ca.crt", "swarm-root-ca.key"
_NODE_CERT, _NODE_KEY = "swarm-node.crt", "swarm-node.key"


def load_or_create_root(
    data_dir: Path | None, now: datetime, password: bytes | None = None, seed: str | None = None
) -> RootCA:
    """The manager's root CA: read from ``<data_dir>/certificates`` if it is there, else made
    and written there (the key readable by its owner alone, encrypted with ``password`` if
    given); kept in memory without a data directory.

    Raises:
        CAError: the files are there but unreadable as a root and its key.
        KeyLocked: the key is encrypted and ``password`` is None.
    """
    if data_dir is None:
        return new_root_ca(now, seed)
    folder = data_dir / CERTIFICATES
    cert_file, key_file = folder / _ROOT_CERT, folder / _ROOT_KEY
    if cert_file.exists() and key_file.exists():
        return _read_root(cert_file, key_file, password)
    root = new_root_ca(now, seed)
    _write_root(root, cert_file, key_file, password)
    return root


def _read_root(cert_file: Path, key_file: Path, password: bytes | None) -> RootCA:
    try:
        key = read_key(key_file, password)
        root = RootCA(cert_file.read_bytes(), key_pem(key))
        matches = key.public_key() == root.cert.public_key()
    except ValueError as error:
        raise CAError(f"{cert_file.parent}: unreadable root CA: {error}") from None
    if not matches:
        raise CAError(f"{cert_file.parent}: the root CA's key is not its certificate's")
    return root


def _write_root(root: RootCA, cert_file: Path, key_file: Path, password: bytes | None) -> None:
    key = serialization.load_pem_private_key(root.key_pem or b"", password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    write_key(key_file, key, password)
    write_private(cert_file, root.cert_pem)


@dataclass
class NodeFiles:
    """Where a node keeps the root it trusts, its certificate and its key; ``password``, the
    data key its key is encrypted with while the swarm is autolocked."""

    root: Path
    cert: Path
    key: Path
    password: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, data_dir: Path) -> NodeFiles:
        folder = data_dir / CERTIFICATES
        return cls(folder / _ROOT_CERT, folder / _NODE_CERT, folder / _NODE_KEY)

    def exist(self) -> bool:
        return self.root.exists() and self.cert.exists() and self.key.exists()

    def save(
        self, root_pem: bytes | None, cert_pem: bytes, key: ec.EllipticCurvePrivateKey
    ) -> None:
        """Writes the node's certificate and key (and the root it trusts, unless None): the
        key first, so that a certificate on disk always has its key beside it."""
        write_key(self.key, key, self.password)
        write_private(self.cert, cert_pem)
        if root_pem is not None:
            write_private(self.root, root_pem)

    def remove(self) -> None:
        for path in (self.cert, self.key):
            path.unlink(missing_ok=True)


def tls_info(root: RootCA, issuer_pem: bytes | None = None) -> dict[str, str]:
    """The API's ``TLSInfo``: the root trusted (PEM), and the subject and public key (DER,
    base64) of what issues certificates, ``issuer_pem`` if given, else the root itself; what
    ``docker swarm ca --rotate`` compares, the swarm's against each node's."""
    issuer = x509.load_pem_x509_certificate(issuer_pem) if issuer_pem else root.cert
    public_key = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "TrustRoot": root.cert_pem.decode(),
        "CertIssuerSubject": base64.b64encode(issuer.subject.public_bytes()).decode(),
        "CertIssuerPublicKey": base64.b64encode(public_key).decode(),
    }


def node_tls_info(root_pem: bytes, cert_pem: bytes) -> dict[str, str]:
    """A node's ``TLSInfo``: the root it trusts, and the issuer of its certificate (the
    intermediate that follows it in ``cert_pem``, if one does, else the root); and, beyond the
    API's three fields, when its certificate expires (``CertNotAfter``, RFC 3339)."""
    chain = x509.load_pem_x509_certificates(cert_pem)
    issuer = chain[1].public_bytes(serialization.Encoding.PEM) if len(chain) > 1 else None
    expires = chain[0].not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {**tls_info(RootCA(root_pem), issuer), "CertNotAfter": expires}


TRUST = ("TrustRoot", "CertIssuerSubject", "CertIssuerPublicKey")  # what a rotation compares


def same_trust(node: Mapping[str, str] | None, swarm: Mapping[str, str]) -> bool:
    """Whether a node's ``TLSInfo`` is the swarm's: the same root, the same issuer."""
    return node is not None and all(node.get(key) == swarm.get(key) for key in TRUST)


@dataclass(frozen=True)
class RootRotation:
    """A root rotation under way: the next root (with its key), its certificate cross-signed by
    the current root, and the ``ForceRotate`` it answers."""

    root: RootCA
    cross_signed: bytes
    forced: int


_NEXT_CERT, _NEXT_KEY, _CROSS = "swarm-root-ca.next.crt", "swarm-root-ca.next.key", "cross.crt"
_FORCED = "forced-rotation"


def start_root_rotation(
    data_dir: Path, old: RootCA, forced: int, now: datetime, password: bytes | None = None
) -> RootRotation:
    """A new root and its cross-signed certificate, kept beside the current root until the
    rotation ends (a restart carries on with them)."""
    new = new_root_ca(now)
    rotation = RootRotation(new, cross_sign(old, new, now), forced)
    folder = data_dir / CERTIFICATES
    _write_root(new, folder / _NEXT_CERT, folder / _NEXT_KEY, password)
    write_private(folder / _CROSS, rotation.cross_signed)
    write_private(folder / _FORCED, str(forced).encode())
    return rotation


def root_rotation(data_dir: Path, password: bytes | None = None) -> RootRotation | None:
    """The rotation under way, if one is."""
    folder = data_dir / CERTIFICATES
    paths = [folder / name for name in (_NEXT_CERT, _NEXT_KEY, _CROSS)]
    if not all(path.exists() for path in paths):
        return None
    root = _read_root(folder / _NEXT_CERT, folder / _NEXT_KEY, password)
    return RootRotation(root, (folder / _CROSS).read_bytes(), last_forced_rotation(data_dir))


def finish_root_rotation(data_dir: Path, password: bytes | None = None) -> RootCA:
    """Makes the next root the root; returns it."""
    folder = data_dir / CERTIFICATES
    rotation = root_rotation(data_dir, password)
    if rotation is None:
        raise CAError("no root rotation is under way")
    _write_root(rotation.root, folder / _ROOT_CERT, folder / _ROOT_KEY, password)
    for name in (_NEXT_CERT, _NEXT_KEY, _CROSS):
        (folder / name).unlink()
    return rotation.root


def last_forced_rotation(data_dir: Path) -> int:
    """The ``ForceRotate`` the last rotation answered (0: none yet)."""
    try:
        return int((data_dir / CERTIFICATES / _FORCED).read_text())
    except (FileNotFoundError, ValueError):
        return 0
