"""The seed's demo through the real docker CLI: a published port answers on every node, and a
scaled service is served by each of its tasks in turn."""

from __future__ import annotations

import http.client
import re
import socket as sockets
import urllib.request
from pathlib import Path

from tests.integration.conftest import start_engine, wait_until


def free_port() -> int:
    with sockets.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


def get(address: str, port: int, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://{address}:{port}{path}", timeout=5) as answer:
        return str(answer.read().decode())


def served_by(page: str) -> str:
    match = re.search(r"Served by (\S+) on (\S+)\.", page)
    assert match, page
    return f"{match.group(1)}@{match.group(2)}"


def test_the_seeds_demo(tmp_path: Path) -> None:
    engine = start_engine(tmp_path)
    try:
        port = free_port()
        engine.docker(
            "service", "create", "--detach", "--replicas", "1", "--name", "nginx",
            "-p", f"{port}:80", "nginx:1.10",
        )  # fmt: skip
        nodes = engine.docker("node", "ls", "-q").split()
        addresses = [
            engine.docker("node", "inspect", node, "--format", "{{.Status.Addr}}").strip()
            for node in nodes
        ]
        assert len(set(addresses)) == 3
        wait_until(lambda: _answers(addresses[0], port), 30, "the page")
        for address in addresses:
            assert "Welcome to nginx!" in get(address, port)

        engine.docker("service", "scale", "--detach", "nginx=3")
        wait_until(
            lambda: len({served_by(get(addresses[0], port)) for _ in range(6)}) == 3,
            30,
            "three tasks answering",
        )
        answers = [served_by(get(addresses[0], port, f"/?demo={i}")) for i in range(12)]
        assert len(set(answers)) == 3
        assert all(answers[i] == answers[i % 3] for i in range(12))  # in turn

        logs = engine.docker("service", "logs", "--raw", "nginx")
        for i in range(12):
            assert f'"GET /?demo={i} HTTP/1.1" 200' in logs
        spread = mesh_connections(engine.socket)  # how the mesh spread them, in /metrics
        assert len(spread) == 3 and sum(spread.values()) >= 12
    finally:
        assert engine.stop() == 0


def mesh_connections(socket: Path) -> dict[str, int]:
    """Connections per task in the last minute, as /metrics tells them."""
    connection = UnixConnection(str(socket))
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    found = re.findall(
        r'swarmdeck_mesh_connections_last_minute\{[^}]*task_id="(\w+)"\} (\d+)', text
    )
    return {task: int(count) for task, count in found}


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self._path = path

    def connect(self) -> None:
        self.sock = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
        self.sock.connect(self._path)


def _answers(address: str, port: int) -> bool:
    try:
        return "Welcome to nginx!" in get(address, port)
    except OSError:
        return False
