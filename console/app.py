"""SwarmdeckApp: the console's screens, global keys, themes, and its one feed of snapshots."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from console.feed import Feed
from console.messages import ConnectionChanged, SnapshotReady
from console.model import Snapshot
from console.screens.base import ClusterScreen, typing_binding, typing_refused
from console.screens.command import CommandLine, resolve_view
from console.screens.describe import DescribeScreen
from console.screens.events import EventsScreen
from console.screens.help import HelpScreen, help_text
from console.screens.logs import LogsScreen
from console.screens.metrics import MetricsScreen
from console.screens.nodes import NodesScreen
from console.screens.overview import OverviewScreen
from console.screens.services import ServicesScreen
from console.screens.tasks import TasksScreen
from engine.api.objects import Node, Object, Service
from engine.client import ClientError, EngineClient, UsageReader
from themes import DEFAULT_THEME, load_themes

__all__ = ["SwarmdeckApp", "config_path"]


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "swarmdeck" / "config.json"


class SwarmdeckApp(App[None]):
    TITLE = "swarmdeck"
    BINDINGS: ClassVar[list[BindingType]] = [
        typing_binding("colon", "command_line", ":view"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]
    MUTATING = frozenset(
        {
            "drain",
            "pause",
            "activate",
            "promote",
            "demote",
            "labels",
            "scale",
            "image",
            "update_config",
            "rollback",
            "restart",
            "remove",
            "create",
        }
    )

    def __init__(
        self,
        client: EngineClient,
        target_label: str,
        read_only: bool = False,
        theme: str | None = None,
        live: bool = True,
        usage: UsageReader | None = None,
        serving: AbstractAsyncContextManager[object] | None = None,
    ) -> None:
        """``serving``: what makes ``client``'s endpoint answer (the embedded cluster), entered
        once the first frame is drawn and left when the console ends."""
        super().__init__()
        self.client = client
        self.feed = Feed(client, usage)
        self.target_label = target_label
        self.read_only = read_only
        self.snapshot = Snapshot()
        self.connection_error: str | None = None
        self.live = live  # False: nothing is fetched; snapshots come from apply_snapshot
        self._serving = serving
        self._served = contextlib.AsyncExitStack()
        self.starting = serving is not None  # the endpoint is still being started
        for loaded in load_themes():
            self.register_theme(loaded)
        self.theme = theme or self._remembered_theme() or DEFAULT_THEME

    def _remembered_theme(self) -> str | None:
        try:
            return str(json.loads(config_path().read_text())["theme"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def watch_theme(self, theme: str) -> None:
        path = config_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"theme": theme}))
        except OSError:
            pass  # an unwritable config dir only costs remembering the theme

    async def on_unmount(self) -> None:
        await self.feed.usage.close()
        await self.client.close()
        await self._served.aclose()

    def on_mount(self) -> None:
        self.push_screen(OverviewScreen())
        if self._serving is not None:
            self.call_after_refresh(self.serve)
        elif self.live:
            self.follow()

    def follow(self) -> None:
        self.poll_loop()
        self.follow_events()

    @work(exclusive=True, group="serve")
    async def serve(self) -> None:
        """Starts the endpoint, then follows it; it stops when the console ends."""
        assert self._serving is not None
        try:
            await self._served.enter_async_context(self._serving)
        except OSError as error:
            self.post_message(ConnectionChanged(f"the cluster did not start: {error}"))
            return
        self.starting = False
        self.follow()

    # The feed.

    @work(exclusive=True, group="poll")
    async def poll_loop(self) -> None:
        while True:
            try:
                self.post_message(SnapshotReady(await self.feed.snapshot()))
                if self.connection_error is not None:
                    self.post_message(ConnectionChanged(None))
            except ClientError as error:
                self.post_message(ConnectionChanged(error.message))
            await self.feed.wait()

    @work(exclusive=True, group="events")
    async def follow_events(self) -> None:
        while True:
            await self.feed.follow_events()
            await self.feed.wait()

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self.apply_snapshot(message.snapshot)

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        if (screen := self._shown()) is not None:
            screen.show(snapshot)

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        self.connection_error = message.error
        if (screen := self._shown()) is not None:
            screen.show_connection(message.error)

    def _shown(self) -> ClusterScreen | None:
        """The view on screen, once it is built (a view still being built shows the latest
        snapshot and connection state when it is first resumed); none while the console ends."""
        screen = self.screen_stack[-1] if self.screen_stack else None
        return screen if isinstance(screen, ClusterScreen) and screen.is_mounted else None

    # Acting on the cluster.

    def act(self, call: Callable[[EngineClient], Awaitable[Any]], done: str) -> None:
        """Runs ``call`` against the cluster, says how it went, and polls at once."""
        self._act(call, done)

    @work(group="actions")
    async def _act(self, call: Callable[[EngineClient], Awaitable[Any]], done: str) -> None:
        try:
            await call(self.client)
        except ClientError as error:
            self.notify(error.message, title="refused", severity="error", timeout=8)
            return
        self.notify(done)
        self.feed.poke()

    # Moving between views.

    def jump(self, view: str) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()
        screens = {
            "overview": OverviewScreen,
            "nodes": NodesScreen,
            "services": ServicesScreen,
            "tasks": TasksScreen,
            "metrics": MetricsScreen,
            "events": EventsScreen,
        }
        if view == "logs":
            self.switch_screen(LogsScreen("all", "", "every service"))
        elif view in screens:
            self.switch_screen(screens[view]())

    def open_tasks(self, service_id: str | None = None, node_id: str | None = None) -> None:
        self.push_screen(TasksScreen(service_id=service_id, node_id=node_id))

    def open_logs(self, kind: str, object_id: str, name: str) -> None:
        self.push_screen(LogsScreen(kind, object_id, name))

    def open_describe(self, obj: Object) -> None:
        if isinstance(obj, Service):
            name = obj.spec.name or obj.id
        elif isinstance(obj, Node):
            name = self.snapshot.hostname(obj.id)
        else:
            name = obj.id[:12]
        self.push_screen(DescribeScreen(obj, name))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not typing_refused(self, action)

    def action_command_line(self) -> None:
        def chosen(text: str | None) -> None:
            if not text:
                return
            view = resolve_view(text)
            if view == "quit":
                self.exit()
            elif view is None:
                self.notify(f"no view called {text.strip()!r}", severity="warning")
            else:
                self.jump(view)

        self.push_screen(CommandLine(), chosen)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_text(self.screen)))
