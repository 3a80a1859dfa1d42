"""The Docker SDK for Python against a served engine."""

from __future__ import annotations

import docker
import pytest
from docker.types import EndpointSpec, ServiceMode

from tests.integration.conftest import Engine, wait_until


@pytest.fixture
def client(engine: Engine) -> docker.DockerClient:
    return docker.DockerClient(base_url=engine.url, version="1.41")


def running_images(service: docker.models.services.Service) -> list[str]:
    return sorted(
        task["Spec"]["ContainerSpec"]["Image"]
        for task in service.tasks(filters={"desired-state": "running"})
        if task["Status"]["State"] == "running"
    )


def test_services_create_scale_update_and_tasks(client: docker.DockerClient) -> None:
    service = client.services.create(
        "nginx:1.10",
        name="sdk",
        mode=ServiceMode("replicated", replicas=2),
        endpoint_spec=EndpointSpec(ports={8090: 80}),
    )
    wait_until(lambda: running_images(service) == ["nginx:1.10"] * 2, 30, "2 running")
    service.scale(3)
    wait_until(lambda: len(running_images(service)) == 3, 30, "3 running")
    service.reload()
    service.update(image="nginx:1.11")
    wait_until(lambda: running_images(service) == ["nginx:1.11"] * 3, 60, "updated")
    assert client.services.get("sdk").attrs["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
    assert [s.name for s in client.services.list(filters={"name": "sdk"})] == ["sdk"]


def test_nodes_list_and_update(client: docker.DockerClient) -> None:
    nodes = {node.attrs["Description"]["Hostname"]: node for node in client.nodes.list()}
    assert set(nodes) == {"swarm-master", "swarm-node-1", "swarm-node-2"}
    node = nodes["swarm-node-1"]
    spec = dict(node.attrs["Spec"], Labels={"tier": "front"}, Availability="pause")
    assert node.update(spec)
    node.reload()
    assert node.attrs["Spec"]["Labels"] == {"tier": "front"}
    assert node.attrs["Spec"]["Availability"] == "pause"
    managers = client.nodes.list(filters={"role": "manager"})
    assert [n.attrs["Description"]["Hostname"] for n in managers] == ["swarm-master"]
    node.reload()
    node.update(dict(node.attrs["Spec"], Availability="active"))


def test_swarm_and_info(client: docker.DockerClient) -> None:
    info = client.info()
    assert info["Swarm"]["LocalNodeState"] == "active"
    assert info["Swarm"]["ControlAvailable"] is True
    assert info["Swarm"]["Nodes"] == 3
    client.swarm.reload()
    assert client.swarm.attrs["JoinTokens"]["Worker"].startswith("SWMTKN-1-")
