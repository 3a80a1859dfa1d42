"""``swarmdeck screenshots --out DIR``: an SVG of every view of the demo cluster.

The pictures come from ``console.demo_data``, so they are the same every time.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from console.app import SwarmdeckApp
from console.demo_data import DemoData, demo_data
from console.screens.events import EventsScreen
from console.screens.logs import LogsScreen
from engine.client import EngineClient

__all__ = ["SIZES", "VIEWS", "demo_app", "main", "show_view"]

VIEWS = ("overview", "nodes", "services", "tasks", "logs", "metrics", "events", "describe")
SIZES = {"120x36": (120, 36), "80x24": (80, 24)}
THEMES = ("swarmdeck-dark", "swarmdeck-light", "swarmdeck-high-contrast")


def demo_app(theme: str = "swarmdeck-dark") -> SwarmdeckApp:
    """The app with nothing live: it shows only what ``show_view`` gives it."""
    client = EngineClient("unix:///nonexistent/swarmdeck-demo.sock")
    return SwarmdeckApp(client, "embedded demo cluster", theme=theme, live=False)


def show_view(app: SwarmdeckApp, view: str, data: DemoData) -> None:
    """Puts ``app`` on ``view`` with the demo data."""
    app.apply_snapshot(data.snapshot)  # with the usage of the polls before it
    web = next(s for s in data.snapshot.services if s.spec.name == "web")
    if view == "tasks":
        app.jump("services")
        app.open_tasks(service_id=web.id)
    elif view == "logs":
        app.jump("services")
        app.open_logs("services", web.id, "web")
        screen = app.screen_stack[-1]
        assert isinstance(screen, LogsScreen)
        screen.add_entries(data.logs)
    elif view == "describe":
        app.jump("services")
        app.open_describe(web)
    else:
        app.jump(view)


def settle_focus(app: SwarmdeckApp) -> None:
    """Focuses the view's main widget, so the picture never depends on when focus landed."""
    for widget in app.screen.query("#table, #log, #events, VerticalScroll"):
        widget.focus()
        return


async def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="swarmdeck-shots-") as workdir:
        data = await demo_data(Path(workdir))
    written = []
    for theme in THEMES:
        for view in VIEWS if theme == "swarmdeck-dark" else ("services", "nodes"):
            for size_name, size in SIZES.items():
                if theme != "swarmdeck-dark" and size_name != "120x36":
                    continue
                app = demo_app(theme)
                async with app.run_test(size=size) as pilot:
                    await pilot.pause()
                    show_view(app, view, data)
                    await pilot.pause(0.3)
                    settle_focus(app)
                    await pilot.pause(0.1)
                    if view == "events":
                        screen = app.screen
                        assert isinstance(screen, EventsScreen)
                        screen.add_events(data.events)
                        await pilot.pause(0.1)
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
