"""Service discovery: the names the mesh's DNS server answers, read from the store.

As Docker's embedded resolver answers a container on a swarm network:

- ``SERVICE`` is the service's virtual IP on its networks (endpoint mode ``vip``), or the
  addresses of its running tasks (``dnsrr``);
- ``tasks.SERVICE`` is the addresses of its running tasks, in either mode;
- ``NAME.NETWORK`` is either of those on that network only.

Only networks a service or task joined by name count: the ``ingress`` network carries the mesh,
not discovery, as on a real swarm. A name no service has is not known here (the DNS server then
forwards it, as Docker's does).

    server = await serve_dns(Names(store).resolve, "127.0.1.1", 53, upstreams=host_resolvers())
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

from engine.api.objects import Network, Service, Task
from engine.api.types import TaskState
from engine.store import MemoryStore, ReadTx, by, find_networks, find_services, find_tasks

__all__ = ["Names", "host_resolvers"]

TASKS = "tasks."
RESOLV_CONF = Path("/etc/resolv.conf")


class Names:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def resolve(self, name: str) -> list[str] | None:
        """The addresses of ``name``; None for a name no service has."""
        return self._store.view(lambda tx: _resolve(tx, name.lower().rstrip(".")))


def host_resolvers(resolv_conf: Path = RESOLV_CONF) -> list[str]:
    """The host's name servers, but those on loopback (they would not answer a container),
    as Docker gives its resolver the host's ``resolv.conf``."""
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return []
    servers = []
    for line in lines:
        match line.split():
            case ["nameserver", address, *_]:
                try:
                    if not ipaddress.ip_address(address).is_loopback:
                        servers.append(address)
                except ValueError:
                    continue
    return servers


def _resolve(tx: ReadTx, name: str) -> list[str] | None:
    tasks_of = name.startswith(TASKS)
    bare = name.removeprefix(TASKS)
    for service_name, network in _readings(bare):
        services = find_services(tx, by.name(service_name))
        if not services:
            continue
        service = services[0]
        networks = _discovery_networks(tx, network)
        if networks is None:
            continue
        if tasks_of or _mode(service) == "dnsrr":
            return _task_addresses(find_tasks(tx, by.service_id(service.id)), networks)
        return _virtual_ips(service, networks)
    return None


def _readings(name: str) -> Iterable[tuple[str, str | None]]:
    """``web`` as the service web; ``web.front`` also as web on the network front."""
    yield name, None
    service_name, dot, network = name.rpartition(".")
    if dot and service_name:
        yield service_name, network


def _discovery_networks(tx: ReadTx, network: str | None) -> set[str] | None:
    """The IDs of the networks names are answered on: every swarm network but ingress, or the
    one named; None when no network has that name."""
    networks = [n for n in find_networks(tx, by.all()) if not _ingress(n)]
    if network is None:
        return {n.id for n in networks}
    chosen = {n.id for n in networks if n.name == network or n.id == network}
    return chosen or None


def _ingress(network: Network) -> bool:
    return bool(network.spec.ingress)


def _mode(service: Service) -> str:
    spec = service.spec.endpoint_spec
    return (spec.mode if spec is not None else None) or "vip"


def _virtual_ips(service: Service, networks: set[str]) -> list[str]:
    endpoint = service.endpoint
    vips = (endpoint.virtual_ips if endpoint is not None else None) or ()
    return [_ip(vip.addr) for vip in vips if vip.network_id in networks and vip.addr]


def _task_addresses(tasks: list[Task], networks: set[str]) -> list[str]:
    addresses = []
    for task in tasks:
        if task.status.state != TaskState.RUNNING or task.desired_state > TaskState.RUNNING:
            continue
        for attachment in task.networks_attachments or ():
            if attachment.network is not None and attachment.network.id in networks:
                addresses += [_ip(address) for address in attachment.addresses or ()]
    return addresses


def _ip(address: str) -> str:
    return str(ipaddress.ip_interface(address).ip)
