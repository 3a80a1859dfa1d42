"""Service discovery: each node's DNS server answers a service's name with its VIP (or its tasks'
addresses in dnsrr mode), ``tasks.NAME`` with its tasks' addresses, with a TTL of 600, queried
with a DNS client library."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket as sockets
from collections.abc import AsyncIterator
from pathlib import Path

import dns.asyncquery
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from msgspec.structs import replace

from engine.agent.names import host_resolvers
from engine.api.networks import NetworkAttachmentConfig, NetworkCreateRequest
from engine.api.specs import EndpointSpec, ServiceSpec
from engine.api.types import TaskState
from engine.embedded import EmbeddedCluster
from tests.conftest import make_spec


def free_port() -> int:
    with sockets.socket(sockets.AF_INET, sockets.SOCK_DGRAM) as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def cluster() -> AsyncIterator[EmbeddedCluster]:
    prefix = f"127.{random.randint(2, 254)}.{random.randint(1, 254)}"
    async with EmbeddedCluster(
        nodes=3,
        seed=9,
        node_addresses=prefix,
        mesh=True,
        dns_port=free_port(),
        dns_upstreams=(),  # names it does not know go nowhere
    ) as cluster:
        yield cluster


def on(spec: ServiceSpec, network: str, mode: str = "vip") -> ServiceSpec:
    template = spec.task_template
    assert template is not None
    return replace(
        spec,
        task_template=replace(template, networks=[NetworkAttachmentConfig(target=network)]),
        endpoint_spec=EndpointSpec(mode=mode),
    )


async def ask(cluster: EmbeddedCluster, name: str, kind: str = "A") -> dns.message.Message:
    server = cluster.dns["swarm-node-1"]
    host, port = server.address
    query = dns.message.make_query(name, kind)
    return await dns.asyncquery.udp(query, host, port=port, timeout=5)


def addresses(answer: dns.message.Message) -> set[str]:
    return {item.address for rrset in answer.answer for item in rrset}


async def running(cluster: EmbeddedCluster, service_id: str, count: int) -> list[str]:
    """The addresses on their network of the service's tasks, once ``count`` run."""
    for _ in range(400):
        tasks = [
            t
            for t in cluster.control.list_tasks(service_id)
            if t.status.state == TaskState.RUNNING and t.desired_state == TaskState.RUNNING
        ]
        if len(tasks) == count:
            return [
                str(ipaddress.ip_interface(address).ip)
                for t in tasks
                for attachment in t.networks_attachments or ()
                if attachment.network is not None and not attachment.network.spec.ingress
                for address in attachment.addresses or ()
            ]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} tasks never ran")


async def test_names_of_services_and_their_tasks(cluster: EmbeddedCluster) -> None:
    cluster.control.create_network(NetworkCreateRequest(name="front", driver="overlay"))
    web = cluster.control.create_service(on(make_spec("web", replicas=2), "front"))
    db = cluster.control.create_service(on(make_spec("db", replicas=3), "front", "dnsrr"))
    web_tasks = await running(cluster, web.id, 2)
    db_tasks = await running(cluster, db.id, 3)
    vips = cluster.control.get_service(web.id).endpoint.virtual_ips  # type: ignore[union-attr]
    assert vips is not None
    (vip,) = [str(ipaddress.ip_interface(v.addr or "").ip) for v in vips]

    answer = await ask(cluster, "web")
    assert addresses(answer) == {vip}
    assert all(rrset.ttl == 600 for rrset in answer.answer)
    assert addresses(await ask(cluster, "WEB.front")) == {vip}  # any case, on its network
    assert addresses(await ask(cluster, "tasks.web")) == set(web_tasks)
    assert addresses(await ask(cluster, "db")) == set(db_tasks)  # dnsrr: the tasks
    assert addresses(await ask(cluster, "tasks.db")) == set(db_tasks)

    unknown = await ask(cluster, "no-such-service.invalid")  # no upstream reached: SERVFAIL
    assert unknown.answer == [] and unknown.rcode() != dns.rcode.NOERROR
    six = await ask(cluster, "web", "AAAA")  # known, but not over IPv6: nothing, not forwarded
    assert six.rcode() == dns.rcode.NOERROR and six.answer == []


async def test_a_service_only_on_the_ingress_network_has_no_name(cluster: EmbeddedCluster) -> None:
    """The ingress network carries the mesh, not discovery."""
    cluster.control.create_service(make_spec("lonely", replicas=1))
    answer = await ask(cluster, "lonely")
    assert answer.answer == []


def test_the_hosts_resolvers_but_loopback_are_the_upstreams(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver bogus\n"
        "search example.com\nnameserver 2001:db8::1\n"
    )
    assert host_resolvers(conf) == ["192.0.2.1", "2001:db8::1"]
    assert host_resolvers(tmp_path / "missing") == []
