"""Docker's error answers and the engine's lifecycle as a daemon."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import aiohttp

from tests.integration.conftest import Engine, serve_command, start_engine


async def call(
    engine: Engine, method: str, path: str, body: object = None, raw: bytes | None = None
) -> tuple[int, dict[str, object] | list[object] | str, dict[str, str]]:
    connector = aiohttp.UnixConnector(path=str(engine.socket))
    async with aiohttp.ClientSession(connector=connector) as session:
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        headers = {"Content-Type": "application/json"} if body is not None else {}  # as docker
        async with session.request(
            method, f"http://docker{path}", data=data, headers=headers
        ) as response:
            text = await response.text()
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = text
            return response.status, parsed, dict(response.headers)


SPEC = {
    "Name": "errs",
    "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1.10"}},
    "Mode": {"Replicated": {"Replicas": 1}},
}


async def test_ping_headers(engine: Engine) -> None:
    for method in ("GET", "HEAD"):
        status, _, headers = await call(engine, method, "/_ping")
        assert status == 200
        assert headers["Api-Version"] == "1.41"
        assert headers["Swarm"] == "active/manager"
        assert headers["Ostype"] == "linux"
        assert headers["Docker-Experimental"] == "false"
        assert headers["Server"] == "Docker/20.10.24 (linux)"
        assert headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert (await call(engine, "GET", "/_ping"))[1] == "OK"


async def test_versions(engine: Engine) -> None:
    assert (await call(engine, "GET", "/v1.41/version"))[1]["ApiVersion"] == "1.41"  # type: ignore[index]
    assert (await call(engine, "GET", "/v1.40/nodes"))[0] == 200
    status, body, _ = await call(engine, "GET", "/v1.43/nodes")
    assert (status, body) == (
        400,
        {"message": "client version 1.43 is too new. Maximum supported API version is 1.41"},
    )


async def test_the_errors_docker_answers(engine: Engine) -> None:
    status, body, _ = await call(engine, "GET", "/services/nope")
    assert (status, body) == (404, {"message": "service nope not found"})
    status, body, _ = await call(engine, "POST", "/services/create", SPEC)
    assert status == 201 and re.fullmatch(r"[0-9a-z]{25}", body["ID"])  # type: ignore[index]
    status, body, _ = await call(engine, "POST", "/services/create", SPEC)
    assert status == 409
    assert body == {
        "message": "rpc error: code = AlreadyExists desc = name conflicts with an existing "
        "object: service errs already exists"
    }
    status, service, _ = await call(engine, "GET", "/services/errs")
    version = service["Version"]["Index"]  # type: ignore[index]
    status, _, _ = await call(
        engine, "POST", f"/services/errs/update?version={version}", {**SPEC, "Labels": {"a": "b"}}
    )
    assert status == 200
    status, body, _ = await call(engine, "POST", f"/services/errs/update?version={version}", SPEC)
    assert (status, body) == (
        500,
        {"message": "rpc error: code = Unknown desc = update out of sequence"},
    )
    bad = {**SPEC, "Name": "bad", "TaskTemplate": {"ContainerSpec": {}}}
    status, body, _ = await call(engine, "POST", "/services/create", bad)
    assert (status, body) == (
        400,
        {
            "message": "rpc error: code = InvalidArgument desc = ContainerSpec: image reference "
            "must be provided"
        },
    )
    status, body, _ = await call(engine, "GET", "/no/such/route")
    assert (status, body) == (404, {"message": "page not found"})


def test_sigterm_stops_cleanly_and_a_restart_brings_the_cluster_back(tmp_path: Path) -> None:
    first = start_engine(tmp_path, "--seed", "9")
    first.docker("service", "create", "--detach", "--name", "kept", "--replicas", "2", "nginx:1.10")
    nodes = first.docker("node", "ls", "-q").split()
    services = first.docker("service", "ls", "-q").split()
    assert first.stop() == 0
    assert not first.socket.exists()

    again = start_engine(tmp_path, "--seed", "9")
    try:
        assert again.docker("node", "ls", "-q").split() == nodes
        assert again.docker("service", "ls", "-q").split() == services
        spec = again.docker("service", "inspect", "--format", "{{.Spec.Name}}", "kept")
        assert spec.strip() == "kept"
    finally:
        assert again.stop() == 0


def test_serve_refuses_a_path_that_is_not_a_socket(tmp_path: Path) -> None:
    blocker = tmp_path / "engine.sock"
    blocker.write_text("not a socket")
    result = subprocess.run(
        serve_command(blocker, tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "exists and is not a socket" in result.stderr
    assert blocker.read_text() == "not a socket"
