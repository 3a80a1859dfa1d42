"""The action table: every action has a key, a help line and a palette entry; read-only leaves
none that changes the cluster; the palette finds actions and views."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette

from console import actions
from console.actions import ACTIONS, CHANGES, EVERYWHERE
from console.app import SwarmdeckApp
from console.palette import ConsoleCommands
from console.screens.base import ClusterScreen
from console.screens.dialogs import FormDialog
from console.screens.events import EventsScreen
from console.screens.help import help_text
from console.screens.logs import LogsScreen
from console.screens.metrics import MetricsScreen
from console.screens.networks import NetworksScreen
from console.screens.nodes import NodesScreen
from console.screens.resource import ResourceScreen
from console.screens.secrets import ConfigsScreen, SecretsScreen
from console.screens.services import ServicesScreen
from console.screens.stacks import StacksScreen
from console.screens.swarm import SwarmScreen
from console.screens.tasks import TasksScreen
from console.views import VIEWS
from tests.console.conftest import Served, wait_for
from tests.console.test_actions import open_view

HANDLERS = {
    "overview": [ClusterScreen],
    "nodes": [NodesScreen],
    "services": [ServicesScreen],
    "tasks": [TasksScreen],
    "metrics": [MetricsScreen, ResourceScreen],
    "logs": [LogsScreen],
    "events": [EventsScreen],
    "describe": [ClusterScreen],
    "swarm": [SwarmScreen],
    "stacks": [StacksScreen],
    "networks": [NetworksScreen],
    "secrets": [SecretsScreen],
    "configs": [ConfigsScreen],
}


def test_every_change_is_a_mutating_action_and_every_mutating_action_has_a_change() -> None:
    assert {a.name for a in ACTIONS if a.mutates} == set(CHANGES)


COLUMNS = {"nodes": NodesScreen.COLUMNS, "services": ServicesScreen.COLUMNS}
COLUMNS |= {"tasks": TasksScreen.COLUMNS, "metrics": MetricsScreen.COLUMNS}
COLUMNS |= {"stacks": StacksScreen.COLUMNS, "networks": NetworksScreen.COLUMNS}
COLUMNS |= {"secrets": SecretsScreen.COLUMNS, "configs": ConfigsScreen.COLUMNS}


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_every_action_has_a_binding_a_help_line_and_a_handler(action: actions.Action) -> None:
    for view in action.views:
        made = {(b.key, b.action) for b in actions.bindings(view, COLUMNS.get(view, ()))}
        if action.per_column:
            keys = actions.sort_keys(view, COLUMNS[view])
            wanted = {(key, f"sort({index})") for index, key in enumerate(keys) if key}
            assert wanted and wanted <= made
        elif action.variants:
            assert {(key, f"{action.name}({arg})") for key, arg in action.variants} <= made
        else:
            assert (action.key, action.name) in made
        assert action.help in " ".join(help_text(view, view, read_only=False).split())
    views = action.views if EVERYWHERE not in action.views else ()
    handlers = [SwarmdeckApp] if not views else [h for view in views for h in HANDLERS[view]]
    for handler in handlers:
        assert hasattr(handler, f"action_{action.name}"), (handler, action.name)


@pytest.mark.parametrize("view", actions.VIEWS)
def test_read_only_help_lists_no_action_that_changes_the_cluster(view: str) -> None:
    text = help_text(view, view, read_only=True)
    for action in ACTIONS:
        if action.mutates and view in action.views:
            assert action.help not in text


async def test_the_palette_finds_actions_and_views(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        for query, expected in (
            ("scale", "scale (s)"),
            ("drain", "drain: in nodes"),
            ("nodes", "view nodes"),
        ):
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press(*query)
            palette = app.screen

            def listed(palette=palette, expected=expected) -> bool:
                options = palette.query_one("CommandList")
                return any(expected in str(option.prompt) for option in options._options)  # type: ignore[attr-defined]

            await wait_for(pilot, listed)
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette))


async def test_the_palette_runs_an_action_of_the_view_shown(engine: Served) -> None:
    """Choosing ``scale`` in the palette on the services view opens the scale form."""
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"scale")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog))


async def test_the_palettes_screenshot_is_saved_in_the_current_folder(
    engine: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        (screenshot,) = [c for c in app.get_system_commands(app.screen) if c.title == "Screenshot"]
        screenshot.callback()
        await wait_for(pilot, lambda: list(tmp_path.glob("*.svg")))
    (saved,) = tmp_path.glob("*.svg")
    assert "services" in saved.read_text()


async def test_every_action_and_view_has_a_palette_entry(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        entries = [text for text, _, _ in ConsoleCommands(app.screen)._entries()]
    for action in ACTIONS:
        if action.name != "back":  # esc is not a command
            assert any(text.split(" ")[0].rstrip(":") == action.name for text in entries), action
    for view in VIEWS:
        assert f"view {view.name}" in entries
