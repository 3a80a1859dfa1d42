"""Console conventions: views by name, filters, help, themes remembered, a lost connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

from msgspec.structs import replace
from textual import events
from textual.widgets import Input, Static

from console.app import SwarmdeckApp
from console.feed import ConnectionChanged, SnapshotReady
from console.messages import Fed
from console.model import Snapshot, changes_between
from console.screens.dialogs import ConfirmDialog, FormDialog
from console.screens.help import HelpScreen
from console.widgets.keybar import KeyBar
from engine.api.objects import Node
from engine.client import EngineClient
from engine.embedded import EmbeddedCluster
from engine.serve import served
from tests.conftest import make_spec
from tests.console.conftest import Served, wait_api, wait_for
from tests.console.test_actions import open_view, service


async def test_colon_jumps_to_every_view(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.nodes)
        for view in ("nodes", "services", "tasks", "metrics", "events", "overview"):
            await pilot.press("colon", *view, "enter")
            await wait_for(pilot, lambda v=view: getattr(app.screen, "VIEW", "") == v)
        await pilot.press("colon", *"nonsense", "enter")
        await wait_for(pilot, lambda: any("no view" in str(n.message) for n in app._notifications))


async def test_escape_goes_back_to_where_a_view_was_opened_from(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("escape")  # a view reached by ':' has nothing to go back to
        await pilot.pause(0.2)
        assert getattr(app.screen, "VIEW", "") == "services"
        await pilot.press("enter")  # the service's tasks
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "tasks")
        await wait_for(pilot, lambda: app.screen.table.row_count > 0)  # type: ignore[attr-defined]
        await pilot.press("d")  # a task, described
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "describe")
        assert "ServiceID" in str(app.screen.query_one("#describe").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "tasks")
        await pilot.press("escape")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "services")
        await pilot.press("colon", *"nodes", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "nodes")


async def test_slash_filters_the_view(engine: Served) -> None:
    engine.cluster.control.create_service(make_spec(name="other"))
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await wait_for(pilot, lambda: app.screen.table.row_count == 2)  # type: ignore[attr-defined]
        await pilot.press("slash", *"oth")
        await wait_for(pilot, lambda: app.screen.table.row_count == 1)  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.table.row_count == 2)  # type: ignore[attr-defined]


async def test_question_mark_lists_the_keys(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one(Static).render())
        for key, what in (("s", "Scale"), ("ctrl+l", "Rollback"), ("ctrl+d", "Remove")):
            assert f"{key:<10} {what}" in text
        assert "jump to a view" in text


async def test_a_chosen_theme_is_remembered(engine: Served, config_home: Path) -> None:
    app = engine.app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = "swarmdeck-high-contrast"
        await pilot.pause()
    saved = json.loads((config_home / "swarmdeck" / "config.json").read_text())
    assert saved == {"theme": "swarmdeck-high-contrast"}
    again = engine.app()
    assert again.theme == "swarmdeck-high-contrast"


async def test_a_lost_connection_shows_a_banner_and_reconnects(tmp_path: Path) -> None:
    socket = tmp_path / "engine.sock"
    app = SwarmdeckApp(EngineClient(f"unix://{socket}"), "test")
    app.feed.interval = 0.2
    async with app.run_test(size=(120, 36)) as pilot:
        # Nothing answers yet: a clear banner, no traceback.
        await wait_for(pilot, lambda: app.connection_error is not None)
        banner = app.screen.query_one("#banner", Static)
        assert not banner.has_class("-hidden")
        assert "connection lost" in str(banner.render())
        async with served(EmbeddedCluster(seed=3), socket):
            await wait_for(pilot, lambda: app.connection_error is None and app.snapshot.nodes)
            assert banner.has_class("-hidden")
        # The engine went away again.
        await wait_for(pilot, lambda: app.connection_error is not None)
        assert not banner.has_class("-hidden")


async def test_the_embedded_cluster_starts_after_the_first_frame_and_stops_with_the_console(
    tmp_path: Path,
) -> None:
    """The first frame says the cluster is starting; the cluster's nodes follow once it
    answers; quitting stops it. A cluster that cannot start leaves a banner, not a traceback."""
    socket = tmp_path / "engine.sock"
    release = asyncio.Event()
    stopped = asyncio.Event()

    @contextlib.asynccontextmanager
    async def cluster() -> AsyncIterator[None]:
        await release.wait()
        async with served(EmbeddedCluster(seed=4), socket):
            yield
        stopped.set()

    app = SwarmdeckApp(EngineClient(f"unix://{socket}"), "embedded", serving=cluster())
    async with app.run_test(size=(120, 36)) as pilot:
        header = app.screen.query_one("#header", Static)
        await wait_for(pilot, lambda: "starting…" in str(header.render()))
        assert app.connection_error is None  # nothing was asked of it before it started
        release.set()
        await wait_for(pilot, lambda: "3 nodes" in str(header.render()))
        assert not stopped.is_set()
    assert stopped.is_set() and not socket.exists()

    @contextlib.asynccontextmanager
    async def failing() -> AsyncIterator[None]:
        raise OSError(98, "Address already in use")
        yield

    app = SwarmdeckApp(EngineClient(f"unix://{socket}"), "embedded", serving=failing())
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.connection_error is not None)
        banner = str(app.screen.query_one("#banner", Static).render())
        assert "the cluster did not start" in banner and "Address already in use" in banner


def burst(app: SwarmdeckApp, *keys: str) -> None:
    """Sends ``keys`` in one go, as a terminal delivers keys typed while the console is busy:
    all of them arrive before the first one is handled."""
    for key in keys:
        event = events.Key(key, {"colon": ":", "slash": "/", "enter": "\r"}.get(key, key))
        event.set_sender(app)
        assert app._driver is not None
        app._driver.send_message(event)


async def test_keys_typed_in_one_go_after_colon_slash_or_a_form_key_go_where_they_belong(
    engine: Served,
) -> None:
    """``:nodes``+enter, ``/web``+enter, ``i``, ``nginx:1.11``+enter (set image) and ``s``,
    ``5``+enter (scale) typed faster than the console handles them land in the command line,
    the filter and the forms; and ``:``, ``/`` and ``s`` typed into an input are text there,
    not keys of the view."""
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.services and app.snapshot.nodes)
        burst(app, "colon", *"nodes", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "nodes")

        burst(app, "colon", *"svc", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "services")
        burst(app, "slash", *"we:s/", "enter")  # perhaps before the view is built

        def typed() -> bool:
            fields = app.screen.query("#filter")
            field = fields.first(Input) if fields else None
            return field is not None and field.value == "we:s/" and not field.has_focus

        await wait_for(pilot, typed)
        assert app.screen.table.row_count == 0  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.table.row_count == 1)  # type: ignore[attr-defined]

        burst(app, "i", *"nginx:1.11", "enter")  # the colon is part of the image

        async def updated() -> bool:
            found = await service(engine)
            return found.spec.task_template.container_spec.image == "nginx:1.11"  # type: ignore[no-any-return]

        await wait_api(pilot, updated)
        burst(app, "s", "5", "enter")

        async def scaled() -> bool:
            found = await service(engine)
            return found.spec.mode.replicated.replicas == 5  # type: ignore[no-any-return]

        await wait_api(pilot, scaled)
        assert getattr(app.screen, "VIEW", "") == "services"  # enter went to the form, not the view


async def test_news_for_a_view_still_being_built_is_shown_once_it_is(tmp_path: Path) -> None:
    """A snapshot or a lost connection that arrives while a view is being built (the first
    poll of a console whose endpoint refuses at once) is not lost and raises nothing."""

    @contextlib.asynccontextmanager
    async def never() -> AsyncIterator[None]:  # the feed does not run: news comes from here
        await asyncio.Event().wait()
        yield

    app = SwarmdeckApp(EngineClient(f"unix://{tmp_path}/none.sock"), "test", serving=never())
    async with app.run_test(size=(120, 36)) as pilot:
        app.jump("nodes")  # built once this test lets the app run
        screen = app.screen
        node = Node(id="n1")
        app.post_message(Fed(ConnectionChanged("refused")))
        app.post_message(
            Fed(
                SnapshotReady(
                    Snapshot(nodes=(node,)), changes_between(None, Snapshot(nodes=(node,)))
                )
            )
        )
        await wait_for(pilot, lambda: screen.is_mounted and screen.table.row_count == 1)  # type: ignore[attr-defined]
        banner = screen.query_one("#banner", Static)
        assert "refused" in str(banner.render())


async def test_views_typed_in_a_burst_end_on_the_last_one(engine: Served) -> None:
    """``:nodes⏎:services⏎`` in one go (a paste, a macro, a laggy link), and seven views in a
    row, end on the last view named, with no error; ``:services⏎s`` opens the scale form."""
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.services and app.snapshot.nodes)
        burst(app, "colon", *"nodes", "enter", "colon", *"services", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "services")
        views = ("tasks", "events", "services", "metrics", "logs", "overview", "nodes")
        burst(app, *[key for view in views for key in ("colon", *view, "enter")])
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "nodes")
        await pilot.pause(0.3)
        assert getattr(app.screen, "VIEW", "") == "nodes" and len(app.screen_stack) == 1
        assert not any("no view" in str(n.message) for n in app._notifications)
        burst(app, "colon", *"overview", "enter", "colon", *"services", "enter", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog))
        assert app.return_code in (None, 0)


async def test_logs_views_opened_and_closed_leave_no_stream_open(engine: Served) -> None:
    """After 20 times ``l`` then esc on a service, the console follows no log stream, and the
    engine serves none to it."""
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        for _ in range(20):
            await pilot.press("l")
            await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "logs")
            await wait_for(pilot, lambda: bool(app.feed.streams))
            await pilot.press("escape")
            await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "services")
        await wait_for(pilot, lambda: not app.feed.streams)
        await wait_api(pilot, lambda: _none(engine.log_streams()))


async def _none(count: Awaitable[int]) -> bool:
    return await count == 0


def test_a_crash_exits_non_zero(tmp_path: Path) -> None:
    """A console that ends on an unhandled error exits with a status that says so."""
    script = tmp_path / "crash.py"
    script.write_text(
        "import sys\n"
        "from console import __main__ as entry\n"
        "from console.screens.overview import OverviewScreen\n"
        "def broken(self, snapshot):\n"
        "    raise RuntimeError('boom')\n"
        "OverviewScreen.render_snapshot = broken\n"
        "entry.main(['--host', 'unix:///nonexistent/swarmdeck.sock'])\n"
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "TERM": "xterm-256color"}
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, str(script)], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    try:
        status = process.wait(timeout=30)
    finally:
        os.close(master)
    assert status != 0


def footer_keys(app: SwarmdeckApp) -> set[str]:
    """The keys the footer on screen shows: a view's key bar, or a dialog's footer."""
    bars = app.screen.query(KeyBar)
    if bars:
        return {key for bar in bars for key, _ in bar.shown()}
    return {key.key for key in app.screen.query("FooterKey")}  # type: ignore[attr-defined]


async def test_a_dialog_shows_its_own_keys_and_holds_the_consoles(engine: Served) -> None:
    """Under the scale form the footer shows esc (cancel), not the view's keys; ``q`` there is
    typed, and under a confirmation neither ``q`` nor ``:`` acts on the console."""
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        assert "s" in footer_keys(app)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog))
        await pilot.pause(0.2)
        assert footer_keys(app) == {"escape"}
        await pilot.press("escape")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "services")
        await pilot.press("r")  # restart asks first
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.pause(0.2)
        assert {"y", "n"} <= footer_keys(app) and not footer_keys(app) & {"s", "r", "colon", "q"}
        await pilot.press("q", "colon")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmDialog) and app.is_running
        await pilot.press("n")


async def test_read_only_help_and_keys_typed_into_the_filter(engine: Served) -> None:
    """With --read-only ``?`` lists no action that changes the cluster; while the filter has
    the keys, ctrl+l (rollback) does nothing."""
    app = engine.app(read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one(Static).render())
        assert "Filter" in text and "Logs" in text
        for hidden in ("Scale", "Rollback", "Remove", "Create", "Image", "Restart"):
            assert hidden not in text
        await pilot.press("escape")
    web = await service(engine)
    await engine.client.modify_service(web.id, lambda spec: replace(spec, labels={"v": "2"}))
    writable = engine.app()  # web has a previous spec: ctrl+l would ask to roll back to it
    async with writable.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, writable, "services")
        await wait_for(pilot, lambda: writable.snapshot.services[0].previous_spec is not None)
        await pilot.press("slash", *"we")
        await pilot.press("ctrl+l")
        await pilot.pause(0.3)
        assert not isinstance(writable.screen, ConfirmDialog)
        assert writable.screen.query_one("#filter", Input).value == "we"
