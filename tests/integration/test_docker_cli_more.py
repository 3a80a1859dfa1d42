"""More of what the docker CLI asks: filters, tokens, ``docker ps``, metrics, raw log frames."""

from __future__ import annotations

import re
import time

import aiohttp

from tests.integration.conftest import Engine
from tests.integration.test_api_errors import call
from tests.integration.test_docker_cli import converged


def names(output: str) -> list[str]:
    return sorted(output.split())


def test_node_filters(engine: Engine) -> None:
    engine.docker("node", "update", "--label-add", "zone=west", "swarm-node-1")
    ls = ["node", "ls", "--format", "{{.Hostname}}"]
    assert names(engine.docker(*ls, "--filter", "role=worker")) == ["swarm-node-1", "swarm-node-2"]
    assert names(engine.docker(*ls, "--filter", "role=manager")) == ["swarm-master"]
    assert names(engine.docker(*ls, "--filter", "name=swarm-node")) == [
        "swarm-node-1",
        "swarm-node-2",
    ]
    assert names(engine.docker(*ls, "--filter", "node.label=zone=west")) == ["swarm-node-1"]
    assert names(engine.docker(*ls, "--filter", "membership=accepted")) == [
        "swarm-master",
        "swarm-node-1",
        "swarm-node-2",
    ]
    node_id = engine.docker("node", "inspect", "--format", "{{.ID}}", "swarm-node-2").strip()
    assert names(engine.docker(*ls, "--filter", f"id={node_id[:6]}")) == ["swarm-node-2"]
    out = engine.docker(*ls, "--filter", "role=overlord", check=False)
    assert "Invalid role filter value" in out


def test_service_filters_and_node_ps(engine: Engine) -> None:
    engine.docker(
        "service",
        "create",
        "--detach",
        "--name",
        "filtered-a",
        "--label",
        "team=a",
        "--replicas",
        "2",
        "nginx:1.10",
    )
    engine.docker(
        "service", "create", "--detach", "--name", "filtered-g", "--mode", "global", "busybox:1"
    )
    converged(engine, "filtered-a", 2)
    converged(engine, "filtered-g", 3)
    ls = ["service", "ls", "--format", "{{.Name}}"]
    assert "filtered-g" in names(engine.docker(*ls, "--filter", "mode=global"))
    assert "filtered-a" not in names(engine.docker(*ls, "--filter", "mode=global"))
    assert names(engine.docker(*ls, "--filter", "label=team=a")) == ["filtered-a"]
    on_node = engine.docker("node", "ps", "--format", "{{.Name}} {{.Node}}", "swarm-node-1")
    assert all(line.endswith(" swarm-node-1") for line in on_node.splitlines())
    assert any(line.startswith("filtered-g.") for line in on_node.splitlines())
    named = engine.docker(
        "service", "ps", "--format", "{{.Name}}", "--filter", "name=filtered-a.1", "filtered-a"
    )
    assert named.split() == ["filtered-a.1"]


def test_join_token_rotation(engine: Engine) -> None:
    before = engine.docker("swarm", "join-token", "-q", "worker").strip()
    assert re.fullmatch(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}", before)
    engine.docker("swarm", "join-token", "--rotate", "worker")
    after = engine.docker("swarm", "join-token", "-q", "worker").strip()
    assert after != before
    manager = engine.docker("swarm", "join-token", "-q", "manager").strip()
    assert manager not in (before, after)


def test_docker_ps_lists_the_managers_task_containers(engine: Engine) -> None:
    engine.docker(
        "service",
        "create",
        "--detach",
        "--name",
        "local-ps",
        "--constraint",
        "node.hostname==swarm-master",
        "nginx:1.10",
    )
    converged(engine, "local-ps", 1)
    rows = engine.docker("ps", "--format", "{{.Names}}|{{.Image}}|{{.Status}}").splitlines()
    mine = [row for row in rows if row.startswith("local-ps.1.")]
    assert len(mine) == 1
    name, image, status = mine[0].split("|")
    assert image == "nginx:1.10" and status.startswith("Up ")
    labels = engine.docker(
        "ps",
        "--filter",
        "label=com.docker.swarm.service.name=local-ps",
        "--format",
        '{{.Label "com.docker.swarm.task.name"}}',
    )
    assert labels.strip() == name


async def test_metrics_in_prometheus_text(engine: Engine) -> None:
    engine.docker(
        "service", "create", "--detach", "--name", "measured", "--replicas", "2", "nginx:1.10"
    )
    converged(engine, "measured", 2)
    status, text, headers = await call(engine, "GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert isinstance(text, str)
    cpu = [
        line
        for line in text.splitlines()
        if line.startswith("container_cpu_usage_seconds_total{")
        and 'container_label_com_docker_swarm_service_name="measured"' in line
    ]
    assert len(cpu) == 2
    assert all(re.search(r'node="swarm-[\w-]+"', line) for line in cpu)
    assert all(float(line.rsplit(" ", 1)[1]) >= 0 for line in cpu)
    assert re.search(
        r'^container_memory_usage_bytes\{.*service_name="measured".*\} \d+$', text, re.M
    )
    assert re.search(r'^swarm_manager_nodes\{state="ready"\} 3$', text, re.M)
    assert re.search(r'^machine_cpu_cores\{node="swarm-master",node_id="\w+"\} 2$', text, re.M)


async def test_logs_are_framed_and_honour_since(engine: Engine) -> None:
    engine.docker("service", "create", "--detach", "--name", "framed", "nginx:1.10")
    converged(engine, "framed", 1)
    time.sleep(5)

    async def raw(query: str) -> bytes:
        connector = aiohttp.UnixConnector(path=str(engine.socket))
        url = f"http://docker/v1.41/services/framed/logs?{query}"
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(url) as response,
        ):
            assert response.headers["Content-Type"] == "application/vnd.docker.raw-stream"
            return await response.read()

    body = await raw("stdout=1&stderr=1&details=1&timestamps=1")
    frames = []
    while body:
        stream, size = body[0], int.from_bytes(body[4:8], "big")
        assert stream in (1, 2) and body[1:4] == b"\0\0\0"
        frames.append(body[8 : 8 + size].decode())
        body = body[8 + size :]
    assert frames and all(frame.endswith("\n") for frame in frames)
    assert re.match(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z com\.docker\.swarm\.node\.id=\w+,"
        r"com\.docker\.swarm\.service\.id=\w+,com\.docker\.swarm\.task\.id=\w+ ",
        frames[-1],
    )
    recent = await raw(f"stdout=1&stderr=1&since={time.time() - 2.0}")
    everything = await raw("stdout=1&stderr=1")
    assert 0 < len(recent) < len(everything)


def test_events_filtered_by_node(engine: Engine) -> None:
    since = str(int(time.time()) - 1)
    engine.docker("node", "update", "--availability", "pause", "swarm-node-2")
    engine.docker("node", "update", "--availability", "active", "swarm-node-2")
    until = str(int(time.time()) + 1)
    time.sleep(1.2)
    out = engine.docker(
        "events", "--since", since, "--until", until, "--filter", "node=swarm-node-2"
    )
    lines = out.strip().splitlines()
    assert any("availability.new=pause, availability.old=active" in line for line in lines)
    assert all(" node update " in line and "name=swarm-node-2" in line for line in lines)
