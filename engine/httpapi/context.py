"""What the routes share with the application: the versions it speaks, the keys under which
it keeps the backend, the event log and its open streams, and Docker's answers."""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from engine.api.codec import encode
from engine.httpapi.backend import Backend
from engine.httpapi.events import EventLog

__all__ = [
    "API_VERSION",
    "BACKEND",
    "ENGINE_VERSION",
    "EVENTS",
    "MAX_BODY",
    "MIN_API_VERSION",
    "OPEN_STREAMS",
    "error_response",
    "json_response",
]

API_VERSION = "1.41"  # the Docker Engine 20.10 API; the docker CLI needs at least 1.40
MIN_API_VERSION = "1.12"  # what Docker Engine 20.10 still accepts
ENGINE_VERSION = "20.10.24"
MAX_BODY = 2 * 1024 * 1024  # bytes: the largest config (1000 KiB) in base64, and room to spare

BACKEND = web.AppKey("backend", Backend)
EVENTS = web.AppKey("events", EventLog)
OPEN_STREAMS = web.AppKey("open_streams", Counter[str])  # followed streams being served, by kind


def json_response(value: object, status: int = 200) -> web.Response:
    return web.Response(body=encode(value), status=status, content_type="application/json")


def error_response(message: str, status: int) -> web.Response:
    return json_response({"message": message}, status)
