"""A node daemon with the docker executor, joined to a manager daemon over mutual TLS: its
tasks are real containers on a lab node's Docker Engine, named and labelled by their service,
and their logs come through the manager."""

from __future__ import annotations

from pathlib import Path

from engine.agent.exec.docker import LABELS
from tests.docker.conftest import IMAGE, Swarm, remove_ours, wait_until
from tests.integration.test_swarm_join import free_port, serve_node


def test_a_worker_daemon_runs_real_containers_named_by_their_service(
    swarm: Swarm, tmp_path: Path
) -> None:
    node = swarm.lab.node("swarm-node-1")
    (tmp_path / "manager").mkdir()
    (tmp_path / "worker").mkdir()
    manager = serve_node(tmp_path / "manager", "manager")
    worker = serve_node(
        tmp_path / "worker", "worker", "--executor", "docker", "--docker-host", node.url
    )
    try:
        listen = f"127.0.0.1:{free_port()}"
        manager.docker("swarm", "init", "--listen-addr", listen)
        token = manager.docker("swarm", "join-token", "-q", "worker").strip()
        worker.docker("swarm", "join", "--token", token, listen)
        manager.docker("node", "update", "--availability", "drain", "manager")
        manager.docker("service", "create", "-d", "--name", "web", "--replicas", "2", IMAGE)

        def names() -> list[str]:
            label = f"label={LABELS['task']}"
            listed = swarm.docker("ps", "--filter", label, "--format", "{{.Names}}", node=node.name)
            return sorted(listed.split())

        wait_until(lambda: len(names()) == 2, 60, "two containers on the worker's engine")
        assert all(name.startswith(("web.1.", "web.2.")) for name in names())
        wait_until(
            lambda: "@worker" in manager.docker("service", "logs", "--tail", "5", "web"),
            30,
            "the containers' lines through the manager",
        )
        manager.docker("service", "rm", "web")
        wait_until(lambda: not names(), 60, "the containers removed with the service")
    finally:
        for engine in (worker, manager):
            engine.stop()
        remove_ours(swarm, node.name)
