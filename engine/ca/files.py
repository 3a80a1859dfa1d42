"""The CA's files: written whole or not at all, readable by their owner alone; private keys as
PKCS#8 PEM, encrypted with the data key when the swarm is autolocked (``engine.ca.lock``)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["KeyLocked", "key_pem", "read_key", "write_key", "write_private"]


class KeyLocked(Exception):
    """A private key is encrypted and its data key is not known: the swarm is locked."""


def write_private(path: Path, data: bytes) -> None:
    """Replaces ``path`` with ``data`` at once, readable by its owner alone, in a folder only
    its owner enters."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    new = path.with_name(path.name + ".new")
    descriptor = os.open(new, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(new, path)


def key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    """The key as PKCS#8 PEM, encrypted with ``password`` if given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def read_key(path: Path, password: bytes | None) -> ec.EllipticCurvePrivateKey:
    """The private key in ``path``, decrypted with ``password`` if it is encrypted.

    Raises:
        KeyLocked: it is encrypted and ``password`` is None.
        ValueError: it is not a key, or ``password`` is not its.
    """
    data = path.read_bytes()
    encrypted = b"ENCRYPTED PRIVATE KEY" in data
    if encrypted and password is None:
        raise KeyLocked(f"{path} is encrypted: the swarm is locked")
    key = serialization.load_pem_private_key(data, password=password if encrypted else None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an ECDSA key")
    return key


def write_key(path: Path, key: ec.EllipticCurvePrivateKey, password: bytes | None) -> None:
    write_private(path, key_pem(key, password))
