"""The command palette's (ctrl+p) console entries: every view, and every action of the action
table (an action of the view shown runs on its selected row; another view's opens that view);
and Textual's own commands, with a screenshot that is saved in the current folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import partial

from textual.app import App, SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.actions import ACTIONS, EVERYWHERE, Action, sort_keys
from console.views import VIEWS

__all__ = ["ConsoleCommands", "system_commands"]


def system_commands(app: App[object], commands: Iterable[SystemCommand]) -> Iterable[SystemCommand]:
    """Textual's ``commands``, with a screenshot in the current folder for Textual's, which
    saves into a Downloads folder that may not be there."""
    for command in commands:
        if command.title != "Screenshot":
            yield command

    def screenshot() -> None:
        try:
            path = app.save_screenshot(path=os.getcwd())
        except OSError as error:
            app.notify(f"no screenshot: {error}", severity="error")
            return
        app.notify(f"screenshot saved to {path}")

    yield SystemCommand("Screenshot", "Save an SVG of the screen in the current folder", screenshot)


class ConsoleCommands(Provider):
    def _entries(self) -> list[tuple[str, Callable[[], object], str]]:
        """(text, what choosing it does, help) for each view and each action."""
        app, screen = self.app, self.screen
        read_only = bool(getattr(getattr(screen, "link", None), "read_only", False))
        shown = getattr(screen, "VIEW", "")
        entries: list[tuple[str, Callable[[], object], str]] = [
            (f"view {view.name}", partial(app.jump, view.name), view.help)  # type: ignore[attr-defined]
            for view in VIEWS
        ]
        for action in ACTIONS:
            if action.name == "back" or (read_only and action.mutates):
                continue
            if EVERYWHERE in action.views:
                entries.append((action.name, partial(app.run_action, action.name), action.help))
            elif shown in action.views:
                for text, call in _calls(action, shown, getattr(screen, "COLUMNS", ())):
                    entries.append((text, partial(screen.run_action, call), action.help))
            else:
                view = action.views[0]
                go = partial(app.jump, view)  # type: ignore[attr-defined]
                entries.append((f"{action.name}: in {view}", go, action.help))
        return entries

    async def discover(self) -> Hits:
        for text, run, help_text in self._entries():
            yield DiscoveryHit(text, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, run, help_text in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), run, help=help_text)


def _calls(action: Action, view: str, columns: tuple[str, ...]) -> list[tuple[str, str]]:
    """The palette's entries for ``action`` in ``view`` (a table of ``columns``): its text and
    the action it runs; one for each column it sorts, or each of its variants."""
    if action.per_column:
        keys = sort_keys(view, columns)
        return [
            (f"{action.name} by {column} (shift+{key.lower()})", f"{action.name}({index})")
            for index, (key, column) in enumerate(zip(keys, columns, strict=True))
            if key
        ]
    if action.variants:
        return [
            (f"{action.name} {argument} ({key})", f"{action.name}({argument})")
            for key, argument in action.variants
        ]
    return [(f"{action.name} ({action.key})", action.name)]
