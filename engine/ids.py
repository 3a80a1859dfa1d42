"""Object IDs as SwarmKit makes them: 128 random bits in base 36, 25 characters."""

from __future__ import annotations

import random
import secrets

__all__ = ["IdGenerator"]

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_LENGTH = 25  # ceil(128 * log(2) / log(36))


class IdGenerator:
    """Makes IDs; with a seed the sequence repeats, which simulations and tests rely on."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed) if seed is not None else None

    def new_id(self) -> str:
        bits = self._random.getrandbits(128) if self._random else secrets.randbits(128)
        digits = []
        for _ in range(_LENGTH):
            bits, digit = divmod(bits, 36)
            digits.append(_ALPHABET[digit])
        return "".join(reversed(digits))

    def token_hex(self, nbytes: int) -> str:
        if self._random:
            return self._random.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()
        return secrets.token_hex(nbytes)
