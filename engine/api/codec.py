"""JSON in and out of API values, with one error type for whatever a client got wrong.

Object keys are matched case-insensitively on the way in, as Go's encoding/json does for the
Docker daemon: the Docker SDK for Python sends ``{"Mode": {"replicated": ...}}`` and expects it
to work. A number too big for the Go type of its field (``extra["go_type"]`` of its annotation)
is refused with the daemon's own words.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from msgspec import inspect

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
        parsed = msgspec.json.decode(data)
    except msgspec.DecodeError as error:
        raise InvalidArgument(f"malformed JSON: {error}", rpc=False) from None
    except RecursionError:
        raise InvalidArgument("malformed JSON: nested too deeply", rpc=False) from None
    return from_builtins(parsed, kind)


def from_builtins(data: Any, kind: type[T]) -> T:
    """Like ``decode``, from JSON already parsed into builtins."""
    try:
        info = _type_info(kind)  # type: ignore[arg-type]  # types are hashable
        return msgspec.convert(_canonical(data, info), type=kind)
    except _GoRangeError as error:
        raise InvalidArgument(f"invalid JSON: {error.go_text()}", rpc=False) from None
    except msgspec.ValidationError as error:
        raise InvalidArgument(f"invalid JSON: {error}", rpc=False) from None
    except RecursionError:
        raise InvalidArgument("invalid JSON: nested too deeply", rpc=False) from None


@functools.cache
def _type_info(kind: Any) -> inspect.Type:
    """msgspec's description of a type; building it takes milliseconds, so once per type."""
    return inspect.type_info(kind)


class _GoRangeError(Exception):
    """A number beyond its field's Go type; the path grows as the walk unwinds."""

    def __init__(self, value: int, go_type: str, struct: str, field: str) -> None:
        super().__init__(value, go_type, struct, field)
        self.value = value
        self.go_type = go_type
        self.struct = struct
        self.path = [field]

    def go_text(self) -> str:
        """Go's UnmarshalTypeError: the innermost struct, then the JSON path from the top."""
        return (
            f"json: cannot unmarshal number {self.value} into Go struct field "
            f"{self.struct}.{'.'.join(self.path)} of type {self.go_type}"
        )


@dataclass(frozen=True, slots=True)
class _GoInteger:
    """The Go type of an integer field and the numbers it holds."""

    name: str
    low: int
    high: int

    def holds(self, value: int) -> bool:
        # An unsigned field's negative numbers are left to its bound, whose message says where.
        return value <= self.high and (self.low == 0 or value >= self.low)


@functools.cache
def _fields(struct: type) -> dict[str, tuple[str, inspect.Type, _GoInteger | None]]:
    """A struct's fields by lower-cased JSON name: (JSON name, type, Go integer type or None)."""
    info = _type_info(struct)
    assert isinstance(info, inspect.StructType)
    return {
        field.encode_name.lower(): (field.encode_name, field.type, _go_integer(field.type))
        for field in info.fields
    }


def _go_integer(kind: inspect.Type) -> _GoInteger | None:
    members = kind.types if isinstance(kind, inspect.UnionType) else (kind,)
    for member in members:
        if isinstance(member, inspect.Metadata) and member.extra and "go_type" in member.extra:
            low, high = member.extra["go_range"]
            return _GoInteger(member.extra["go_type"], low, high)
    return None


def _canonical(data: Any, kind: inspect.Type) -> Any:
    """``data`` with each object key spelled as the type names it, whatever its case."""
    if isinstance(kind, inspect.Metadata):
        return _canonical(data, kind.type)
    if isinstance(kind, inspect.UnionType):
        for member in kind.types:
            if isinstance(member, inspect.StructType | inspect.DictType) and isinstance(data, dict):
                return _canonical(data, member)
            if isinstance(member, inspect.ListType) and isinstance(data, list):
                return _canonical(data, member)
        return data
    if isinstance(kind, inspect.StructType) and isinstance(data, dict):
        fields = _fields(kind.cls)
        result = {}
        for key, value in data.items():
            match = fields.get(key.lower()) if isinstance(key, str) else None
            if match is None:
                result[key] = value
                continue
            name, field_type, go_integer = match
            if go_integer is not None and type(value) is int and not go_integer.holds(value):
                struct = getattr(kind.cls, "go_name", kind.cls.__name__)
                raise _GoRangeError(value, go_integer.name, struct, name)
            try:
                result[name] = _canonical(value, field_type)
            except _GoRangeError as error:
                error.path.insert(0, name)
                raise
        return result
    if isinstance(kind, inspect.ListType) and isinstance(data, list):
        return [_canonical(item, kind.item_type) for item in data]
    if isinstance(kind, inspect.DictType) and isinstance(data, dict):
        return {key: _canonical(value, kind.value_type) for key, value in data.items()}
    return data
