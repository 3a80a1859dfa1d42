"""``/swarm``: inspect, update (token rotation, cluster settings), init, join and leave."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.api.codec import decode
from engine.api.objects import ClusterSpec
from engine.api.swarm import (
    SwarmInitRequest,
    SwarmJoinRequest,
    SwarmRotations,
    SwarmUnlockRequest,
)
from engine.httpapi.context import BACKEND, json_response
from engine.httpapi.params import boolean, check_json_content_type, json_body, object_version


async def inspect_swarm(request: web.Request) -> web.Response:
    return json_response(request.app[BACKEND].control.get_cluster())


async def update_swarm(request: web.Request) -> web.Response:
    spec = await json_body(request, ClusterSpec)  # dockerd reads the body before the version
    version = object_version(request.query, "swarm")
    rotate = SwarmRotations(
        worker_token=boolean(request.query, "rotateWorkerToken"),
        manager_token=boolean(request.query, "rotateManagerToken"),
        unlock_key=boolean(request.query, "rotateManagerUnlockKey"),
    )
    await request.app[BACKEND].update_swarm(version, spec, rotate)
    return web.Response(status=200)


async def _read_request(request: web.Request) -> bytes:
    """Init, join and unlock read their request (JSON, or nothing) before they answer."""
    check_json_content_type(request)
    body = await request.read()
    if body:
        decode(body, dict[str, Any])
    return body


async def init(request: web.Request) -> web.Response:
    body = await _read_request(request)
    asked = decode(body, SwarmInitRequest) if body else SwarmInitRequest()
    return json_response(await request.app[BACKEND].init_swarm(asked))


async def join(request: web.Request) -> web.Response:
    body = await _read_request(request)
    asked = decode(body, SwarmJoinRequest) if body else SwarmJoinRequest()
    await request.app[BACKEND].join_swarm(asked)
    return web.Response(status=200)


async def leave(request: web.Request) -> web.Response:
    await request.app[BACKEND].leave_swarm(boolean(request.query, "force"))
    return web.Response(status=200)


async def unlock_key(request: web.Request) -> web.Response:
    return json_response({"UnlockKey": request.app[BACKEND].unlock_key()})


async def unlock(request: web.Request) -> web.Response:
    body = await _read_request(request)
    asked = decode(body, SwarmUnlockRequest) if body else SwarmUnlockRequest()
    await request.app[BACKEND].unlock_swarm(asked.unlock_key)
    return web.Response(status=200)


ROUTES = [
    ("GET", "/swarm", inspect_swarm),
    ("POST", "/swarm/update", update_swarm),
    ("POST", "/swarm/init", init),
    ("POST", "/swarm/join", join),
    ("POST", "/swarm/leave", leave),
    ("GET", "/swarm/unlockkey", unlock_key),
    ("POST", "/swarm/unlock", unlock),
]
