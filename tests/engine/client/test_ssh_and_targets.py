"""Targets: resolution order, docker contexts, and ssh:// through dial-stdio."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from engine.client import EngineClient, TargetError, resolve_target, ssh_bridge
from engine.embedded import EmbeddedCluster
from engine.serve import served
from tests.integration.conftest import require


def test_resolution_order(tmp_path: Path) -> None:
    env = {"DOCKER_HOST": "unix:///from/env", "DOCKER_CONTEXT": "ctx"}
    assert resolve_target("tcp://h:2375", None, env, tmp_path).source == "--host"
    assert resolve_target(None, None, env, tmp_path).url == "unix:///from/env"
    assert resolve_target(None, None, {}, tmp_path).embedded
    with pytest.raises(TargetError, match="context 'ctx' not found"):
        resolve_target(None, None, {"DOCKER_CONTEXT": "ctx"}, tmp_path)
    with pytest.raises(TargetError, match="unsupported host"):
        resolve_target("ftp://nope", None, {}, tmp_path)


def test_a_docker_context_and_the_current_context(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"lab").hexdigest()
    meta = tmp_path / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": "lab", "Endpoints": {"docker": {"Host": "unix:///lab.sock"}}})
    )
    assert resolve_target(None, "lab", {}, tmp_path).url == "unix:///lab.sock"
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "lab"}))
    current = resolve_target(None, None, {}, tmp_path)
    assert current.url == "unix:///lab.sock" and current.source == "current context lab"


async def test_ssh_targets_go_through_dial_stdio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in ``ssh`` that runs ``docker system dial-stdio`` here, as sshd would remotely."""
    docker = require("docker")
    socket = tmp_path / "engine.sock"
    fake_ssh = tmp_path / "ssh"
    fake_ssh.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {tmp_path}/ssh.args\n'
        f"DOCKER_HOST=unix://{socket} exec {docker} system dial-stdio\n"
    )
    fake_ssh.chmod(fake_ssh.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("SWARMDECK_SSH", str(fake_ssh))
    async with (
        served(EmbeddedCluster(seed=1), socket),
        ssh_bridge("ssh://ops@manager.example:2222") as url,
    ):
        client = EngineClient(url)
        try:
            nodes = await client.nodes()
        finally:
            await client.close()
    assert len(nodes) == 3
    args = (tmp_path / "ssh.args").read_text().split()
    assert args == [
        "-o",
        "BatchMode=yes",
        "-p",
        "2222",
        "--",
        "ops@manager.example",
        "docker",
        "system",
        "dial-stdio",
    ]
