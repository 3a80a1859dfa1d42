"""A real three-node Docker swarm (``swarmdeck lab``), made once per test run.

Every test here is marked ``docker``. Without root, dockerd, ip, nsenter or busybox they skip;
with REQUIRE_DOCKER=1 (CI) they fail instead. Each test starts from a clean swarm: no services,
every node up, active, with its first role and no labels.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.agent.exec.docker import LABELS
from engine.lab import MANAGER, Lab, LabError, check_host
from tests.integration.conftest import Engine, docker_cli, start_engine, wait_until

IMAGE, NEWER_IMAGE = "local/busybox:1", "local/busybox:2"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.docker)


def _missing() -> str | None:
    try:
        check_host()
    except LabError as error:
        return str(error)
    return None if shutil.which("docker") else "the docker CLI is not installed"


class Swarm:
    """The lab, and the real docker CLI pointed at its manager or at one node's engine."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.url = lab.manager.url

    def docker(self, *args: str, node: str = MANAGER) -> str:
        return docker_cli(self.lab.node(node).url, *args)

    def json(self, *args: str) -> Any:
        return json.loads(self.docker(*args))

    def service_create(self, name: str, *args: str) -> None:
        self.docker("service", "create", "--detach", "--no-resolve-image", "--name", name, *args)

    def running(self, service: str) -> dict[str, int]:
        """Running tasks of ``service`` by node hostname, as ``docker service ps`` shows them."""
        lines = self.docker(
            "service",
            "ps",
            service,
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Node}} {{.CurrentState}}",
        ).splitlines()
        counts: dict[str, int] = {}
        for line in lines:
            node, _, state = line.partition(" ")
            if state.startswith("Running"):
                counts[node] = counts.get(node, 0) + 1
        return counts

    def in_node(self, node: str, *command: str) -> str:
        """What ``command`` prints, run on this host in ``node``'s network namespace; "" when
        it fails."""
        result = subprocess.run(
            ["nsenter", f"--net=/run/netns/{self.lab._netns(node)}", *command],
            capture_output=True, text=True, timeout=15, check=False,
        )  # fmt: skip
        return result.stdout.strip() if result.returncode == 0 else ""

    def http_get(self, node: str, address: str, port: int) -> str:
        """The body of GET / on ``address:port``, asked from inside ``node``'s network namespace
        with no proxy; "" when nothing answered."""
        fetch = (
            "import urllib.request as u; o = u.build_opener(u.ProxyHandler({})); "
            f"print(o.open('http://{address}:{port}/', timeout=3).read().decode())"
        )
        return self.in_node(node, sys.executable, "-c", fetch)

    def node_field(self, hostname: str, template: str) -> str:
        return self.docker("node", "inspect", hostname, "--format", template).strip()

    def reset(self) -> None:
        for name in self.lab.status():
            if name[1] == "stopped":
                self.lab.start(name[0].name)
        services = self.docker("service", "ls", "-q").split()
        if services:
            self.docker("service", "rm", *services)
        for node in self.lab.nodes:
            labels = json.loads(self.node_field(node.name, "{{json .Spec.Labels}}")) or {}
            removals = [arg for key in labels for arg in ("--label-rm", key)]
            role = "manager" if node.name == MANAGER else "worker"
            self.docker(
                "node", "update", "--availability", "active", "--role", role, *removals, node.name
            )
        wait_until(
            lambda: all(
                self.node_field(n.name, "{{.Status.State}}") == "ready" for n in self.lab.nodes
            ),
            60,
            "every node ready",
        )
        # A demoted node leaves the managers' raft some time after its role says worker; a
        # test that kills it before then leaves the manager without a quorum, for good.
        wait_until(
            lambda: all(
                self.node_field(n.name, "{{if .ManagerStatus}}manager{{end}}") == ""
                for n in self.lab.nodes
                if n.name != MANAGER
            ),
            60,
            "only the first manager in the raft",
        )
        wait_until(
            lambda: not any(self.docker("ps", "-q", node=n.name).strip() for n in self.lab.nodes),
            60,
            "no containers left",
        )


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    reason = _missing()
    if reason:
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(f"{reason} (REQUIRE_DOCKER=1)")
        pytest.skip(reason)
    made = Lab(tmp_path_factory.mktemp("lab"))
    made.up(3)
    yield made
    made.down()


@pytest.fixture
def swarm(lab: Lab) -> Swarm:
    """The lab's swarm, clean: no services, every node up, active, in its first role."""
    here = Swarm(lab)
    here.reset()
    return here


@pytest.fixture
def ours(swarm: Swarm, tmp_path: Path) -> Iterator[Engine]:
    """Our engine serving the lab's three engines as its nodes, with the docker executor; its
    containers are removed afterwards."""
    nodes = [f"--docker-node={node.name}={node.url}" for node in swarm.lab.nodes]
    engine = start_engine(tmp_path, *nodes)
    yield engine
    engine.stop()
    for node in swarm.lab.nodes:
        if swarm.lab._pids(node.name):
            remove_ours(swarm, node.name)


def remove_ours(swarm: Swarm, node: str) -> None:
    """Removes the containers our engine made on ``node``."""
    made = swarm.docker("ps", "-aq", "--filter", f"label={LABELS['task']}", node=node).split()
    if made:
        swarm.docker("rm", "-f", *made, node=node)
