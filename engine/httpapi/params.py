"""Query parameters as the Docker daemon reads them: booleans, integers, times, ``filters``."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping

from engine.api.durations import parse_timestamp
from engine.errors import InvalidArgument

__all__ = ["Filters", "boolean", "integer", "parse_filters", "timestamp"]

_FALSE = {"", "0", "no", "false", "none"}


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
