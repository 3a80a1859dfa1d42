"""Small things with a big effect: --theme is for one run; saved logs hold what is shown and go
where the user says (never the current folder); a closed terminal (SIGHUP) cleans up as q does;
the logs of a task that never started say so; the first screen hints at :services and ?."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import RichLog, Static

from console.app import SwarmdeckApp
from console.screens.logs import LogsScreen
from console.screens.overview import HINT
from engine.client import EngineClient
from tests.conftest import make_spec
from tests.console.conftest import Served, wait_for
from tests.console.test_actions import open_view

ROOT = Path(__file__).resolve().parents[2]


async def test_a_theme_given_on_the_command_line_is_for_that_run_only(
    engine: Served, config_home: Path
) -> None:
    saved = config_home / "swarmdeck" / "config.json"
    app = SwarmdeckApp(EngineClient(engine.url), "test", theme="swarmdeck-light")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "swarmdeck-light"
        assert not saved.exists()  # --theme is not a choice to remember
        app.theme = "swarmdeck-high-contrast"  # as the command palette sets it
        await pilot.pause()
    assert json.loads(saved.read_text()) == {"theme": "swarmdeck-high-contrast"}
    assert engine.app().theme == "swarmdeck-high-contrast"


async def test_saved_logs_hold_what_is_shown_in_the_folder_given(
    engine: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a filter, ctrl+s saves only the lines it keeps, into --save-dir; nothing goes to
    the current folder."""
    here = tmp_path / "checkout"
    here.mkdir()
    monkeypatch.chdir(here)
    folder = tmp_path / "saved"
    app = engine.app(save_dir=folder)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await wait_for(pilot, lambda: len(screen.entries) >= 4, 30)
        first = screen.entries[0][1]
        word = first.split()[-1]  # a word of the first line, kept by the filter
        await pilot.press("slash", *word, "enter", "ctrl+s")
        await wait_for(pilot, lambda: folder.exists() and list(folder.glob("*.log")))
    (saved,) = folder.glob("*.log")
    lines = saved.read_text().splitlines()
    assert lines and all(word.lower() in line.lower() for line in lines)
    assert len(lines) < len(screen.entries)
    assert list(here.iterdir()) == []


def test_closing_the_terminal_cleans_up_like_q(tmp_path: Path) -> None:
    """SIGHUP, as a closed terminal sends it: the console ends, the embedded cluster stops
    and its socket's folder is gone, as after q."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "TMPDIR": str(temp),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
    }
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "console"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
    )
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"3 nodes" not in seen:
            assert time.monotonic() < deadline, seen[-400:]
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                seen += os.read(master, 65536)
        assert [p.name for p in temp.iterdir() if p.name.startswith("swarmdeck-")]
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while process.poll() is None:  # keep reading: the console writes as it ends
            assert time.monotonic() < deadline, "the console did not end on SIGHUP"
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    assert [p.name for p in temp.iterdir() if p.name.startswith("swarmdeck-")] == []


async def test_the_logs_of_a_task_that_never_started_say_so(engine: Served) -> None:
    """A task no node can take stays pending: its logs view says it has not started, and
    why, instead of showing nothing."""
    engine.cluster.control.create_service(
        make_spec(name="nowhere", constraints=["node.labels.zone==nowhere"])
    )
    app = engine.app()
    async with app.run_test(size=(160, 36)) as pilot:
        await open_view(pilot, app, "services")
        table = app.screen.table  # type: ignore[attr-defined]
        table.move_cursor(row=[r.cells[0] for r in table._rows].index("nowhere"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "tasks")
        await wait_for(pilot, lambda: app.screen.table.row_count == 1)  # type: ignore[attr-defined]
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        log = app.screen.query_one(RichLog)

        def said() -> str:
            return " ".join(strip.text for strip in log.lines)

        await wait_for(pilot, lambda: "has not started yet: it is pending" in said(), 20)
        await wait_for(pilot, lambda: "no suitable node" in said(), 20)  # and why


async def test_the_first_screen_hints_at_services_and_help(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        hint = str(app.screen.query_one("#hint", Static).render())
        assert hint == HINT and ":services" in hint and "?" in hint
