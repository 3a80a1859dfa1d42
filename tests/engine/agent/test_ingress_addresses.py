"""The swarm's addresses on a node in a network namespace of its own: a service's VIP balances
over its running tasks, each task's address reaches that task alone, the networks' subnets are
made local to the namespace. Here the namespace is this process's own, on a network whose
subnet lies in 127/8, so the addresses answer without root."""

from __future__ import annotations

import asyncio
import random
import socket as sockets
from collections.abc import Iterable

from engine.agent.ingress import Ingress, MeshNode
from engine.api.naming import task_name
from engine.api.types import TaskState
from engine.embedded import EmbeddedCluster
from tests.conftest import make_spec
from tests.engine.agent.test_ingress import free_port, get, published, served_by
from tests.engine.mesh.conftest import eventually
from tests.engine.mesh.test_networks import on, overlay


class Namespace:
    """A node's namespace as the mesh uses one: sockets made in it, subnets made local."""

    def __init__(self) -> None:
        self.subnets: set[str] = set()

    def socket(self, family: sockets.AddressFamily, kind: sockets.SocketKind) -> sockets.socket:
        return sockets.socket(family, kind)

    async def local_subnets(self, subnets: Iterable[str]) -> None:
        self.subnets = set(subnets)


def addresses_on(cluster: EmbeddedCluster, service_id: str, network_id: str) -> dict[str, str]:
    """The running tasks' addresses on the network, by the task's name as its page says it."""
    found = {}
    for task in cluster.control.list_tasks(service_id):
        if task.status.state != TaskState.RUNNING or task.desired_state != TaskState.RUNNING:
            continue
        for attachment in task.networks_attachments or ():
            if attachment.network is not None and attachment.network.id == network_id:
                address = (attachment.addresses or [""])[0].split("/")[0]
                found[task_name("nginx", task)] = address
    return found


async def test_a_vip_balances_and_a_task_address_reaches_its_task() -> None:
    prefix, other, subnet = (f"127.{random.randint(2, 254)}.{n}" for n in (1, 2, 3))
    subnet += ".0/24"
    async with EmbeddedCluster(
        nodes=2, seed=7, heartbeat_period=0.5, heartbeat_epsilon=0, node_addresses=prefix, mesh=True
    ) as cluster:
        front = cluster.control.create_network(overlay("front", subnet))
        port = free_port()
        spec = published(on(make_spec("nginx", replicas=2), "front"), port)
        service = cluster.control.create_service(spec)
        namespace = Namespace()
        # The first node as one whose engine has a namespace of its own; the mesh's own
        # addresses for it are other ones, so its ingress listeners are its own too.
        first, second = (cluster.nodes[name] for name in sorted(cluster.nodes))

        def nodes() -> dict[str, MeshNode]:
            return {
                first.id: MeshNode(f"{other}.1", first.executor, netns=namespace),
                second.id: MeshNode(f"{other}.2", second.executor),
            }

        ingress = Ingress(cluster.store, nodes)
        runner = asyncio.create_task(ingress.run())
        try:
            tasks: dict[str, str] = {}

            def both_running() -> bool:
                tasks.update(addresses_on(cluster, service.id, front.id))
                return len(tasks) == 2

            await eventually(both_running, "two tasks with addresses on front")
            vip = next(
                v.addr.split("/")[0]
                for v in cluster.control.get_service(service.id).endpoint.virtual_ips or ()
                if v.network_id == front.id and v.addr
            )
            await eventually(lambda: namespace.subnets == {subnet}, "the subnet made local")
            served = {served_by(await get(vip, 80)) for _ in range(4)}
            assert served == set(tasks)
            for name, address in tasks.items():
                for _ in range(2):
                    assert served_by(await get(address, 80)) == name
            assert await get(vip, 81) is None  # not a target port of the service
            counted = ingress.connections_last_minute(service.id)
            assert sum(counted.values()) == 4 + 2 * len(tasks)  # through the VIP and addresses

            current = cluster.control.get_service(service.id)
            spec = published(on(make_spec("nginx", replicas=0), "front"), port)
            cluster.control.update_service(service.id, current.version.index, spec)
            await eventually(lambda: not ingress.rotation(service.id), "no task in rotation")
            for address in (vip, *tasks.values()):
                assert await get(address, 80) is None
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
