"""Go-style durations ("1m30s", "500ms") and RFC 3339 timestamps as the Engine API writes them."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

__all__ = [
    "NANOSECOND",
    "SECOND",
    "format_duration",
    "format_timestamp",
    "human_duration",
    "human_duration_until",
    "parse_duration",
    "parse_timestamp",
]

NANOSECOND = 1
SECOND = 1_000_000_000  # the API carries durations as integer nanoseconds, like Go's time.Duration

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": SECOND,
    "m": 60 * SECOND,
    "h": 3600 * SECOND,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_TIMESTAMP = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
)


def parse_duration(text: str) -> int:
    """Parses a Go duration string into nanoseconds.

    Raises:
        ValueError: with Go's wording, for text that is not a duration.
    """
    body = text.strip()
    sign = 1
    if body[:1] in "+-" and body:
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body == "0":
        return 0
    position = 0
    total = 0.0
    while position < len(body):
        match = _PART.match(body, position)
        if match is None:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not body:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * round(total)


def format_duration(nanoseconds: int) -> str:
    """Formats nanoseconds the way Go's Duration.String does ("1m30s", "500ms", "0s")."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    value = abs(nanoseconds)
    if value < SECOND:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if value >= size:
                return sign + _trim(value / size) + unit
    hours, rest = divmod(value, 3600 * SECOND)
    minutes, rest = divmod(rest, 60 * SECOND)
    text = _trim(rest / SECOND) + "s"
    if hours:
        text = f"{hours}h{minutes}m{text}"
    elif minutes:
        text = f"{minutes}m{text}"
    return sign + text


def _trim(number: float) -> str:
    return f"{number:.9f}".rstrip("0").rstrip(".")


def format_timestamp(seconds: float) -> str:
    """Formats a Unix time as RFC 3339 with nanoseconds, like Go's time.Time in JSON."""
    whole = int(seconds // 1)
    nanos = round((seconds - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    stamp = _whole_second(whole)
    if nanos:
        return f"{stamp}.{nanos:09d}".rstrip("0") + "Z"
    return stamp + "Z"


@functools.lru_cache(maxsize=16)  # every write stamps the time: most in the same second
def _whole_second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@functools.lru_cache(maxsize=65536)  # the same timestamps are read again on every refresh
def parse_timestamp(text: str) -> float:
    """Parses an RFC 3339 timestamp (as the API writes them) into a Unix time."""
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    base, fraction, zone = match.groups()
    moment = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return moment.timestamp() + (int(fraction.ljust(9, "0")) / 1e9 if fraction else 0.0)


def human_duration(seconds: float) -> str:
    """Go's units.HumanDuration."""
    return human_duration_until(seconds)[0]


def human_duration_until(seconds: float) -> tuple[str, float]:
    """Go's units.HumanDuration of ``seconds``, and the next duration at which it may say
    something else: each second up to a minute, each minute up to an hour, then each hour, as it
    rounds hours (beyond two days its text changes less often than that)."""
    whole = int(seconds)
    if whole < 60:
        if whole < 1:
            return "Less than a second", 1.0
        return ("1 second" if whole == 1 else f"{whole} seconds"), float(whole + 1)
    minutes = whole // 60
    if minutes < 60:
        return ("About a minute" if minutes == 1 else f"{minutes} minutes"), (minutes + 1) * 60.0
    hours = int(seconds / 3600 + 0.5)
    changes = (hours + 0.5) * 3600
    if hours == 1:
        return "About an hour", changes
    if hours < 48:
        return f"{hours} hours", changes
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days", changes
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks", changes
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months", changes
    return f"{int(seconds / 3600) // 24 // 365} years", changes
