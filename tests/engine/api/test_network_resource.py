"""``GET /networks`` answers as a Docker 20.10 swarm manager does: ``dockerd/networks.json`` is
what a real Engine 20.10.24 (API 1.41) listed after ``docker swarm init`` and

    docker network create -d overlay --attachable --label a=b --opt foo=bar mynet
    docker network create -d overlay plain
    docker network create -d overlay --internal --subnet 10.20.0.0/16 --gateway 10.20.0.254 net2
    docker network create -d overlay --subnet 10.50.0.0/24 --ip-range 10.50.0.128/25 ranged

Networks made with the same requests here show the same, but for their IDs, creation times and
VXLAN IDs (the real swarm had made and removed others between them), and the empty maps dockerd
writes as null, against its API spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.api.networks import IPAMRequest, IPAMRequestConfig, NetworkCreateRequest
from engine.httpapi.routes.networks import local_networks, resource
from tests.conftest import Sim

REAL = {
    n["Name"]: n for n in json.loads((Path(__file__).parent / "dockerd/networks.json").read_text())
}
VXLAN = "com.docker.network.driver.overlay.vxlanid_list"


def request(name: str, **changes: Any) -> NetworkCreateRequest:
    """What docker network create -d overlay sends, with ``changes``."""
    config = changes.pop("config", [])
    return NetworkCreateRequest(
        name=name,
        driver="overlay",
        ipam=IPAMRequest(driver="default", options={}, config=config),
        options=changes.pop("options", {}),
        labels=changes.pop("labels", {}),
        **changes,
    )


def comparable(network: dict[str, Any]) -> dict[str, Any]:
    options = dict(network["Options"] or {})
    if VXLAN in options:
        options[VXLAN] = "(a VXLAN ID)"
    ipam = {**network["IPAM"], "Options": network["IPAM"]["Options"] or {}}
    return {
        **network,
        "Id": "(an ID)",
        "Created": "(a time)",
        "Options": options,
        "IPAM": ipam,
        "Containers": network["Containers"] or {},
        "Labels": network["Labels"] or {},
    }


async def test_swarm_networks_show_as_dockerd_shows_them(sim: Sim) -> None:
    control = sim.control
    control.create_network(
        request("mynet", attachable=True, labels={"a": "b"}, options={"foo": "bar"})
    )
    control.create_network(request("plain"))
    net2 = IPAMRequestConfig(subnet="10.20.0.0/16", gateway="10.20.0.254")
    control.create_network(request("net2", internal=True, config=[net2]))
    ranged = IPAMRequestConfig(subnet="10.50.0.0/24", ip_range="10.50.0.128/25")
    control.create_network(request("ranged", config=[ranged]))
    names = ("ingress", "mynet", "plain", "net2", "ranged")
    await sim.until(lambda: all(control.get_network(n).ipam_options for n in names))
    for name in names:
        ours = resource(control.get_network(name))
        assert comparable(ours) == comparable(REAL[name]), name
        assert len(ours["Id"]) == len(REAL[name]["Id"])


@pytest.mark.parametrize("name", ["bridge", "docker_gwbridge", "host", "none"])
async def test_the_nodes_own_networks_show_as_dockerd_shows_them(sim: Sim, name: str) -> None:
    ours = {n["Name"]: n for n in local_networks(sim.cluster)}[name]
    real = REAL[name]
    assert set(ours) == set(real)
    # The real engine ran with --ip-masq=false; a default one masquerades.
    options = {**real["Options"], "com.docker.network.bridge.enable_ip_masquerade": "true"}
    if name == "bridge":
        real = {**real, "Options": options}
    assert comparable(ours) == comparable(real)
    assert len(ours["Id"]) == 64
