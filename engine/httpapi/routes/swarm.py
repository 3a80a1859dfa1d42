"""``/swarm``: inspect, update (token rotation, cluster settings); init, join and leave refuse
(this engine is the swarm's manager from the start)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.api.codec import decode
from engine.api.objects import ClusterSpec
from engine.errors import FailedPrecondition, Unavailable
from engine.httpapi.context import BACKEND, json_response
from engine.httpapi.params import boolean, check_json_content_type, json_body, object_version

ALREADY_IN_SWARM = (
    'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm '
    "and join another one."
)


async def inspect_swarm(request: web.Request) -> web.Response:
    return json_response(request.app[BACKEND].control.get_cluster())


async def update_swarm(request: web.Request) -> web.Response:
    spec = await json_body(request, ClusterSpec)  # dockerd reads the body before the version
    version = object_version(request.query, "swarm")
    request.app[BACKEND].control.update_cluster(
        version,
        spec,
        rotate_worker_token=boolean(request.query, "rotateWorkerToken"),
        rotate_manager_token=boolean(request.query, "rotateManagerToken"),
    )
    return web.Response(status=200)


async def _read_request(request: web.Request) -> None:
    """Init, join and unlock read their request (JSON, or nothing) before they answer."""
    check_json_content_type(request)
    body = await request.read()
    if body:
        decode(body, dict[str, Any])


async def init_or_join(request: web.Request) -> web.Response:
    await _read_request(request)
    raise Unavailable(ALREADY_IN_SWARM, rpc=False)


async def leave(request: web.Request) -> web.Response:
    raise FailedPrecondition(
        "this engine is the swarm's only manager: stop `swarmdeck engine serve` to leave",
        rpc=False,
    )


async def unlock_key(request: web.Request) -> web.Response:
    return json_response({"UnlockKey": ""})


async def unlock(request: web.Request) -> web.Response:
    await _read_request(request)
    raise FailedPrecondition("swarm is not locked", rpc=False)


ROUTES = [
    ("GET", "/swarm", inspect_swarm),
    ("POST", "/swarm/update", update_swarm),
    ("POST", "/swarm/init", init_or_join),
    ("POST", "/swarm/join", init_or_join),
    ("POST", "/swarm/leave", leave),
    ("GET", "/swarm/unlockkey", unlock_key),
    ("POST", "/swarm/unlock", unlock),
]
