"""Autolock, as SwarmKit's: the private keys a manager keeps on disk are encrypted with a data
key (DEK), which is kept wrapped by the unlock key (KEK). The unlock key is never written: the
operator keeps it (``SWMKEY-1-`` and 32 bytes in base64), and a restarted manager is locked until
``docker swarm unlock`` gives it back.

Without autolock the keys are in the clear (readable by their owner alone) and there is no
data key. Turning autolock on writes the wrapped data key first, then encrypts the keys; turning
it off writes them in the clear first, then drops the data key: a crash in between leaves keys in
the clear beside a data key, which ``KeyLock`` takes for a change that did not finish.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.ca.files import read_key, write_key, write_private

__all__ = ["InvalidUnlockKey", "KeyLock", "parse_unlock_key", "unlock_key_text"]

PREFIX = "SWMKEY-1-"
DEK_FILE = "swarm-dek"  # the data key, wrapped by the unlock key
_CONTEXT = b"swarmdeck data key"  # what the wrapping is for, bound into it


class InvalidUnlockKey(ValueError):
    """A well-formed unlock key that is not this swarm's."""


def unlock_key_text(kek: bytes) -> str:
    return PREFIX + base64.b64encode(kek).decode().rstrip("=")


def parse_unlock_key(text: str) -> bytes:
    """Raises ValueError("invalid key string") for text that is not an unlock key."""
    body = text.strip().removeprefix(PREFIX)
    if not text.strip().startswith(PREFIX) or not body:
        raise ValueError("invalid key string")
    try:
        kek = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("invalid key string") from None
    if len(kek) != 32:
        raise ValueError("invalid key string")
    return kek


class KeyLock:
    """The private keys of a data directory's ``certificates`` folder and their lock.

    ``password`` is the data key once known (None without autolock, or while locked);
    ``unlock_key`` the operator's key, in memory only ("" without autolock, or while locked).
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._dek_file = folder / DEK_FILE
        self.password: bytes | None = None
        self.unlock_key = ""
        if self._dek_file.exists() and not any(_encrypted(path) for path in self._keys()):
            self._dek_file.unlink()  # autolock was being turned on or off: it did not finish

    @property
    def autolocked(self) -> bool:
        return self._dek_file.exists()

    @property
    def locked(self) -> bool:
        return self.autolocked and self.password is None

    def unlock(self, text: str) -> None:
        """Raises ValueError("invalid key string"), or InvalidUnlockKey for another key."""
        kek = parse_unlock_key(text)
        wrapped = self._dek_file.read_bytes()
        try:
            self.password = AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], _CONTEXT)
        except InvalidTag:
            raise InvalidUnlockKey("swarm could not be unlocked: invalid key provided") from None
        self.unlock_key = unlock_key_text(kek)

    def turn_on(self) -> str:
        """Encrypts the keys with a new data key wrapped by a new unlock key; returns it."""
        dek = os.urandom(32)
        text = self._wrap(dek)
        self._rewrite_keys(dek)
        self.password = dek
        return text

    def turn_off(self) -> None:
        self._rewrite_keys(None)
        self._dek_file.unlink(missing_ok=True)
        self.password, self.unlock_key = None, ""

    def rotate(self) -> str:
        """Wraps the data key with a new unlock key; returns it. The keys stay as they are."""
        assert self.password is not None, "rotating the unlock key of a swarm not unlocked"
        return self._wrap(self.password)

    def _wrap(self, dek: bytes) -> str:
        kek = os.urandom(32)
        nonce = os.urandom(12)
        write_private(self._dek_file, nonce + AESGCM(kek).encrypt(nonce, dek, _CONTEXT))
        self.unlock_key = unlock_key_text(kek)
        return self.unlock_key

    def _rewrite_keys(self, password: bytes | None) -> None:
        for path in self._keys():
            write_key(path, read_key(path, self.password), password)

    def _keys(self) -> list[Path]:
        return sorted(self._folder.glob("*.key")) if self._folder.exists() else []


def _encrypted(path: Path) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
