"""Networks in the manager: the ingress network made at init, subnets from the pool, a VIP per
network and an address per task as a real swarm fills them, addresses given back and handed out
again, and all of it kept across a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from msgspec.structs import replace

from engine.api.networks import IPAMRequest, IPAMRequestConfig, NetworkAttachmentConfig
from engine.api.networks import NetworkCreateRequest as Create
from engine.api.objects import Endpoint, Network, Task
from engine.api.specs import EndpointSpec, PortConfig, ServiceSpec, TaskSpec
from engine.api.types import TaskState
from engine.errors import FailedPrecondition, InvalidArgument, NotFound
from engine.manager.allocator import INGRESS_MISSING
from tests.conftest import Sim, make_spec, start_sim


def on(spec: ServiceSpec, *networks: str, ports: list[PortConfig] | None = None) -> ServiceSpec:
    """``spec`` attached to ``networks`` (by name or ID), publishing ``ports``."""
    template = spec.task_template or TaskSpec()
    configs = [NetworkAttachmentConfig(target=name) for name in networks] or None
    return replace(
        spec,
        task_template=replace(template, networks=configs),
        endpoint_spec=EndpointSpec(mode="vip", ports=ports) if ports else None,
    )


def overlay(name: str, subnet: str | None = None) -> Create:
    ipam = (
        IPAMRequest(driver="default", config=[IPAMRequestConfig(subnet=subnet)]) if subnet else None
    )
    return Create(name=name, driver="overlay", ipam=ipam)


async def allocated(sim: Sim, name: str) -> Network:
    await sim.until(lambda: sim.control.get_network(name).ipam_options is not None, what=name)
    return sim.control.get_network(name)


def addresses(task: Task) -> dict[str, list[str]]:
    return {
        a.network.name: a.addresses or []
        for a in task.networks_attachments or ()
        if a.network is not None
    }


def live(sim: Sim, service: str) -> list[Task]:
    return [t for t in sim.tasks(service) if t.desired_state <= TaskState.RUNNING]


async def test_the_ingress_network_is_made_at_init_with_the_pools_first_subnet(sim: Sim) -> None:
    ingress = await allocated(sim, "ingress")
    assert ingress.spec.ingress
    assert ingress.driver_state is not None and ingress.driver_state.name == "overlay"
    assert ingress.ipam_options is not None and ingress.ipam_options.configs is not None
    config = ingress.ipam_options.configs[0]
    assert (config.subnet, config.gateway) == ("10.0.0.0/24", "10.0.0.1")
    assert [n.name for n in sim.control.list_networks()] == ["ingress"]


async def test_a_service_gets_a_vip_per_network_and_tasks_an_address_on_each(sim: Sim) -> None:
    await allocated(sim, "ingress")
    sim.control.create_network(overlay("front"))
    front = await allocated(sim, "front")
    ingress_port = [PortConfig(target_port=80, published_port=8080)]
    sim.control.create_service(on(make_spec(replicas=2), "front", ports=ingress_port))
    await sim.converge("web", 2)
    service = sim.control.get_service("web")
    assert service.spec.task_template is not None
    assert service.spec.task_template.networks == [NetworkAttachmentConfig(target=front.id)]
    assert service.endpoint is not None and service.endpoint.virtual_ips is not None
    vips = [(v.network_id, v.addr) for v in service.endpoint.virtual_ips]
    ingress = sim.control.get_network("ingress")
    assert vips == [(ingress.id, "10.0.0.2/24"), (front.id, "10.0.1.2/24")]
    tasks = sim.running("web")
    assert [addresses(t) for t in tasks] == [
        {"ingress": ["10.0.0.3/24"], "front": ["10.0.1.3/24"]},
        {"ingress": ["10.0.0.4/24"], "front": ["10.0.1.4/24"]},
    ]


async def test_dnsrr_services_get_no_vip_and_host_ports_no_ingress(sim: Sim) -> None:
    sim.control.create_network(overlay("back"))
    await allocated(sim, "back")
    spec = on(make_spec(name="db"), "back")
    sim.control.create_service(replace(spec, endpoint_spec=EndpointSpec(mode="dnsrr")))
    host_port = [PortConfig(target_port=80, published_port=7070, publish_mode="host")]
    sim.control.create_service(on(make_spec(name="edge"), ports=host_port))
    await sim.converge("db", 1)
    await sim.converge("edge", 1)
    db, edge = sim.control.get_service("db"), sim.control.get_service("edge")
    assert db.endpoint is not None and db.endpoint.virtual_ips is None
    assert edge.endpoint is not None and edge.endpoint.virtual_ips is None
    assert addresses(sim.running("db")[0]) == {"back": ["10.0.1.2/24"]}
    assert addresses(sim.running("edge")[0]) == {}


async def test_addresses_of_dead_tasks_go_back_and_are_handed_out_again(sim: Sim) -> None:
    sim.control.create_network(overlay("tiny", "10.9.9.0/29"))  # gateway .1, hosts .2 to .6
    await allocated(sim, "tiny")
    sim.control.create_service(on(make_spec(replicas=2), "tiny"))  # VIP .2, tasks .3 and .4
    await sim.converge("web", 2)
    sim.scale("web", 0)
    await sim.until(lambda: not sim.running("web"), what="web stopped")
    sim.scale("web", 4)  # .5 and .6 first, then the addresses the stopped tasks gave back
    await sim.converge("web", 4)
    held = sorted(a for t in live(sim, "web") for a in addresses(t)["tiny"])
    assert held == ["10.9.9.3/29", "10.9.9.4/29", "10.9.9.5/29", "10.9.9.6/29"]


async def test_what_waits_for_an_address_gets_one_once_one_is_freed(sim: Sim) -> None:
    sim.control.create_network(overlay("tiny", "10.9.9.0/29"))  # 5 addresses
    await allocated(sim, "tiny")
    sim.control.create_service(on(make_spec(replicas=4), "tiny"))  # its VIP and 4 tasks
    await sim.converge("web", 4)
    sim.control.create_service(on(make_spec(name="late"), "tiny"))
    await sim.until(lambda: bool(sim.tasks("late")), what="a task of late")
    await sim.advance(1)
    (waiting,) = sim.tasks("late")
    assert waiting.status.state == TaskState.NEW
    assert "No available addresses on this pool" in (waiting.status.err or "")
    assert (sim.control.get_service("late").endpoint or Endpoint()).virtual_ips is None
    sim.control.remove_service("web")
    await sim.converge("late", 1)
    late = sim.control.get_service("late")
    assert late.endpoint is not None and late.endpoint.virtual_ips is not None
    assert addresses(sim.running("late")[0])["tiny"][0].startswith("10.9.9.")


async def test_a_network_in_use_is_not_removed_until_its_service_and_tasks_are_gone(
    sim: Sim,
) -> None:
    made = sim.control.create_network(overlay("used"))
    await allocated(sim, "used")
    service = sim.control.create_service(on(make_spec(), "used"))
    await sim.converge("web", 1)
    with pytest.raises(
        FailedPrecondition, match=f"network {made.id} is in use by service {service.id}"
    ):
        sim.control.remove_network("used")
    sim.control.remove_service("web")
    await sim.until(lambda: not [t for t in sim.tasks() if t.service_id == service.id])
    sim.control.remove_network("used")
    with pytest.raises(NotFound, match="network used not found"):
        sim.control.get_network("used")


async def test_the_ingress_network_cannot_go_while_a_service_publishes_through_it(
    sim: Sim,
) -> None:
    ports = [PortConfig(target_port=80, published_port=8080)]
    service = sim.control.create_service(on(make_spec(), ports=ports))
    with pytest.raises(
        FailedPrecondition,
        match=f"ingress network cannot be removed because service {service.id} depends on it",
    ):
        sim.control.remove_network("ingress")


async def test_a_service_cannot_name_the_ingress_network_or_one_not_there(sim: Sim) -> None:
    with pytest.raises(
        InvalidArgument,
        match='Service cannot be explicitly attached to the ingress network "ingress"',
    ):
        sim.control.create_service(on(make_spec(), "ingress"))
    with pytest.raises(NotFound, match="network nope not found"):
        sim.control.create_service(on(make_spec(), "nope"))
    assert not sim.control.list_services()


async def test_networks_and_addresses_survive_a_restart(tmp_path: Path) -> None:
    sim = await start_sim(data_dir=str(tmp_path))
    sim.control.create_network(overlay("kept"))
    await allocated(sim, "kept")
    sim.control.create_service(on(make_spec(replicas=2), "kept"))
    await sim.converge("web", 2)
    before = {a for t in live(sim, "web") for a in addresses(t)["kept"]}
    await sim.cluster.stop()

    again = await start_sim(data_dir=str(tmp_path), clock=sim.clock, seed=8)
    try:
        assert (
            again.control.get_network("kept").ipam_options
            == sim.control.get_network("kept").ipam_options
        )
        again.control.create_network(overlay("later"))
        later = await allocated(again, "later")
        assert later.ipam_options is not None and later.ipam_options.configs is not None
        assert later.ipam_options.configs[0].subnet == "10.0.2.0/24"  # not the kept one's
        again.scale("web", 4)
        await again.converge("web", 4)
        after = [a for t in live(again, "web") for a in addresses(t)["kept"]]
        assert before <= set(after) and len(set(after)) == 4  # no address handed out twice
    finally:
        await again.cluster.stop()


async def test_publishing_through_the_mesh_moves_tasks_onto_the_ingress_network(
    sim: Sim,
) -> None:
    sim.control.create_service(make_spec(replicas=2))
    await sim.converge("web", 2)
    assert [addresses(t) for t in sim.running("web")] == [{}, {}]
    service = sim.control.get_service("web")
    ports = EndpointSpec(mode="vip", ports=[PortConfig(target_port=80, published_port=8080)])
    sim.control.update_service(
        service.id, service.version.index, replace(service.spec, endpoint_spec=ports)
    )

    def on_ingress() -> bool:
        tasks = [t for t in sim.running("web") if t.desired_state == TaskState.RUNNING]
        return len(tasks) == 2 and all("ingress" in addresses(t) for t in tasks)

    await sim.until(on_ingress, what="tasks on the ingress network")
    service = sim.control.get_service("web")
    sim.control.update_service(
        service.id, service.version.index, replace(service.spec, endpoint_spec=None)
    )

    def off_ingress() -> bool:
        tasks = [t for t in sim.running("web") if t.desired_state == TaskState.RUNNING]
        return len(tasks) == 2 and not any(addresses(t) for t in tasks)

    await sim.until(off_ingress, what="tasks off the ingress network")
    endpoint = sim.control.get_service("web").endpoint
    assert endpoint is not None and endpoint.virtual_ips is None


async def test_without_an_ingress_network_published_tasks_wait_for_a_new_one(sim: Sim) -> None:
    await allocated(sim, "ingress")
    sim.control.remove_network("ingress")
    ports = [PortConfig(target_port=80, published_port=8080)]
    sim.control.create_service(on(make_spec(), ports=ports))
    await sim.until(lambda: bool(sim.tasks("web")), what="a task")
    await sim.advance(5)
    (task,) = sim.tasks("web")
    assert task.status.state == TaskState.NEW
    assert task.status.err == INGRESS_MISSING
    made = sim.control.create_network(Create(name="mesh", driver="overlay", ingress=True))
    await sim.converge("web", 1)
    assert list(addresses(sim.running("web")[0])) == ["mesh"]
    endpoint = sim.control.get_service("web").endpoint
    assert endpoint is not None and endpoint.virtual_ips is not None
    assert [vip.network_id for vip in endpoint.virtual_ips] == [made.id]
