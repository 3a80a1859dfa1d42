"""``/networks``: list (filters driver, id, label, name, scope, type, dangling), inspect (by ID,
name or unique ID prefix; ``scope``), create, remove and prune, as dockerd answers them.

A network shows in dockerd's ``NetworkResource`` shape; where dockerd writes null for an empty
map or list, which its own API spec does not allow, this writes ``{}`` or ``[]``, which the
docker CLI reads the same. A swarm manager lists the swarm's
networks and its own node's: ``bridge``, ``host`` and ``none`` (and ``docker_gwbridge`` once in
a swarm), which it cannot create or remove, and which this engine only shows: its tasks run on
simulated nodes, or in containers of engines of their own.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any

from aiohttp import web

from engine.api.durations import parse_duration, parse_timestamp
from engine.api.networks import NetworkCreateRequest
from engine.api.objects import Network
from engine.errors import InvalidArgument, the_one
from engine.httpapi.backend import Backend
from engine.httpapi.context import BACKEND, json_response
from engine.httpapi.params import Filters, json_body, label_matches, parse_filters
from engine.manager.networks import LOCAL_NETWORKS, Forbidden
from engine.store import get_node

NETWORK_FILTERS = ("driver", "id", "label", "name", "scope", "type", "dangling")
PRUNE_FILTERS = ("label", "label!", "until")
_ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: when a network's creation is not known
_DANGLING = {"true": True, "1": True, "false": False, "0": False}

Resource = dict[str, Any]


def resource(network: Network) -> Resource:
    """A swarm network as dockerd shows it (its BasicNetworkFromGRPC): the driver, options and
    subnets are those the allocator gave it, none before."""
    spec = network.spec
    ipam = network.ipam_options
    driver = ipam.driver if ipam else None
    configs = []
    if ipam is not None:
        configs = [
            {
                key: value
                for key, value in (
                    ("Subnet", config.subnet),
                    ("IPRange", config.range),
                    ("Gateway", config.gateway),
                )
                if value
            }
            for config in ipam.configs or ()
        ]
    state = network.driver_state
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": network.created_at or _ZERO_TIME,
        "Scope": "swarm",
        "Driver": (state.name if state else None) or "",
        "EnableIPv6": bool(spec.ipv6_enabled),
        "IPAM": {
            "Driver": (driver.name if driver else None) or "",
            "Options": (driver.options if driver else None) or {},
            "Config": configs,
        },
        "Internal": bool(spec.internal),
        "Attachable": bool(spec.attachable),
        "Ingress": bool(spec.ingress),
        "ConfigFrom": {"Network": (spec.config_from.network if spec.config_from else None) or ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": (state.options if state else None) or {},
        "Labels": spec.labels or {},
    }


def _local(name: str, seed: str, created: str, **settings: Any) -> Resource:
    """One of a node's own networks, with an ID of dockerd's form that stays the node's."""
    return {
        "Name": name,
        "Id": hashlib.sha256(f"{seed}/{name}".encode()).hexdigest(),
        "Created": created,
        "Scope": "local",
        "Driver": settings.get("driver", name),
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": {}, "Config": settings.get("config", [])},
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": settings.get("options", {}),
        "Labels": {},
    }


def local_networks(backend: Backend) -> list[Resource]:
    """The node's own networks, as a dockerd in a swarm lists them."""
    local = backend.local_node()
    seed, created = local.node_id or "local", _ZERO_TIME
    in_swarm = local.local_node_state == "active"
    if local.control_available:
        node = backend.control.view(functools.partial(get_node, node_id=local.node_id))
        created = (node.created_at if node else None) or created
    bridge_options = {
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
        "com.docker.network.bridge.name": "docker0",
        "com.docker.network.driver.mtu": "1500",
    }
    networks = [
        _local(
            "bridge", seed, created, config=[{"Subnet": "172.17.0.0/16"}], options=bridge_options
        ),
        _local("host", seed, created),
        _local("none", seed, created, driver="null"),
    ]
    if in_swarm:
        gateway_options = {
            "com.docker.network.bridge.enable_icc": "false",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.name": "docker_gwbridge",
        }
        config = [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]
        networks.append(
            _local(
                "docker_gwbridge",
                seed,
                created,
                driver="bridge",
                config=config,
                options=gateway_options,
            )
        )
    return networks


def _all_networks(backend: Backend) -> list[Resource]:
    swarm = []
    if backend.local_node().control_available:
        swarm = [resource(network) for network in backend.control.list_networks()]
    return swarm + local_networks(backend)


def _go_match(values: list[str], field: str) -> bool:
    """Go's ``filters.Args.Match``: equal, or a regular expression found in ``field``."""
    for value in values:
        if value == field:
            return True
        try:
            if re.search(value, field):
                return True
        except re.error:
            continue
    return False


def _filtered(networks: list[Resource], filters: Filters) -> list[Resource]:
    """dockerd's FilterNetworks."""
    dangling = None
    for value in filters.get("dangling", ()):
        if value.lower() not in _DANGLING:
            raise InvalidArgument(
                'invalid value for filter \'dangling\', must be "true" (or "1"), '
                'or "false" (or "0")',
                rpc=False,
            )
        dangling = _DANGLING[value.lower()]
    for value in filters.get("type", ()):
        if value not in ("custom", "builtin"):
            raise InvalidArgument(f"invalid filter: 'type'='{value}'", rpc=False)
    checks = {
        "driver": lambda values, n: n["Driver"] in values,
        "name": lambda values, n: _go_match(values, n["Name"]),
        "id": lambda values, n: _go_match(values, n["Id"]),
        "label": lambda values, n: label_matches(n["Labels"], values),
        "scope": lambda values, n: n["Scope"] in values,
        # A network a container or service of the node is on is in use; the list shows none
        # of a swarm network's, as dockerd's does not.
        "dangling": lambda values, n: (n["Name"] not in LOCAL_NETWORKS) == dangling,
        "type": lambda values, n: (
            ("builtin" if n["Name"] in LOCAL_NETWORKS else "custom") in values
        ),
    }
    return [n for n in networks if all(checks[key](values, n) for key, values in filters.items())]


async def list_networks(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters"), NETWORK_FILTERS)
    return json_response(_filtered(_all_networks(request.app[BACKEND]), filters))


def _find(backend: Backend, reference: str, scope: str = "") -> Resource:
    """A network by full ID, then name, then unique ID prefix, as dockerd finds one."""
    networks = [n for n in _all_networks(backend) if not scope or n["Scope"] == scope]
    searches = (
        [n for n in networks if n["Id"] == reference],
        [n for n in networks if n["Name"] == reference],
        [n for n in networks if reference and n["Id"].startswith(reference)],
    )
    return the_one("network", reference, searches)


async def inspect_network(request: web.Request) -> web.Response:
    scope = request.query.get("scope", "")
    if scope not in ("", "local", "swarm", "global"):
        raise InvalidArgument(f"invalid scope: {scope}", rpc=False)
    return json_response(_find(request.app[BACKEND], request.match_info["id"], scope))


async def create_network(request: web.Request) -> web.Response:
    asked = await json_body(request, NetworkCreateRequest)
    network = request.app[BACKEND].control.create_network(asked)
    return json_response({"Id": network.id, "Warning": ""}, status=201)


async def remove_network(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    found = _find(backend, request.match_info["id"])
    if found["Scope"] == "local":
        raise Forbidden(
            f"{found['Name']} is a pre-defined network and cannot be removed", rpc=False
        )
    backend.control.remove_network(found["Id"])
    return web.Response(status=204)


async def prune_networks(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    filters = parse_filters(request.query.get("filters"), PRUNE_FILTERS)
    until = [_moment(value, backend.clock.time()) for value in filters.get("until", ())]

    def chosen(network: Network) -> bool:
        labels = network.spec.labels
        if "label" in filters and not label_matches(labels, filters["label"]):
            return False
        if any(label_matches(labels, [label]) for label in filters.get("label!", ())):
            return False
        created = parse_timestamp(network.created_at) if network.created_at else 0.0
        return all(created < moment for moment in until)

    removed = backend.control.prune_networks(chosen)
    return json_response({"NetworksDeleted": removed} if removed else {})  # dockerd: null


def _moment(value: str, now: float) -> float:
    """A prune's ``until``: a duration before now, Unix seconds, or an RFC 3339 time."""
    try:
        return now - parse_duration(value) / 1e9
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parse_timestamp(value)
    except ValueError:
        raise InvalidArgument(
            f'failed to parse value as time or duration: "{value}"', rpc=False
        ) from None


ROUTES = [
    ("GET", "/networks", list_networks),
    ("GET", "/networks/{id}", inspect_network),
    ("POST", "/networks/create", create_network),
    ("DELETE", "/networks/{id}", remove_network),
    ("POST", "/networks/prune", prune_networks),
]
