"""What a request carries, read as the Docker daemon reads it: query parameters (booleans,
integers, times, ``filters``, an update's ``version``) and JSON bodies (moby's httputils)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import TypeVar

from aiohttp import web

from engine.api.codec import decode, go_quote
from engine.api.durations import parse_timestamp
from engine.errors import InvalidArgument

__all__ = [
    "Filters",
    "boolean",
    "check_json_content_type",
    "go_parse_bool",
    "go_parse_uint",
    "integer",
    "json_body",
    "object_version",
    "parse_filters",
    "timestamp",
]

T = TypeVar("T")

_FALSE = {"", "0", "no", "false", "none"}
_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_UINT64_MAX = 2**64 - 1  # the bitSize 64 dockerd parses versions with
_TSPECIALS = set('()<>@,;:\\"/[]?=')


def boolean(query: Mapping[str, str], name: str) -> bool:
    """moby's httputils.BoolValue: anything but "", 0, no, false, none is true."""
    return query.get(name, "").strip().lower() not in _FALSE


def integer(query: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(
            f"invalid value for {name}: {value!r} is not an integer", rpc=False
        ) from None


def timestamp(query: Mapping[str, str], name: str) -> float | None:
    """A time given as Unix seconds ("1700000000", "1700000000.5") or RFC 3339."""
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            return parse_timestamp(value)
        except ValueError:
            raise InvalidArgument(f"invalid value for {name}: {value!r}", rpc=False) from None
    if not math.isfinite(number):
        raise InvalidArgument(f"invalid value for {name}: {value!r}", rpc=False)
    return number


Filters = dict[str, list[str]]


def parse_filters(raw: str | None, allowed: Iterable[str]) -> Filters:
    """The ``filters`` parameter: ``{"name": ["a"]}`` or the older ``{"name": {"a": true}}``.

    Raises:
        InvalidArgument: malformed JSON, or a filter this endpoint does not know (as Docker).
    """
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidArgument(f"invalid filter: {error}", rpc=False) from None
    if not isinstance(data, dict):
        raise InvalidArgument("invalid filter: expected a JSON object", rpc=False)
    known = set(allowed)
    filters: Filters = {}
    for name, values in data.items():
        if name not in known:
            raise InvalidArgument(f"Invalid filter '{name}'", rpc=False)
        if isinstance(values, dict):
            filters[name] = [str(v) for v, on in values.items() if on]
        elif isinstance(values, list) and all(isinstance(v, str) for v in values):
            filters[name] = list(values)
        else:
            raise InvalidArgument(f"invalid filter '{name}': expected a list of strings", rpc=False)
    return filters


def label_matches(labels: Mapping[str, str] | None, wanted: list[str]) -> bool:
    """Docker's label filter: every ``key`` or ``key=value`` must hold."""
    labels = labels or {}
    for item in wanted:
        key, has_value, value = item.partition("=")
        if key not in labels or (has_value and labels[key] != value):
            return False
    return True


def go_parse_uint(text: str) -> int:
    """Go's ``strconv.ParseUint(text, 10, 64)``: ASCII digits only, no sign, at most 2**64 - 1.

    Raises:
        ValueError: with Go's wording; like Go, the first bad character or the first digit that
            overflows decides which.
    """
    if not text:
        raise ValueError(f"strconv.ParseUint: parsing {go_quote(text)}: invalid syntax")
    value = 0
    for char in text:
        if not "0" <= char <= "9":
            raise ValueError(f"strconv.ParseUint: parsing {go_quote(text)}: invalid syntax")
        value = value * 10 + ord(char) - ord("0")
        if value > _UINT64_MAX:
            raise ValueError(f"strconv.ParseUint: parsing {go_quote(text)}: value out of range")
    return value


def go_parse_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool``, which the daemon uses where a wrong value is an error."""
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    raise ValueError(f"strconv.ParseBool: parsing {go_quote(text)}: invalid syntax")


def object_version(query: Mapping[str, str], kind: str) -> int:
    """The ``version`` an update must carry (the ``Version.Index`` read before), as dockerd reads
    it with ``strconv.ParseUint``."""
    raw = query.get("version", "")
    try:
        return go_parse_uint(raw)
    except ValueError as error:
        raise InvalidArgument(f"invalid {kind} version '{raw}': {error}", rpc=False) from None


def check_json_content_type(request: web.Request) -> None:
    """moby's httputils.CheckForJSON: a body must be declared ``application/json``.

    No Content-Type at all is accepted, as Engine 20.10 accepts it; later daemons refuse it
    when a body comes with it.

    Raises:
        InvalidArgument: a Content-Type that does not parse, or names another media type.
    """
    content_type = request.headers.get("Content-Type", "")
    if not content_type:
        return
    try:
        media_type = _media_type(content_type)
    except ValueError as error:
        raise InvalidArgument(
            f"malformed Content-Type header ({content_type}): {error}", rpc=False
        ) from None
    if media_type != "application/json":
        raise InvalidArgument(
            f"unsupported Content-Type header ({content_type}): must be 'application/json'",
            rpc=False,
        )


async def json_body(request: web.Request, kind: type[T]) -> T:
    """The body of a request that carries JSON (moby's httputils.ReadJSON): its Content-Type is
    checked before the body is read.

    Raises:
        InvalidArgument: a Content-Type other than JSON, or JSON that does not fit ``kind``.
    """
    check_json_content_type(request)
    return decode(await request.read(), kind)


def _media_type(value: str) -> str:
    """The media type of a Content-Type, lower-cased, as Go's ``mime.ParseMediaType`` reads it.

    Raises:
        ValueError: with Go's wording, for a header Go would not parse.
    """
    base, semicolon, parameters = value.partition(";")
    media_type = base.lower().strip()
    kind, rest = _token(media_type)
    if not kind:
        raise ValueError("mime: no media type")
    if rest:
        if not rest.startswith("/"):
            raise ValueError("mime: expected slash after first token")
        subtype, rest = _token(rest[1:])
        if not subtype:
            raise ValueError("mime: expected token after slash")
        if rest:
            raise ValueError("mime: unexpected content after media subtype")
    _check_parameters(semicolon + parameters)
    return media_type


def _check_parameters(text: str) -> None:
    """Go's parameter loop: ``; name=token`` or ``; name="quoted"``, a trailing ``;`` allowed."""
    seen: dict[str, str] = {}
    while text := text.lstrip():
        if not text.startswith(";"):
            raise ValueError("mime: invalid media parameter")
        name, rest = _token(text[1:].lstrip())
        rest = rest.lstrip()
        if not name or not rest.startswith("="):
            if not name and text.strip() == ";":
                return  # a trailing semicolon is not an error
            raise ValueError("mime: invalid media parameter")
        parameter, text = _parameter_value(rest[1:].lstrip())
        if parameter is None:
            raise ValueError("mime: invalid media parameter")
        name = name.lower()
        if seen.get(name, parameter) != parameter:
            raise ValueError("mime: duplicate parameter name")
        seen[name] = parameter


def _parameter_value(text: str) -> tuple[str | None, str]:
    """A token or a quoted string, and what follows; None when there is neither."""
    if not text.startswith('"'):
        value, rest = _token(text)
        return (value or None), rest
    chars: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == '"':
            return "".join(chars), text[index + 1 :]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in _TSPECIALS:
            index += 1
            char = text[index]
        elif char in "\r\n":
            return None, text
        chars.append(char)
        index += 1
    return None, text  # no closing quote


def _token(text: str) -> tuple[str, str]:
    """The longest prefix of RFC 1521 token characters, and the rest."""
    for index, char in enumerate(text):
        if not ("\x20" < char < "\x7f") or char in _TSPECIALS:
            return text[:index], text[index:]
    return text, ""
