"""Selectors for ``find_*``: a closed set, each naming the index that answers it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.api.objects import Config, Network, Node, Object, Secret, Service, Task

__all__ = [
    "By",
    "all",
    "id_prefix",
    "name",
    "node_id",
    "service_id",
    "slot",
]


@dataclass(frozen=True, slots=True)
class By:
    """A selector. ``index`` names the store index that answers it; ``key`` is its key there."""

    index: str
    key: Any

    def matches(self, obj: Object) -> bool:
        return _MATCHERS[self.index](obj, self.key)


def all() -> By:
    return By("all", None)


def service_id(value: str) -> By:
    return By("service_id", value)


def node_id(value: str) -> By:
    return By("node_id", value)


def slot(service: str, number: int) -> By:
    return By("slot", (service, number))


def name(value: str) -> By:
    """Services, networks, secrets and configs by name; nodes by spec name or hostname.
    Case-insensitive, like SwarmKit."""
    return By("name", value.lower())


def id_prefix(value: str) -> By:
    return By("id_prefix", value)


def object_name(obj: Object) -> str:
    if isinstance(obj, Service):
        return (obj.spec.name or "").lower()
    if isinstance(obj, Node):
        return (obj.spec.name or obj.hostname).lower()
    if isinstance(obj, Task):
        return (obj.name or "").lower()
    if isinstance(obj, Network | Secret | Config):
        return obj.name.lower()
    return ""


_MATCHERS = {
    "all": lambda obj, key: True,
    "service_id": lambda obj, key: getattr(obj, "service_id", None) == key,
    "node_id": lambda obj, key: getattr(obj, "node_id", None) == key,
    "slot": lambda obj, key: (getattr(obj, "service_id", None), getattr(obj, "slot", None)) == key,
    "name": lambda obj, key: object_name(obj) == key,
    "id_prefix": lambda obj, key: obj.id.startswith(key),
}
