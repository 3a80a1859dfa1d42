"""The DockerCon walkthrough across processes: three ``swarmdeck engine serve`` daemons on
loopback, ``docker swarm init`` on one and ``docker swarm join`` on the others with the real
docker CLI; the workers' agents talk to the manager over mutual TLS.
"""

from __future__ import annotations

import json
import re
import signal
import socket as sockets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.serve import serve_command
from tests.integration.conftest import ROOT, Engine, _answers, wait_until

HOSTNAMES = ("swarm-master", "swarm-node-1", "swarm-node-2")


def start_node(tmp: Path, hostname: str) -> Engine:
    """One node's daemon, outside any swarm."""
    folder = tmp / hostname
    folder.mkdir()
    return serve_node(folder, hostname)


def serve_node(folder: Path, hostname: str, *extra: str) -> Engine:
    """The daemon of the node whose socket, data and log are in ``folder``."""
    socket = folder / "engine.sock"
    process = subprocess.Popen(
        serve_command(socket, folder / "data", "--hostname", hostname, *extra, nodes=None),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "engine.log").open("ab"),
    )
    wait_until(lambda: _answers(socket) or process.poll() is not None, 30, "the socket")
    assert process.poll() is None, (folder / "engine.log").read_text()
    return Engine(socket, folder / "data", process)


def free_port() -> int:
    with sockets.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[dict[str, Engine]]:
    started: dict[str, Engine] = {}
    try:
        for hostname in HOSTNAMES:
            started[hostname] = start_node(tmp_path, hostname)
        yield started
    finally:
        for engine in started.values():
            if engine.process.poll() is None:
                engine.process.send_signal(signal.SIGTERM)
        for engine in started.values():
            engine.process.wait(timeout=30)


def states(manager: Engine) -> dict[str, str]:
    listed = manager.docker("node", "ls", "--format", "{{.Hostname}} {{.Status}}")
    return dict(line.split() for line in listed.splitlines())


def placed(manager: Engine, service: str) -> dict[str, int]:
    """Running tasks of ``service`` per node."""
    listed = manager.docker(
        "service", "ps", service, "--filter", "desired-state=running", "--format",
        "{{.Node}} {{.CurrentState}}",
    )  # fmt: skip
    counts: dict[str, int] = {}
    for line in listed.splitlines():
        node, state = line.split()[:2]
        if state == "Running":
            counts[node] = counts.get(node, 0) + 1
    return counts


def test_docker_swarm_init_and_join_across_three_daemons(nodes: dict[str, Engine]) -> None:
    master, worker_1, worker_2 = (nodes[name] for name in HOSTNAMES)
    assert "Swarm: inactive" in master.docker("info")
    refused = master.docker("node", "ls", check=False)
    assert 'This node is not a swarm manager. Use "docker swarm init"' in refused

    listen = f"127.0.0.1:{free_port()}"
    initialised = master.docker(
        "swarm", "init", "--listen-addr", listen, "--dispatcher-heartbeat", "1s"
    )
    node_id = master.docker("info", "--format", "{{.Swarm.NodeID}}").strip()
    assert f"Swarm initialized: current node ({node_id}) is now a manager." in initialised
    token = master.docker("swarm", "join-token", "-q", "worker").strip()
    assert re.fullmatch(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}", token)
    assert f"docker swarm join --token {token} {listen}" in initialised

    for worker in (worker_1, worker_2):
        joined = worker.docker("swarm", "join", "--token", token, listen)
        assert "This node joined a swarm as a worker." in joined
        assert worker.docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip() == "active"
        refused = worker.docker("service", "ls", check=False)
        assert "Worker nodes can't be used to view or modify cluster state" in refused

    wait_until(lambda: states(master) == dict.fromkeys(HOSTNAMES, "Ready"), 20, "three Ready nodes")
    master.docker("service", "create", "--name", "web", "--replicas", "6", "-d", "nginx:1.10")
    wait_until(lambda: set(placed(master, "web")) == set(HOSTNAMES), 30, "tasks on every node")

    def listed() -> dict[str, int]:  # docker ps on each node: the containers it runs itself
        return {
            name: len(nodes[name].docker("ps", "-q", "--filter", "status=running").split())
            for name in HOSTNAMES
        }

    wait_until(lambda: listed() == placed(master, "web"), 20, "docker ps on each node")

    def logged_from() -> set[str]:  # the nodes whose tasks' lines the manager serves
        logs = master.docker("service", "logs", "--tail", "20", "web")
        return {line.split("|")[0].strip().rpartition("@")[2] for line in logs.splitlines()}

    wait_until(lambda: logged_from() == set(HOSTNAMES), 20, "logs of every node's tasks")
    swarm = json.loads(master.docker("info", "--format", "{{json .Swarm}}"))
    assert swarm["Nodes"] == 3 and swarm["Managers"] == 1

    worker_2.process.send_signal(signal.SIGKILL)
    worker_2.process.wait(timeout=10)
    wait_until(lambda: states(master)["swarm-node-2"] == "Down", 20, "swarm-node-2 down")
    wait_until(
        lambda: (
            placed(master, "web").get("swarm-node-2") is None
            and sum(placed(master, "web").values()) == 6
        ),
        30,
        "the killed node's tasks rescheduled",
    )

    assert "Node left the swarm." in worker_1.docker("swarm", "leave")
    assert "Swarm: inactive" in worker_1.docker("info")
    refused = master.docker("swarm", "leave", check=False)
    assert "Removing the last manager erases all current state of the swarm" in refused


def test_a_bad_token_is_refused_and_changes_nothing(nodes: dict[str, Engine]) -> None:
    master, worker = nodes["swarm-master"], nodes["swarm-node-1"]
    listen = f"127.0.0.1:{free_port()}"
    master.docker("swarm", "init", "--listen-addr", listen)
    token = master.docker("swarm", "join-token", "-q", "worker").strip()
    wrong = token[:-25] + "a" * 25
    refused = worker.docker("swarm", "join", "--token", wrong, listen, check=False)
    assert "A valid join token is necessary to join this cluster" in refused
    refused = worker.docker("swarm", "join", "--token", "SWMTKN-1-bad", listen, check=False)
    assert "invalid join token" in refused
    assert "Swarm: inactive" in worker.docker("info")
    assert list(states(master)) == ["swarm-master"]


def test_docker_swarm_ca_rotate_runs_to_completion(nodes: dict[str, Engine]) -> None:
    master, worker, late = (nodes[name] for name in HOSTNAMES)
    listen = f"127.0.0.1:{free_port()}"
    master.docker("swarm", "init", "--listen-addr", listen)
    old_token = master.docker("swarm", "join-token", "-q", "worker").strip()
    worker.docker("swarm", "join", "--token", old_token, listen)
    wait_until(lambda: states(master) == {"swarm-master": "Ready", "swarm-node-1": "Ready"}, 20)
    master.docker("service", "create", "--name", "web", "--replicas", "4", "-d", "nginx:1.10")
    wait_until(lambda: sum(placed(master, "web").values()) == 4, 30, "web running")
    before = set(master.docker("service", "ps", "-q", "web").split())
    old_root = master.docker("swarm", "ca").strip()

    rotated = master.docker("swarm", "ca", "--rotate", timeout=60)  # waits for every node
    new_root = master.docker("swarm", "ca").strip()
    assert new_root != old_root and new_root in rotated
    info = json.loads(master.docker("info", "--format", "{{json .Swarm.Cluster}}"))
    assert info["TLSInfo"]["TrustRoot"].strip() == new_root
    assert not info.get("RootRotationInProgress")
    for hostname in ("swarm-master", "swarm-node-1"):
        tls = json.loads(
            master.docker("node", "inspect", hostname, "--format", "{{json .Description.TLSInfo}}")
        )
        assert tls["TrustRoot"].strip() == new_root
    assert (worker.data_dir / "certificates" / "swarm-root-ca.crt").read_text().strip() == new_root

    new_token = master.docker("swarm", "join-token", "-q", "worker").strip()
    assert new_token[:60] != old_token[:60]  # the digest of the new root
    refused = late.docker("swarm", "join", "--token", old_token, listen, check=False)
    assert "remote CA does not match fingerprint" in refused
    assert "joined a swarm" in late.docker("swarm", "join", "--token", new_token, listen)
    wait_until(lambda: set(states(master).values()) == {"Ready"}, 20, "every node Ready")
    assert set(master.docker("service", "ps", "-q", "web").split()) == before  # none dropped
    assert sum(placed(master, "web").values()) == 4


def unlock(engine: Engine, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "swarm", "unlock"], input=key, env=engine.env, capture_output=True, text=True
    )


def test_autolock_through_the_docker_cli(tmp_path: Path) -> None:
    master = start_node(tmp_path, "swarm-master")
    try:
        listen = f"127.0.0.1:{free_port()}"
        initialised = master.docker("swarm", "init", "--autolock", "--listen-addr", listen)
        key = master.docker("swarm", "unlock-key", "-q").strip()
        assert re.fullmatch(r"SWMKEY-1-[A-Za-z0-9+/]{43}", key) and key in initialised
        assert master.stop() == 0
        master = serve_node(master.socket.parent, "swarm-master")
        assert "Swarm: locked" in master.docker("info")
        refused = master.docker("node", "ls", check=False)
        assert "Swarm is encrypted and needs to be unlocked before it can be used." in refused
        wrong = unlock(master, "SWMKEY-1-" + "A" * 43)
        assert "swarm could not be unlocked: invalid key provided" in wrong.stderr
        assert unlock(master, key).returncode == 0
        assert "swarm-master" in master.docker("node", "ls")
        rotated = master.docker("swarm", "unlock-key", "--rotate", "-q").strip()
        assert rotated != key and rotated == master.docker("swarm", "unlock-key", "-q").strip()
        assert "Swarm updated." in master.docker("swarm", "update", "--autolock=false")
        assert "no unlock key is set" in master.docker("swarm", "unlock-key", check=False)
    finally:
        if master.process.poll() is None:
            master.stop()
