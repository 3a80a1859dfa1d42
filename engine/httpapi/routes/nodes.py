"""``/nodes``: list with filters, inspect, update (with ``version``), remove (with ``force``)."""

from __future__ import annotations

from aiohttp import web

from engine.api.objects import Node
from engine.api.specs import NodeSpec
from engine.errors import InvalidArgument
from engine.httpapi.context import BACKEND, json_response
from engine.httpapi.params import (
    boolean,
    json_body,
    label_matches,
    object_version,
    parse_filters,
)
from engine.httpapi.stream import stream_json

NODE_FILTERS = ("id", "label", "membership", "name", "node.label", "role")


async def list_nodes(request: web.Request) -> web.StreamResponse:
    filters = parse_filters(request.query.get("filters"), NODE_FILTERS)
    for role in filters.get("role", ()):
        if role not in ("manager", "worker"):
            raise InvalidArgument(f"Invalid role filter value: {role}", rpc=False)
    for membership in filters.get("membership", ()):
        if membership not in ("accepted", "pending"):
            raise InvalidArgument(f"Invalid membership filter value: {membership}", rpc=False)
    nodes = request.app[BACKEND].control.list_nodes()
    return await stream_json(
        request, nodes, lambda node: node if _matches(node, filters) else None, _created
    )


def _created(node: Node) -> str:
    return node.created_at or ""


def _matches(node: Node, filters: dict[str, list[str]]) -> bool:
    hostname = node.hostname
    engine = node.description.engine if node.description else None
    checks = {
        "id": lambda values: any(node.id.startswith(v) for v in values),
        "name": lambda values: any(
            hostname.startswith(v) or (node.spec.name or "").startswith(v) for v in values
        ),
        "role": lambda values: (node.spec.role.value if node.spec.role else "") in values,
        "membership": lambda values: "accepted" in values,
        "label": lambda values: label_matches(engine.labels if engine else None, values),
        "node.label": lambda values: label_matches(node.spec.labels, values),
    }
    return all(checks[name](values) for name, values in filters.items())


async def inspect_node(request: web.Request) -> web.Response:
    return json_response(request.app[BACKEND].control.get_node(request.match_info["id"]))


async def update_node(request: web.Request) -> web.Response:
    spec = await json_body(request, NodeSpec)  # dockerd reads the body before the version
    version = object_version(request.query, "node")
    request.app[BACKEND].control.update_node(request.match_info["id"], version, spec)
    return web.Response(status=200, content_type="text/plain")


async def remove_node(request: web.Request) -> web.Response:
    force = boolean(request.query, "force")
    request.app[BACKEND].control.remove_node(request.match_info["id"], force=force)
    return web.Response(status=200, content_type="text/plain")


ROUTES = [
    ("GET", "/nodes", list_nodes),
    ("GET", "/nodes/{id}", inspect_node),
    ("POST", "/nodes/{id}/update", update_node),
    ("DELETE", "/nodes/{id}", remove_node),
]
