"""A served engine in the test's own event loop, and the console app pointed at it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.app import SwarmdeckApp
from engine.client import EngineClient
from engine.embedded import EmbeddedCluster
from engine.serve import served
from engine.stacks import deploy_stack, load_stack
from tests.conftest import make_spec


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keeps the remembered theme out of the real config directory."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keeps saved tables and logs out of the real data directory: they go here."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "swarmdeck"


class Served:
    def __init__(self, cluster: EmbeddedCluster, url: str) -> None:
        self.cluster = cluster
        self.url = url
        self.client = EngineClient(url)

    async def log_streams(self) -> int:
        """Log streams the engine is serving now, as its /metrics says."""
        metrics = await self.client.metrics() or ""
        found = re.search(r'^swarmdeck_api_streams_open\{kind="logs"\} (\d+)$', metrics, re.M)
        assert found is not None, "the engine's /metrics has no count of log streams"
        return int(found.group(1))

    def app(self, **options: object) -> SwarmdeckApp:
        return SwarmdeckApp(EngineClient(self.url), "test cluster", **options)  # type: ignore[arg-type]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Served]:
    """The demo cluster's three nodes with one service, web (2 replicas), served on a socket."""
    cluster = EmbeddedCluster(seed=2, heartbeat_epsilon=0)
    socket = tmp_path / "engine.sock"
    async with served(cluster, socket):
        cluster.control.create_service(make_spec(name="web", replicas=2, image="nginx:1.10"))
        here = Served(cluster, f"unix://{socket}")
        yield here
        await here.client.close()


SECRET = b"pa55-Wordy-7c1e"  # a secret's bytes: never in a screen, never in the model

APP = """
services:
  front:
    image: nginx:1.10
    networks: [web]
    ports: ["8088:80"]
    deploy: {replicas: 2}
  back:
    image: example/api:1
    networks: [web, data]
    secrets: [token]
    configs: [{source: settings, target: /etc/back.conf}]
  cache:
    image: redis:7
    networks: [data]
networks:
  web: {}
  data: {driver: overlay, labels: {tier: data}}
secrets:
  token: {file: ./token.txt}
configs:
  settings: {file: ./settings.conf}
"""


def app_files(folder: Path, text: str = APP) -> Path:
    (folder / "token.txt").write_bytes(SECRET)
    (folder / "settings.conf").write_text("workers = 4\n")
    path = folder / "docker-compose.yml"
    path.write_text(text)
    return path


@pytest.fixture
async def shop(engine: Served, tmp_path: Path) -> Served:
    """The engine, with the stack shop of ``APP`` deployed."""
    await deploy_stack(engine.client, load_stack(app_files(tmp_path), "shop"))
    return engine


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], object], timeout: float = 15
) -> None:
    """Lets the app run until ``condition()`` holds."""
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {condition}")


async def wait_api(pilot: Pilot[None], check: Callable[[], object], timeout: float = 15) -> None:
    """Lets the app run until the awaitable ``check()`` returns something true."""
    for _ in range(int(timeout / 0.1)):
        if await check():  # type: ignore[misc]
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting for {check}")
