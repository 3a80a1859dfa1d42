"""Small formats shared by every view: ages, sizes, CPUs, replica bars."""

from __future__ import annotations

import functools

from engine.api.durations import human_duration, human_duration_until, parse_timestamp

__all__ = ["age", "age_until", "ago", "bar", "cpus", "short_age", "since", "size"]


def since(timestamp: str | None, now: float) -> float | None:
    if not timestamp:
        return None
    try:
        return max(0.0, now - parse_timestamp(timestamp))
    except ValueError:
        return None


def age(timestamp: str | None, now: float) -> str:
    """ "5 minutes ago", as docker prints ages."""
    seconds = since(timestamp, now)
    return "" if seconds is None else ago(seconds)


def ago(seconds: float) -> str:
    """ "5 minutes ago": ``seconds`` ago, as docker prints ages."""
    return f"{human_duration(max(0.0, seconds))} ago"


def short_age(timestamp: str | None, now: float) -> str:
    """An age in a few cells, as k9s shows it: ``45s``, ``12m``, ``5h``, ``3d``."""
    seconds = since(timestamp, now)
    if seconds is None:
        return ""
    for unit, size_ in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size_ * (2 if unit != "m" else 1):
            return f"{int(seconds // size_)}{unit}"
    return f"{int(seconds)}s"


def age_until(moment: float, now: float) -> tuple[str, float]:
    """``age`` of a Unix time, and until when (Unix time) that text stays true."""
    seconds = max(0.0, now - moment)
    # What the text and its end depend on: the whole second below an hour, the half hour above.
    text, changes = _age(int(seconds) if seconds < 3600 else -1 - int(seconds / 1800))
    return text, moment + changes


@functools.lru_cache(maxsize=16384)
def _age(step: int) -> tuple[str, float]:
    text, changes = human_duration_until(step if step >= 0 else (-1 - step) * 1800.0)
    return f"{text} ago", changes


def size(count: float) -> str:
    """Bytes in binary units: 512B, 64MiB, 4GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            text = f"{count:.1f}".rstrip("0").rstrip(".") if unit != "B" else str(int(count))
            return f"{text}{unit}"
        count /= 1024
    return f"{count}B"


def cpus(nano: int | None) -> str:
    """CPUs: ``2``, or with two decimals when not whole (``0.75``, ``0.50``), so that a column
    of them sorts as numbers do."""
    if not nano:
        return "0"
    if nano % 1_000_000_000 == 0:
        return str(nano // 1_000_000_000)
    return f"{nano / 1e9:.2f}"


def bar(running: int, desired: int, width: int = 10) -> str:
    """A replica bar: ``███████░░░``; full when all desired tasks run."""
    if desired <= 0:
        return "░" * width
    filled = min(width, round(width * min(running, desired) / desired))
    return "█" * filled + "░" * (width - filled)
