"""``swarmdeck screenshots --out DIR``: an SVG of every view of the demo cluster.

The console reads a recording of the demo cluster (``engine.serve.record_demo``) through its own
feed, so the pictures are the same every time.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import RichLog

from console import views
from console.app import SwarmdeckApp
from console.feed import Feed, LogStream
from console.render.endpoints import endpoint_lines
from console.screens.base import ClusterScreen
from console.screens.describe import DescribeScreen
from console.screens.logs import LogsScreen
from console.screens.tasks import TasksScreen
from engine.client import EngineClient
from engine.serve import DemoRecording, record_demo

__all__ = ["SIZES", "VIEWS", "demo_app", "main", "show_view"]

VIEWS = (*(view.name for view in views.VIEWS), "describe")  # tasks, logs, describe: of web
SIZES = {"120x36": (120, 36), "80x24": (80, 24)}
THEMES = ("swarmdeck-dark", "swarmdeck-light", "swarmdeck-high-contrast")
SETTLE = 10.0  # seconds a view may take to show the recording


def demo_app(recording: DemoRecording, theme: str = "swarmdeck-dark") -> SwarmdeckApp:
    """The console on a replay of ``recording``, polling as fast as it answers."""
    client = EngineClient(transport=recording.transport())
    feed = Feed(client, interval=0.0, clock=recording.clock())
    return SwarmdeckApp(client, "embedded demo cluster", theme=theme, feed=feed)


async def show_view(pilot: Pilot[None], view: str, recording: DemoRecording) -> None:
    """Once the app has read the whole recording, puts it on ``view``, with its data drawn."""
    app = pilot.app
    assert isinstance(app, SwarmdeckApp)
    last = recording.polls[-1].time
    await _until(pilot, lambda: app.snapshot.now == last)
    web = app.snapshot.service_by_id[recording.web_id]
    if view in ("tasks", "logs", "describe"):
        app.jump("services")
        await pilot.pause()
        assert isinstance(app.screen, ClusterScreen)
        opened: ClusterScreen = {
            "tasks": lambda: TasksScreen(service_id=web.id),
            "logs": lambda: LogsScreen(LogStream("services", web.id), "web"),
            "describe": lambda: DescribeScreen(web, "web", endpoint_lines(web, app.snapshot)),
        }[view]()
        app.screen.open(opened)
        if isinstance(opened, LogsScreen):
            await _until(pilot, lambda: len(opened.entries) > 0 and not opened._pending)
    else:
        app.jump(view)
        if view == "events":
            await _until(pilot, lambda: app.screen.is_mounted and _events_shown(app.screen))
    await pilot.pause(0.2)
    settle_focus(app)
    await pilot.pause(0.1)


def _events_shown(screen: Screen[object]) -> bool:
    return any(log.lines for log in screen.query(RichLog))


async def _until(pilot: Pilot[None], condition: object) -> None:
    for _ in range(int(SETTLE / 0.02)):
        if condition():  # type: ignore[operator]
            return
        await pilot.pause(0.02)
    raise TimeoutError(f"the demo did not show in {SETTLE} s")


def settle_focus(app: SwarmdeckApp) -> None:
    """Focuses the view's main widget, so the picture never depends on when focus landed."""
    for widget in app.screen.query("#table, #log, #events, VerticalScroll"):
        widget.focus()
        return


async def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="swarmdeck-shots-") as workdir:
        recording = await record_demo(Path(workdir))
    written = []
    for theme in THEMES:
        for view in VIEWS if theme == "swarmdeck-dark" else ("services", "nodes"):
            for size_name, size in SIZES.items():
                if theme != "swarmdeck-dark" and size_name != "120x36":
                    continue
                app = demo_app(recording, theme)
                async with app.run_test(size=size) as pilot:
                    await show_view(pilot, view, recording)
                    path = out / f"{view}-{theme.removeprefix('swarmdeck-')}-{size_name}.svg"
                    path.write_text(app.export_screenshot(title=f"swarmdeck {view}"))
                    written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="swarmdeck screenshots", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="folder for the SVGs")
    args = parser.parse_args(argv)
    for path in asyncio.run(write_all(args.out)):
        print(path)
    return 0
