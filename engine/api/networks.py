"""Networks as the swarm keeps them (SwarmKit's ``NetworkSpec``, as ``docker inspect`` of a task
shows it in ``NetworksAttachments``), what a service attaches to, and what
``POST /networks/create`` sends (dockerd's ``NetworkCreateRequest``).

The ``/networks`` routes show a network in dockerd's other shape, ``NetworkResource``; the
``Network`` object itself lives in ``engine.api.objects``.
"""

from __future__ import annotations

import msgspec

from engine.api.base import Struct

__all__ = [
    "INGRESS",
    "OVERLAY",
    "PREDEFINED_LABEL",
    "ConfigReference",
    "Driver",
    "EndpointVirtualIP",
    "IPAMConfig",
    "IPAMOptions",
    "IPAMRequest",
    "IPAMRequestConfig",
    "NetworkAttachmentConfig",
    "NetworkCreateRequest",
    "NetworkResource",
    "NetworkSpec",
]

OVERLAY = "overlay"  # the one driver of swarm-scoped networks (SwarmKit's DefaultDriver)
INGRESS = "ingress"  # the routing mesh's network, made at swarm init
PREDEFINED_LABEL = "com.docker.swarm.predefined"  # the swarm's own bridge and host networks


class Driver(Struct, frozen=True):
    name: str | None = None
    options: dict[str, str] | None = None


class IPAMConfig(Struct, frozen=True):
    subnet: str | None = None
    range: str | None = None
    gateway: str | None = None


class IPAMOptions(Struct, frozen=True):
    driver: Driver | None = None
    configs: list[IPAMConfig] | None = None


class ConfigReference(Struct, frozen=True):
    network: str | None = None


class NetworkSpec(Struct, frozen=True):
    name: str | None = None
    labels: dict[str, str] | None = None
    driver_configuration: Driver | None = None
    ipv6_enabled: bool | None = None
    internal: bool | None = None
    attachable: bool | None = None
    ingress: bool | None = None
    ipam_options: IPAMOptions | None = None
    config_from: ConfigReference | None = None
    scope: str | None = None


class NetworkAttachmentConfig(Struct, frozen=True):
    """A network a service's tasks attach to (``TaskTemplate.Networks``): ``target`` is the
    network's ID once the manager has resolved the name a client sent."""

    target: str | None = None
    aliases: list[str] | None = None
    driver_opts: dict[str, str] | None = None


class EndpointVirtualIP(Struct, frozen=True):
    """A service's VIP on one network (``Endpoint.VirtualIPs``): ``addr`` is ``10.0.1.2/24``;
    none on a network with no addresses (the swarm's ``host`` and ``bridge``)."""

    network_id: str | None = None
    addr: str | None = None


class IPAMRequestConfig(Struct, frozen=True):
    subnet: str | None = None
    ip_range: str | None = None
    gateway: str | None = None
    auxiliary_addresses: dict[str, str] | None = None


class IPAMRequest(Struct, frozen=True):
    driver: str | None = None
    config: list[IPAMRequestConfig] | None = None
    options: dict[str, str] | None = None


class NetworkCreateRequest(Struct, frozen=True):
    """``POST /networks/create`` (``docker network create``)."""

    name: str | None = None
    check_duplicate: bool | None = None
    driver: str | None = None
    scope: str | None = None
    enable_ipv6: bool | None = None
    ipam: IPAMRequest | None = None
    internal: bool | None = None
    attachable: bool | None = None
    ingress: bool | None = None
    config_only: bool | None = None
    config_from: ConfigReference | None = None
    options: dict[str, str] | None = None
    labels: dict[str, str] | None = None


class NetworkResource(Struct, frozen=True):
    """A network as ``GET /networks`` lists it (dockerd's ``NetworkResource``): a swarm's
    networks (``Scope`` "swarm") and the answering node's own ("local")."""

    name: str = ""
    id: str = msgspec.field(default="", name="Id")
    created: str | None = None
    scope: str | None = None
    driver: str | None = None
    enable_ipv6: bool | None = None
    ipam: IPAMRequest | None = None  # dockerd's network.IPAM, in an answer as in a request
    internal: bool | None = None
    attachable: bool | None = None
    ingress: bool | None = None
    options: dict[str, str] | None = None
    labels: dict[str, str] | None = None

    @property
    def subnets(self) -> list[str]:
        return [c.subnet for c in (self.ipam.config if self.ipam else None) or () if c.subnet]
