"""The swarm view on a node daemon's swarm: the join tokens hidden until asked, a token
rotated, and a root rotation run to its end from the console."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from console.app import SwarmdeckApp
from console.render.swarm import HIDDEN
from console.screens.swarm import SwarmScreen
from engine.api.swarm import SwarmInitRequest
from engine.client import EngineClient
from engine.node.daemon import NodeDaemon
from engine.serve import served
from tests.console.conftest import wait_api, wait_for
from tests.console.test_actions import confirm
from tests.engine.node.test_swarm_port import free_port


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[str]:
    """The Engine API's URL of a node daemon made the manager of a new swarm."""
    daemon = NodeDaemon(tmp_path / "data", "swarm-master", seed=3)
    socket = tmp_path / "engine.sock"
    async with served(daemon, socket):
        await daemon.init_swarm(SwarmInitRequest(listen_addr=f"127.0.0.1:{free_port()}"))
        yield f"unix://{socket}"


def panel_text(app: SwarmdeckApp) -> str:
    screen = app.screen
    assert isinstance(screen, SwarmScreen)
    return str(screen.query_one("#swarm-panel").render())


async def test_tokens_shown_on_asking_and_rotations(manager: str) -> None:
    url = manager
    client = EngineClient(url)
    before = await client.swarm()
    assert before.join_tokens is not None
    app = SwarmdeckApp(EngineClient(url), "test swarm")
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.swarm is not None)
        await pilot.press("colon")
        await pilot.press(*"swarm", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SwarmScreen))
        await wait_for(pilot, lambda: "on this root   1/1 nodes" in panel_text(app))
        assert HIDDEN in panel_text(app)
        assert str(before.join_tokens.worker) not in panel_text(app)
        await pilot.press("t")
        await wait_for(pilot, lambda: str(before.join_tokens.worker) in panel_text(app))

        await pilot.press("w")
        assert "refused from now on" in await confirm(pilot, app)

        async def worker_token_rotated() -> bool:
            tokens = (await client.swarm()).join_tokens
            return tokens is not None and tokens.worker != before.join_tokens.worker

        await wait_api(pilot, worker_token_rotated)

        await pilot.press("R")
        assert "cross-signed" in await confirm(pilot, app)

        async def root_rotated() -> bool:
            swarm = await client.swarm()
            trust = (swarm.tls_info or {}).get("TrustRoot")
            return not swarm.root_rotation_in_progress and trust != before.tls_info["TrustRoot"]

        await wait_api(pilot, root_rotated)
        await wait_for(pilot, lambda: "on this root   1/1 nodes" in panel_text(app), 10)
    await client.close()
