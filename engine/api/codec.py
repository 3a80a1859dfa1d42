"""JSON in and out of API values, with one error type for whatever a client got wrong.

Object keys are matched case-insensitively on the way in, as Go's encoding/json does for the
Docker daemon: the Docker SDK for Python sends ``{"Mode": {"replicated": ...}}`` and expects it
to work. A value the Go type of its field cannot hold (a string for a string, a bool for a bool,
an integer in the bounds of ``extra["go_type"]`` of its annotation) is refused with the daemon's
own words, and so is a value of an enumeration the daemon's converter
does not know (``extra["unknown"]``, a message with ``{value}`` or its Go quoting ``{quoted}``;
with ``extra["any_case"]`` it reads the value whatever its case, as the converter upper-cases
what it looks up). A field kept as plain JSON is checked as the Go struct it stands for
(``extra["go_shape"]``) where it has one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from msgspec import inspect

from engine.errors import InvalidArgument

__all__ = ["decode", "encode", "from_builtins", "go_quote", "prepare", "to_builtins"]

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


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
    except _GoTypeError as error:
        raise InvalidArgument(error.go_text(), rpc=False) from None
    except _UnknownValue as error:
        raise InvalidArgument(str(error), rpc=False) from None
    except msgspec.ValidationError as error:
        raise InvalidArgument(f"invalid JSON: {error}", rpc=False) from None
    except RecursionError:
        raise InvalidArgument("invalid JSON: nested too deeply", rpc=False) from None


def prepare(*kinds: type) -> None:
    """Builds now what decoding ``kinds`` reads, for them and every struct inside them, which
    the first decode of each would otherwise build (a service spec's, 20-30 ms)."""
    for kind in kinds:
        _prepare(_type_info(kind), set())


def _prepare(kind: inspect.Type, seen: set[type]) -> None:
    if isinstance(kind, inspect.StructType):
        if kind.cls in seen:
            return
        seen.add(kind.cls)
        for field in _fields(kind.cls).values():
            _prepare(field.type, seen)
            if field.shape is not None:
                _prepare(field.shape, seen)
    elif isinstance(kind, inspect.Metadata):
        _prepare(kind.type, seen)
    elif isinstance(kind, inspect.UnionType):
        for member in kind.types:
            _prepare(member, seen)
    elif isinstance(kind, inspect.ListType):
        _prepare(kind.item_type, seen)
    elif isinstance(kind, inspect.DictType):
        _prepare(kind.value_type, seen)


@functools.cache
def _type_info(kind: Any) -> inspect.Type:
    """msgspec's description of a type; building it takes milliseconds, so once per type."""
    return inspect.type_info(kind)


class _GoTypeError(Exception):
    """A value its field's Go type cannot hold; the path grows as the walk unwinds."""

    def __init__(self, value: str, go_type: str, struct: str, field: str) -> None:
        super().__init__(value, go_type, struct, field)
        self.value = value
        self.go_type = go_type
        self.struct = struct
        self.path = [field]

    def go_text(self) -> str:
        """Go's UnmarshalTypeError: the innermost struct, then the JSON path from the top."""
        return (
            f"json: cannot unmarshal {self.value} into Go struct field "
            f"{self.struct}.{'.'.join(self.path)} of type {self.go_type}"
        )


@dataclass(frozen=True, slots=True)
class _GoScalar:
    """The Go type of a scalar field (an integer's with its bounds) and what it holds."""

    name: str
    low: int | None = None
    high: int | None = None

    def refusal(self, value: object) -> str | None:
        """How Go's decoder names ``value`` if this type cannot hold it: ``number -1``,
        ``string``; None if it can (null always can)."""
        if value is None:
            return None
        if self.low is not None and self.high is not None:
            if type(value) is int:
                return None if self.low <= value <= self.high else f"number {value}"
            return f"number {value!r}" if type(value) is float else _json_kind(value)
        wanted = str if self.name == "string" else bool
        return None if isinstance(value, wanted) else _json_kind(value)


def _json_kind(value: object) -> str:
    for kind, name in ((bool, "bool"), (int | float, "number"), (str, "string"), (list, "array")):
        if isinstance(value, kind):
            return name
    return "object"


class _UnknownValue(Exception):
    """A value of an enumeration the daemon does not know; the message is the daemon's."""


@dataclass(frozen=True, slots=True)
class _Known:
    """The values of an enumerated field, and what the daemon says of any other."""

    values: frozenset[str]
    unknown: str
    any_case: bool

    def known(self, value: object) -> object:
        """The value as the enumeration spells it."""
        if not isinstance(value, str) or value in self.values:
            return value
        if self.any_case and value.lower() in self.values:
            return value.lower()
        raise _UnknownValue(self.unknown.format(value=value, quoted=go_quote(value)))


@dataclass(frozen=True, slots=True)
class _Field:
    name: str  # as JSON spells it
    type: inspect.Type
    go_scalar: _GoScalar | None
    go_values: _GoScalar | None  # of a map's values
    known: _Known | None
    shape: inspect.Type | None  # the struct a field kept as JSON is checked as

    def refusal(self, value: object) -> tuple[str, str] | None:
        """How Go's decoder names ``value``, or one of a map's values, if the field's Go type
        cannot hold it, with that type's name; None if it can or the field has none."""
        if self.go_scalar is not None:
            scalar, checked = self.go_scalar, [value]
        elif self.go_values is not None and isinstance(value, dict):
            scalar, checked = self.go_values, list(value.values())
        else:
            return None
        refused = next(filter(None, map(scalar.refusal, checked)), None)
        return None if refused is None else (refused, scalar.name)


@functools.cache
def _fields(struct: type) -> dict[str, _Field]:
    """A struct's fields by lower-cased JSON name."""
    info = _type_info(struct)
    assert isinstance(info, inspect.StructType)
    return {
        field.encode_name.lower(): _Field(
            field.encode_name,
            field.type,
            _go_scalar(field.type),
            _go_values(field.type),
            _known(field.type),
            _shape(field.type),
        )
        for field in info.fields
    }


def _annotations(kind: inspect.Type) -> Iterator[tuple[inspect.Type, dict[str, Any]]]:
    """The annotated members of a type, each with its ``extra``."""
    members = kind.types if isinstance(kind, inspect.UnionType) else (kind,)
    for member in members:
        if isinstance(member, inspect.Metadata) and member.extra:
            yield member.type, member.extra


def _go_scalar(kind: inspect.Type) -> _GoScalar | None:
    """The Go type of a field that is one scalar, or null: an integer's from its annotation,
    a string's, a bool's."""
    members = kind.types if isinstance(kind, inspect.UnionType) else (kind,)
    values = [member for member in members if not isinstance(member, inspect.NoneType)]
    if len(values) != 1:
        return None
    (value,) = values
    if isinstance(value, inspect.Metadata) and value.extra and "go_type" in value.extra:
        low, high = value.extra["go_range"]
        return _GoScalar(value.extra["go_type"], low, high)
    if isinstance(value, inspect.Metadata):
        value = value.type
    if isinstance(value, inspect.StrType):
        return _GoScalar("string")
    return _GoScalar("bool") if isinstance(value, inspect.BoolType) else None


def _go_values(kind: inspect.Type) -> _GoScalar | None:
    """The Go type of a map's values, where the field is a map of one scalar (or null)."""
    members = kind.types if isinstance(kind, inspect.UnionType) else (kind,)
    maps = [member for member in members if isinstance(member, inspect.DictType)]
    return _go_scalar(maps[0].value_type) if len(maps) == 1 else None


def _shape(kind: inspect.Type) -> inspect.Type | None:
    for _, extra in _annotations(kind):
        if "go_shape" in extra:
            return _type_info(extra["go_shape"])
    return None


def _known(kind: inspect.Type) -> _Known | None:
    for member, extra in _annotations(kind):
        if "unknown" in extra and isinstance(member, inspect.EnumType):
            values = frozenset(str(item.value) for item in member.cls)
            return _Known(values, extra["unknown"], extra.get("any_case", False))
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
            if match.known is not None:
                value = match.known.known(value)
            refusal = match.refusal(value)
            if refusal is not None:
                struct = getattr(kind.cls, "go_name", kind.cls.__name__)
                raise _GoTypeError(*refusal, struct, match.name)
            try:
                if match.shape is not None:
                    _canonical(value, match.shape)
                result[match.name] = _canonical(value, match.type)
            except _GoTypeError as error:
                error.path.insert(0, match.name)
                raise
        return result
    if isinstance(kind, inspect.ListType) and isinstance(data, list):
        return [_canonical(item, kind.item_type) for item in data]
    if isinstance(kind, inspect.DictType) and isinstance(data, dict):
        return {key: _canonical(value, kind.value_type) for key, value in data.items()}
    return data


def go_quote(text: str) -> str:
    """``text`` as Go's ``%q`` (strconv.Quote) writes it in an error message."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    quoted = []
    for char in text:
        code = ord(char)
        if char in _GO_ESCAPES:
            quoted.append(_GO_ESCAPES[char])
        elif char.isprintable():
            quoted.append(char)
        elif code < 0x80:
            quoted.append(f"\\x{code:02x}")
        elif code < 0x10000:
            quoted.append(f"\\u{code:04x}")
        else:
            quoted.append(f"\\U{code:08x}")
    return '"' + "".join(quoted) + '"'
