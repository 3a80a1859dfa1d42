"""``/secrets`` and ``/configs``: list (filters id, label, name, names), create, inspect (by ID,
name or unique ID prefix), update (labels only) and remove, as dockerd answers them.

A secret is shown without its data, always: ``public`` is the one way a secret leaves the
engine through the API. A config is shown whole, as dockerd shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from msgspec.structs import replace

from engine.api.objects import Config, Secret
from engine.api.secrets import DataRequest
from engine.errors import InvalidArgument
from engine.httpapi.context import BACKEND, json_response
from engine.httpapi.params import Filters, go_parse_uint, json_body, label_matches, parse_filters
from engine.manager.controlapi import ControlAPI
from engine.manager.secrets import CONFIGS, SECRETS, Kind, KindT

__all__ = ["ROUTES", "public"]

FILTERS = ("id", "label", "name", "names")


def public(obj: Secret | Config) -> Secret | Config:
    """What the API shows of a secret (everything but its data) or a config (everything)."""
    if isinstance(obj, Secret):
        return replace(obj, spec=replace(obj.spec, data=None))
    return obj


def _matches(obj: Secret | Config, filters: Filters) -> bool:
    """SwarmKit's list filters, as dockerd passes them: ``names`` exact, ``name`` and ``id``
    prefixes, ``label`` keys (and values)."""
    checks: dict[str, Callable[[list[str]], bool]] = {
        "names": lambda values: obj.name in values,
        "name": lambda values: any(obj.name.startswith(v) for v in values),
        "id": lambda values: any(obj.id.startswith(v) for v in values),
        "label": lambda values: label_matches(obj.spec.labels, values),
    }
    return all(checks[key](values) for key, values in filters.items())


def _routes(kind: Kind[KindT]) -> list[tuple[str, str, Any]]:
    """The five routes of ``/secrets`` or ``/configs``."""

    def control(request: web.Request) -> ControlAPI:
        return request.app[BACKEND].control

    async def list_all(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"), FILTERS)
        found = [public(obj) for obj in control(request).list_items(kind) if _matches(obj, filters)]
        found.sort(key=lambda obj: (obj.created_at or "", obj.id))
        return json_response(found)

    async def create(request: web.Request) -> web.Response:
        asked = await json_body(request, DataRequest)
        made = control(request).create_item(kind, asked)
        return json_response({"ID": made.id}, status=201)

    async def inspect(request: web.Request) -> web.Response:
        return json_response(public(control(request).get_item(kind, request.match_info["id"])))

    async def update(request: web.Request) -> web.Response:
        asked = await json_body(request, DataRequest)  # dockerd reads the body first
        try:
            version = go_parse_uint(request.query.get("version", ""))
        except ValueError:
            raise InvalidArgument(f"invalid {kind.word} version", rpc=False) from None
        control(request).update_item(kind, request.match_info["id"], version, asked)
        return web.Response(status=200, content_type="text/plain")

    async def remove(request: web.Request) -> web.Response:
        control(request).remove_item(kind, request.match_info["id"])
        return web.Response(status=204)

    path = f"/{kind.word}s"
    return [
        ("GET", path, list_all),
        ("POST", f"{path}/create", create),
        ("GET", f"{path}/{{id}}", inspect),
        ("POST", f"{path}/{{id}}/update", update),
        ("DELETE", f"{path}/{{id}}", remove),
    ]


ROUTES = [*_routes(SECRETS), *_routes(CONFIGS)]
