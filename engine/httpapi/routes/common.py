"""What several route modules need: the ``version`` parameter of updates."""

from __future__ import annotations

from aiohttp import web

from engine.errors import InvalidArgument


def object_version(request: web.Request, kind: str) -> int:
    """The ``version`` query parameter an update must carry (``Version.Index`` read before)."""
    raw = request.query.get("version", "")
    try:
        version = int(raw)
        if version < 0:
            raise ValueError("value out of range")
    except ValueError as error:
        message = "invalid syntax" if "invalid literal" in str(error) else str(error)
        raise InvalidArgument(
            f"invalid {kind} version '{raw}': strconv.ParseUint: parsing \"{raw}\": {message}",
            rpc=False,
        ) from None
    return version
