"""The route table: one module per kind of object, each with its ``ROUTES``."""

from __future__ import annotations

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

__all__ = ["ROUTES"]
