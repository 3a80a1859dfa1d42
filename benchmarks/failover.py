"""Failover: a node of a three-node cluster dies; how long until its task runs elsewhere.

On a lab made for the run (``swarmdeck lab``: three Docker Engines on this host, in network
namespaces), with default timings (5 s heartbeats), in the same run: the real swarm first, then
our engine with the docker executor on the same three engines. Each run starts three replicas
(one per node), kills ``swarm-node-1`` (its dockerd, containerd and containers die at once),
and times from the kill to three tasks running on the other nodes. Linux, as root.

    python benchmarks/failover.py [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors

from engine.lab import IMAGES, Lab
from engine.serve import serve_command

ROOT = Path(__file__).resolve().parents[1]
VICTIM = "swarm-node-1"
TIMEOUT = 120.0


def wait(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def running_elsewhere(client: docker.DockerClient, victim_id: str) -> int:
    tasks = client.api.tasks(filters={"service": "web", "desired-state": "running"})
    return sum(
        1 for t in tasks if t["Status"]["State"] == "running" and t.get("NodeID") != victim_id
    )


def failover(lab: Lab, client: docker.DockerClient) -> float:
    """One run: three replicas, the victim killed, seconds until three run elsewhere."""
    victim_id = next(
        str(n.id) for n in client.nodes.list() if n.attrs["Description"]["Hostname"] == VICTIM
    )
    client.api.create_service(
        docker.types.TaskTemplate(docker.types.ContainerSpec(IMAGES[0])),
        name="web",
        mode=docker.types.ServiceMode("replicated", replicas=3),
    )
    try:
        wait(lambda: running_elsewhere(client, "") == 3, "three running tasks")
        wait(lambda: running_elsewhere(client, victim_id) == 2, "a task on the victim")
        killed = time.monotonic()
        lab.kill(VICTIM)
        wait(lambda: running_elsewhere(client, victim_id) == 3, "the replacement")
        return time.monotonic() - killed
    finally:
        client.api.remove_service("web")
        lab.start(VICTIM)
        wait(
            lambda: all(n.attrs["Status"]["State"] == "ready" for n in client.nodes.list()),
            "every node ready again",
        )
        for node in lab.nodes:
            with contextlib.closing(lab.client(node.name)) as engine:
                wait(functools.partial(clean, engine), f"no containers left on {node.name}")


def clean(engine: docker.DockerClient) -> bool:
    """Removes what containers are left (their cluster may be removing them too)."""
    for container in engine.containers.list(all=True):
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)
    return not engine.containers.list(all=True)


def our_engine(lab: Lab, workdir: Path) -> subprocess.Popen[bytes]:
    socket = workdir / "engine.sock"
    nodes = [f"--docker-node={node.name}={node.url}" for node in lab.nodes]
    process = subprocess.Popen(
        serve_command(socket, workdir / "data", *nodes),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "engine.log").open("wb"),
    )  # fmt: skip
    wait(lambda: socket.exists(), "our engine's socket", 30)
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("failover: needs root (it makes a lab of real Docker Engines)")
    with tempfile.TemporaryDirectory(prefix="swarmdeck-failover-") as temp:
        workdir = Path(temp)
        lab = Lab(workdir / "lab")
        lab.up(3)
        try:
            swarm = lab.client()
            real = [failover(lab, swarm) for _ in range(args.runs)]
            swarm.close()
            print("# failover_real_swarm_s runs: " + ", ".join(f"{t:.1f}" for t in real))
            engine = our_engine(lab, workdir)
            try:
                ours_client = docker.DockerClient(base_url=f"unix://{workdir}/engine.sock")
                ours = [failover(lab, ours_client) for _ in range(args.runs)]
                ours_client.close()
            finally:
                engine.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    engine.wait(30)
            print("# failover_swarmdeck_s runs: " + ", ".join(f"{t:.1f}" for t in ours))
            print(f"BENCH failover_real_swarm_s {statistics.median(real):.1f}")
            print(f"BENCH failover_swarmdeck_s {statistics.median(ours):.1f}")
        finally:
            lab.down()


if __name__ == "__main__":
    main()
