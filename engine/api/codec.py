"""JSON in and out of API values, with one error type for whatever a client got wrong."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from engine.errors import InvalidArgument

__all__ = ["decode", "encode", "from_builtins", "to_builtins"]

T = TypeVar("T")

_encoder = msgspec.json.Encoder()


def encode(value: Any) -> bytes:
    """The value as the API's JSON."""
    return _encoder.encode(value)


def to_builtins(value: Any) -> Any:
    """The value as plain dicts, lists and strings, keyed by the API's names."""
    return msgspec.to_builtins(value)


def decode(data: bytes | str, kind: type[T]) -> T:
    """Reads API JSON into a value of ``kind``.

    Raises:
        InvalidArgument: the JSON is malformed or does not fit the type; the message says where.
    """
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.DecodeError as error:  # ValidationError is a subclass
        raise InvalidArgument(_describe(error), rpc=False) from None


def from_builtins(data: Any, kind: type[T]) -> T:
    """Like ``decode``, from JSON already parsed into builtins."""
    try:
        return msgspec.convert(data, type=kind)
    except msgspec.ValidationError as error:
        raise InvalidArgument(_describe(error), rpc=False) from None


def _describe(error: msgspec.DecodeError) -> str:
    text = str(error)
    if isinstance(error, msgspec.ValidationError):
        return f"invalid JSON: {text}"
    return f"malformed JSON: {text}"
