"""The aiohttp application: routes with and without a ``/v1.xx`` prefix, Docker's headers and
Docker's errors (``{"message": ...}`` with its status codes). Nothing a client sends reaches past
a handler as an exception: every failure is an answer.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from engine.api import codec
from engine.errors import EngineError
from engine.httpapi.backend import Backend
from engine.httpapi.context import (
    API_VERSION,
    BACKEND,
    ENGINE_VERSION,
    EVENTS,
    MAX_BODY,
    MIN_API_VERSION,
    OPEN_STREAMS,
    error_response,
)
from engine.httpapi.events import EventLog
from engine.httpapi.routes import BODIES, ROUTES
from engine.store import StateNotSaved

__all__ = ["make_app"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_VERSION_PREFIX = r"/v{version:[0-9]+\.[0-9]+}"
_VERSION = re.compile(r"^(\d+)\.(\d+)$")


def _version_tuple(text: str) -> tuple[int, int]:
    match = _VERSION.match(text)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        version = request.match_info.get("version")
        if version is not None:
            if _version_tuple(version) > _version_tuple(API_VERSION):
                return error_response(
                    f"client version {version} is too new. "
                    f"Maximum supported API version is {API_VERSION}",
                    400,
                )
            if _version_tuple(version) < _version_tuple(MIN_API_VERSION):
                return error_response(
                    f"client version {version} is too old. Minimum supported API version is "
                    f"{MIN_API_VERSION}, please upgrade your client to a newer version",
                    400,
                )
        return await handler(request)
    except EngineError as error:
        return error_response(error.public_text(), error.http_status)
    except StateNotSaved as error:  # the disk failed: say so, not "internal error"
        return error_response(f"{error}; the engine takes no more writes until restarted", 500)
    except web.HTTPRequestEntityTooLarge:
        return error_response(f"request body too large: the limit is {MAX_BODY} bytes", 413)
    except web.HTTPNotFound:
        return error_response("page not found", 404)
    except web.HTTPMethodNotAllowed:
        return error_response("method not allowed", 405)
    except web.HTTPException as error:
        return error_response(error.reason or "bad request", error.status)
    except (ConnectionError, TimeoutError):  # the client left: nothing to answer
        raise
    except Exception:
        log.exception("internal error answering %s %s", request.method, request.path_qs)
        return error_response("internal error: see the engine's log", 500)


@web.middleware
async def _acknowledged_once_saved(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A write is answered once it is on disk: what the engine acknowledged survives a crash."""
    response = await handler(request)
    if request.method not in ("GET", "HEAD"):
        await request.app[BACKEND].store.saved()
    return response


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Api-Version"] = API_VERSION
    response.headers["Ostype"] = "linux"
    response.headers["Server"] = f"Docker/{ENGINE_VERSION} (linux)"
    response.headers["Docker-Experimental"] = "false"


def make_app(backend: Backend, events: EventLog | None = None) -> web.Application:
    """The Engine API for ``backend``; ``events`` defaults to a new log of the backend's store.
    What reading the routes' bodies needs is built now, not in a request's turn."""
    codec.prepare(*BODIES)
    app = web.Application(middlewares=[_errors, _acknowledged_once_saved], client_max_size=MAX_BODY)
    app[BACKEND] = backend
    app[EVENTS] = events or EventLog(backend.store, backend.clock)
    app[OPEN_STREAMS] = Counter()
    app.on_response_prepare.append(_headers)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, _VERSION_PREFIX + path, handler)
    return app
