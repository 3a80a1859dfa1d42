"""A Distributed Application Bundle deployed to the lab's real Docker swarm: the docker CLI of
20.10 no longer deploys bundles, swarmdeck does, through the same Engine API calls."""

from __future__ import annotations

import json
from pathlib import Path

from tests.docker.conftest import IMAGE, Swarm, wait_until
from tests.integration.test_bundles import swarmdeck

COMPOSE = f"""
version: "3.8"
services:
  web:
    image: {IMAGE}
    command: ["httpd", "-f", "-p", "8000"]
    ports: ["8000"]
    environment: {{GREETING: hello}}
    networks: [front]
  worker:
    image: {IMAGE}
    command: sleep 600
    labels: [role=worker]
    networks: [front, back]
networks:
  front:
  back:
"""


def test_a_bundle_round_trip_on_a_real_swarm(swarm: Swarm, tmp_path: Path) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(COMPOSE)
    dab = tmp_path / "app.dab"
    made = swarmdeck(swarm.url, "bundle", str(compose), "-o", str(dab))
    assert made.returncode == 0, made.stderr
    assert f"no digest known for {IMAGE}" in made.stderr  # the lab has no registry
    services = json.loads(dab.read_text())["Services"]
    assert services["worker"]["Args"] == ["sleep", "600"]
    assert services["web"]["Ports"] == [{"Port": 8000, "Protocol": "tcp"}]

    deployed = swarmdeck(swarm.url, "stack", "deploy", "--bundle-file", str(dab), "app")
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stdout.splitlines() == [  # the plan, then what was done
        "+ create network app_back",
        "+ create network app_front",
        "+ create service app_web",
        "+ create service app_worker",
        "Creating network app_back",
        "Creating network app_front",
        "Creating service app_web",
        "Creating service app_worker",
    ]
    try:
        listed = swarm.docker("stack", "services", "app", "--format", "{{.Name}} {{.Mode}}")
        assert sorted(listed.splitlines()) == ["app_web replicated", "app_worker replicated"]
        wait_until(
            lambda: swarm.running("app_web") and swarm.running("app_worker"),
            90,
            "both services running on the real swarm",
        )
        spec = swarm.json("service", "inspect", "app_worker")[0]["Spec"]
        assert spec["Labels"] == {"com.docker.stack.namespace": "app", "role": "worker"}
        assert spec["TaskTemplate"]["ContainerSpec"]["Args"] == ["sleep", "600"]
        web = swarm.json("service", "inspect", "app_web")[0]
        assert web["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["GREETING=hello"]
        assert web["Endpoint"]["Ports"][0]["PublishedPort"] >= 30000

        again = swarmdeck(swarm.url, "stack", "deploy", "--bundle-file", str(dab), "app")
        assert again.returncode == 0, again.stderr
        # The same bundle: the specs the real swarm keeps (with its defaults) are read as
        # unchanged, and no call changes anything.
        assert again.stdout.splitlines() == ["  unchanged: app_web, app_worker"]
    finally:
        swarm.docker("stack", "rm", "app")
    wait_until(
        lambda: (
            not swarm.docker(
                "network", "ls", "-q", "--filter", "label=com.docker.stack.namespace=app"
            ).strip()
        ),
        60,
        "the stack's networks gone",
    )
