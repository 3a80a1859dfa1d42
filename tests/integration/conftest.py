"""A served engine (``swarmdeck engine serve`` in a subprocess) and the real docker CLI."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket as sockets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.serve import serve_command

ROOT = Path(__file__).resolve().parents[2]


def require(binary: str) -> str:
    """The binary's path; without it the test skips, or fails when REQUIRE_DOCKER=1 (CI)."""
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} is not installed"
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(message + " (REQUIRE_DOCKER=1)")
        pytest.skip(message)
    return path


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Polls ``condition`` until it returns something true; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.2)


def docker_cli(host: str, *args: str, timeout: float = 60, check: bool = True) -> str:
    """The real docker CLI against ``host``: its output; with ``check``, a failure fails the
    test, without it the error text comes after the output."""
    result = subprocess.run(
        [require("docker"), *args],
        env={**os.environ, "DOCKER_HOST": host, "DOCKER_CLI_HINTS": "false"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        )
    return result.stdout + (result.stderr if not check else "")


class Engine:
    """A ``swarmdeck engine serve`` process and a docker CLI pointed at it."""

    def __init__(self, socket: Path, data_dir: Path, process: subprocess.Popen[bytes]) -> None:
        self.socket = socket
        self.data_dir = data_dir
        self.process = process
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{socket}", "DOCKER_CLI_HINTS": "false"}

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def docker(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        return docker_cli(self.url, *args, timeout=timeout, check=check)

    def docker_json(self, *args: str) -> Any:
        return json.loads(self.docker(*args))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def start_engine(tmp: Path, *extra: str) -> Engine:
    """An engine of three simulated nodes on addresses no other engine of the run uses (their
    mesh listens on them)."""
    socket = tmp / "engine.sock"
    data_dir = tmp / "data"
    if not any(arg.startswith("--node-addresses") for arg in extra):
        extra = (*extra, f"--node-addresses={unique_node_addresses()}")
    process = subprocess.Popen(
        serve_command(socket, data_dir, *extra),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "engine.log").open("wb"),
    )
    engine = Engine(socket, data_dir, process)
    wait_until(lambda: _answers(socket) or process.poll() is not None, 30, "the socket")
    if process.poll() is not None:
        raise AssertionError((tmp / "engine.log").read_text())
    return engine


def unique_node_addresses() -> str:
    """A prefix in 127/8 for the nodes of one engine: 127.X.Y, as no other of this run has."""
    while True:
        prefix = f"127.{random.randint(2, 254)}.{random.randint(1, 254)}"
        if prefix not in _USED_PREFIXES:
            _USED_PREFIXES.add(prefix)
            return prefix


_USED_PREFIXES: set[str] = set()


def _answers(socket: Path) -> bool:
    """Whether an engine listens on ``socket`` (a killed one leaves the file behind)."""
    with sockets.socket(sockets.AF_UNIX) as probe:
        try:
            probe.connect(str(socket))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One served engine (the DockerCon demo cluster) for a whole test module."""
    served = start_engine(tmp_path_factory.mktemp("engine"), "--seed", "5")
    yield served
    assert served.stop() == 0
