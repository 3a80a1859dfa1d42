"""SwarmdeckApp: the console's views, global keys and themes; it forwards the feed's news to
the views and carries out what they ask (open a view, act, follow a stream)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import ClassVar

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import BindingType
from textual.screen import ModalScreen, Screen

from console import actions
from console.actions import EVERYWHERE, Request
from console.feed import (
    ConnectionChanged,
    EventsArrived,
    EventStream,
    Feed,
    LogLines,
    News,
    SnapshotReady,
    Stream,
)
from console.files import config_path
from console.messages import Fed
from console.model import Snapshot
from console.palette import ConsoleCommands, system_commands
from console.screens.base import ClusterScreen, Link, typing_refused
from console.screens.command import CommandLine
from console.screens.help import HelpScreen, help_text
from console.views import VIEWS, resolve_view
from engine.client import EngineClient, UsageReader
from themes import DEFAULT_THEME, load_themes

__all__ = ["SwarmdeckApp"]


HERE = Path(__file__).parent


class SwarmdeckApp(App[None]):
    TITLE = "swarmdeck"
    # Every view's TCSS, beside its screen, loaded once: a screen's own CSS_PATH would be
    # loaded when it is first shown, and restyle every screen there is then.
    CSS_PATH: ClassVar = [HERE / "app.tcss", *sorted((HERE / "screens").glob("*.tcss"))]
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(EVERYWHERE)
    MODES: ClassVar = {view.name: view.screen for view in VIEWS}
    COMMANDS: ClassVar = {*App.COMMANDS, ConsoleCommands}

    def __init__(
        self,
        client: EngineClient,
        target_label: str,
        read_only: bool = False,
        theme: str | None = None,
        usage: UsageReader | None = None,
        serving: AbstractAsyncContextManager[object] | None = None,
        feed: Feed | None = None,
        save_dir: Path | None = None,
    ) -> None:
        """``serving``: what makes ``client``'s endpoint answer (the embedded cluster), entered
        once the first frame is drawn and left when the console ends. ``theme``: this run's
        (``--theme``), not remembered; the one chosen in the palette is. ``save_dir``: where
        saved tables, events and logs go (default: the data folder, ``console.files``)."""
        super().__init__()
        self.client = client
        self.feed = feed or Feed(client, usage)
        self.link = Link(target_label, starting=serving is not None, read_only=read_only)
        self.latest: SnapshotReady | None = None
        self._serving = serving
        self._served = contextlib.AsyncExitStack()
        self._followers: dict[Stream, list[ClusterScreen]] = {}
        self._command: CommandLine | None = None  # the command line being typed into
        self._views_shown: list[str] = []  # the last two views reached by ``:``, newest last
        self.save_dir = save_dir
        for loaded in load_themes():
            self.register_theme(loaded)
        self._remembering = False  # the theme set here is not a choice to remember
        self.theme = theme or self._remembered_theme() or DEFAULT_THEME
        self._remembering = True

    def _remembered_theme(self) -> str | None:
        try:
            return str(json.loads(config_path().read_text())["theme"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def watch_theme(self, theme: str) -> None:
        """Remembers a theme chosen while the console runs (in the palette)."""
        if not self._remembering:
            return
        path = config_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"theme": theme}))
        except OSError:
            pass  # an unwritable config dir only costs remembering the theme

    def on_mount(self) -> None:
        self.jump("overview")
        if self._serving is not None:
            self.call_after_refresh(self.serve)
        else:
            self.follow()

    async def on_unmount(self) -> None:
        await self.feed.close()
        await self._served.aclose()

    @property
    def snapshot(self) -> Snapshot:
        """The latest snapshot (an empty one before the first)."""
        return self.latest.snapshot if self.latest is not None else Snapshot()

    @property
    def connection_error(self) -> str | None:
        return self.link.error

    @work(exclusive=True, group="serve")
    async def serve(self) -> None:
        """Starts the endpoint, then follows it; it stops when the console ends."""
        assert self._serving is not None
        try:
            await self._served.enter_async_context(self._serving)
        except OSError as error:
            self._set_link(starting=False, error=f"the cluster did not start: {error}")
            return
        self._set_link(starting=False)
        self.follow()

    # The feed's news, to the views.

    @work(exclusive=True, group="feed")
    async def follow(self) -> None:
        await self.feed.run(self._forward)

    def _forward(self, news: News) -> None:
        self.post_message(Fed(news))

    def on_fed(self, message: Fed) -> None:
        match message.news:
            case SnapshotReady() as ready:
                self.latest = ready
                for screen in self._views():
                    screen.take(ready)
            case ConnectionChanged(error=error):
                self._set_link(error=error)
            case LogLines() as lines:
                for screen in self._followers.get(lines.stream, ()):
                    screen.take_lines(lines)  # type: ignore[attr-defined]
            case EventsArrived() as arrived:
                for screen in self._followers.get(arrived.stream, ()):
                    screen.take_events(arrived)  # type: ignore[attr-defined]

    def _views(self) -> list[ClusterScreen]:
        return [s for s in self.screen_stack if isinstance(s, ClusterScreen)]

    def _set_link(self, **changes: object) -> None:
        self.link = dataclasses.replace(self.link, **changes)  # type: ignore[arg-type]
        for screen in self._views():
            screen.link = self.link

    def _deliver(self) -> None:
        """Gives the views now on the stack the latest news: they may have missed some."""
        for screen in self._views():
            screen.link = self.link
            if self.latest is not None and screen.snapshot is not self.latest.snapshot:
                screen.take(self.latest)

    # What the views ask.

    def on_cluster_screen_open(self, message: ClusterScreen.Open) -> None:
        self.push_screen(message.screen)
        self._deliver()

    def on_cluster_screen_follow(self, message: ClusterScreen.Follow) -> None:
        screens = self._followers.setdefault(message.stream, [])
        if message.follow:
            screens.append(message.view)
            self.feed.follow(message.stream)
            if isinstance(message.stream, EventStream):
                message.view.take_events(EventsArrived(message.stream, self.feed.past_events()))  # type: ignore[attr-defined]
        elif message.view in screens:
            screens.remove(message.view)
            self.feed.let_go(message.stream)

    def on_cluster_screen_act(self, message: ClusterScreen.Act) -> None:
        self._perform(message.requests)

    @work(group="actions")
    async def _perform(self, requests: tuple[Request, ...]) -> None:
        """Makes each change in turn; says which were made, and why any was not."""
        done = []
        for request in requests:
            refused = await actions.perform(self.client, request, self.link.read_only)
            if refused is not None:
                self.notify(refused, title="refused", severity="error", timeout=8)
            else:
                done.append(request.done)
        if done:
            self.notify("\n".join(done))
            self.feed.poke()

    # Moving between views.

    def jump(self, view: str) -> None:
        """Shows ``view`` as ``:`` reaches it: the view itself, not what was opened from it."""
        if not self._views_shown or self._views_shown[-1] != view:
            self._views_shown = [*self._views_shown[-1:], view]
        self.switch_mode(view)
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self._deliver()

    def action_last_view(self) -> None:
        """Back to the view reached by ``:`` before the one shown now (k9s's ``-``)."""
        if len(self._views_shown) < 2:
            self.notify("no view before this one yet: :name shows one")
            return
        self.jump(self._views_shown[0])

    def action_interrupt(self) -> None:
        self.exit()

    def pop_screen(self):  # type: ignore[no-untyped-def]
        done = super().pop_screen()
        self._deliver()
        return done

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The console's keys wait while keys go into an input, and under a dialog (but for
        those that work ``anywhere``)."""
        found = actions.action(action)
        if found is not None and not found.anywhere and isinstance(self.screen, ModalScreen):
            return False
        return not typing_refused(self, action)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        return system_commands(self, super().get_system_commands(screen))

    def action_help(self) -> None:
        screen = self.screen
        view = getattr(screen, "VIEW", "")
        columns = getattr(screen, "COLUMNS", ())
        text = help_text(view, screen.title or view, self.link.read_only, columns)
        self.push_screen(HelpScreen(text))

    def action_command_line(self) -> None:
        self._command = CommandLine()
        self.push_screen(self._command)

    async def on_event(self, event: events.Event) -> None:
        """Keys typed after ``:`` go to the command line here, in the order they come, so that
        a view is switched before the key after its enter is looked at."""
        typed = isinstance(event, events.Key | events.Paste) and not event.is_forwarded
        if self._command is None or not typed or not self.is_running:
            await super().on_event(event)
            return
        entered = self._command.take(event)  # type: ignore[arg-type]
        if entered is not None:  # enter or esc: the line is closed
            self._command = None
            self.pop_screen()
            if entered.strip():
                self._go(entered)

    def _go(self, text: str) -> None:
        view = resolve_view(text)
        if view == "quit":
            self.exit()
        elif view is None:
            self.notify(f"no view called {text.strip()!r}", severity="warning")
        else:
            self.jump(view)
