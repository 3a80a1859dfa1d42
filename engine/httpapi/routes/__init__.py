"""The route table: one module per kind of object, each with its ``ROUTES``; and the kinds of
body the routes read (``BODIES``)."""

from __future__ import annotations

from engine.api.networks import NetworkCreateRequest
from engine.api.objects import ClusterSpec, ServiceSpec
from engine.api.secrets import DataRequest
from engine.api.specs import NodeSpec
from engine.httpapi.routes import (
    containers,
    networks,
    nodes,
    secrets,
    services,
    swarm,
    system,
    tasks,
)

ROUTES = [
    *system.ROUTES,
    *swarm.ROUTES,
    *nodes.ROUTES,
    *services.ROUTES,
    *tasks.ROUTES,
    *networks.ROUTES,
    *secrets.ROUTES,
    *containers.ROUTES,
]

BODIES = (ServiceSpec, NodeSpec, ClusterSpec, NetworkCreateRequest, DataRequest)

__all__ = ["BODIES", "ROUTES"]
