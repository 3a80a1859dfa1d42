"""``swarmdeck lab``: up, status, a second up refused, kill and start a node, down leaves
nothing behind. A one-node lab of its own, beside the session's three-node one."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.lab import Lab
from tests.docker.conftest import Swarm
from tests.integration.conftest import wait_until


def swarmdeck_lab(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", "lab", "--dir", str(directory), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    """Where the test's own lab lives; whatever the test leaves there is taken down."""
    yield tmp_path / "lab"
    if Lab(tmp_path / "lab").exists:
        Lab(tmp_path / "lab").down()


def test_up_status_kill_start_down(directory: Path, swarm: Swarm) -> None:
    made = swarmdeck_lab(directory, "up", "--nodes", "2")
    assert made.returncode == 0, made.stderr
    lab = Lab(directory)
    socket = lab.manager.url
    assert f"export DOCKER_HOST={socket}" in made.stdout
    assert f"swarmdeck --host {socket} --node-engines {directory}/engines.json" in made.stdout
    assert f"swarm-node-1     10.213.0.12  {lab.node('swarm-node-1').url}" in made.stdout
    assert f"--docker-node swarm-node-1={lab.node('swarm-node-1').url}" in made.stdout

    again = swarmdeck_lab(directory, "up")
    assert again.returncode == 1
    assert "a lab already exists" in again.stderr

    assert swarmdeck_lab(directory, "kill", "swarm-node-1").returncode == 0
    assert "swarm-node-1     10.213.0.12" in swarmdeck_lab(directory, "status").stdout
    assert "stopped" in swarmdeck_lab(directory, "status").stdout
    assert swarmdeck_lab(directory, "start", "swarm-node-1").returncode == 0
    with contextlib.closing(lab.client("swarm-node-1")) as client:
        assert client.info()["Name"] == "swarm-node-1"

    prefix = lab._prefix
    sockets = Path(lab.manager.url.removeprefix("unix://")).parent.parent
    assert prefix in namespaces()
    gone = swarmdeck_lab(directory, "down")
    assert gone.returncode == 0, gone.stderr
    assert not directory.exists()
    assert prefix not in namespaces()
    assert str(directory) not in Path("/proc/mounts").read_text()
    assert not sockets.exists()
    assert not lab._pids("swarm-master") and not lab._pids("swarm-node-1")
    # The session's lab is untouched.
    assert len(swarm.docker("node", "ls", "-q").split()) == 3


def test_a_lab_of_swarmdeck_engines_walks_through_the_dockercon_demo(directory: Path) -> None:
    """One ``swarmdeck engine serve`` per node, in its own network namespace, joined with the
    real docker CLI over mutual TLS; a killed node's tasks go to the others."""
    made = swarmdeck_lab(directory, "up", "--engine", "swarmdeck")
    assert made.returncode == 0, made.stderr
    lab = Lab(directory)
    assert lab.engine == "swarmdeck"
    for name, address in (("swarm-master", "11"), ("swarm-node-1", "12"), ("swarm-node-2", "13")):
        assert f"{name:<16} 10.213.0.{address}" in made.stdout
        assert f"active (10.213.0.{address})" in made.stdout

    def docker(*args: str) -> str:
        done = subprocess.run(
            ["docker", "--host", lab.manager.url, *args], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def running_on() -> list[str]:
        listed = docker(
            "service", "ps", "web", "--filter", "desired-state=running", "--format",
            "{{.Node}} {{.CurrentState}}",
        )  # fmt: skip
        return sorted(line.split()[0] for line in listed.splitlines() if "Running" in line)

    assert len(docker("node", "ls", "-q").split()) == 3
    docker("service", "create", "--name", "web", "--replicas", "6", "-d", "nginx:1.10")
    wait_until(lambda: set(running_on()) == {"swarm-master", "swarm-node-1", "swarm-node-2"})
    assert swarmdeck_lab(directory, "kill", "swarm-node-2").returncode == 0
    wait_until(lambda: "swarm-node-2" not in running_on() and len(running_on()) == 6, timeout=40)
    states = docker("node", "ls", "--format", "{{.Hostname}} {{.Status}}")
    assert "swarm-node-2 Down" in states
    assert swarmdeck_lab(directory, "down").returncode == 0
    assert not lab._pids("swarm-master") and lab._prefix not in namespaces()
