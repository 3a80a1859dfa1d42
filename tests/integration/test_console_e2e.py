"""The console against a separately started ``swarmdeck engine serve``: what it does, the docker
CLI sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.app import SwarmdeckApp
from engine.client import EngineClient
from tests.console.test_actions import fill, open_view
from tests.integration.conftest import Engine
from tests.integration.test_docker_cli import converged


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))


async def test_scaling_from_the_console_is_seen_by_docker_service_ls(engine: Engine) -> None:
    engine.docker(
        "service", "create", "--detach", "--name", "console-web", "--replicas", "1", "nginx:1.10"
    )
    converged(engine, "console-web", 1)
    app = SwarmdeckApp(EngineClient(engine.url), engine.url)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        row = next(
            index
            for index, key in enumerate(app.screen.table.keys)  # type: ignore[attr-defined]
            if app.snapshot.service_by_id[key].spec.name == "console-web"
        )
        app.screen.table.move_cursor(row=row)  # type: ignore[attr-defined]
        await pilot.press("s")
        await fill(pilot, app, replicas="3")
        await pilot.pause(1.0)
    converged(engine, "console-web", 3)
    line = engine.docker(
        "service", "ls", "--filter", "name=console-web", "--format", "{{.Name}} {{.Replicas}}"
    )
    assert line.strip() == "console-web 3/3"
