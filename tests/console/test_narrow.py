"""80x24 first: no key on a view's key bar is cut (what does not fit is in ``?`` help), a
port is never cut into another port, scrolling right keeps the NAME column, and the create
dialog fits in 24 rows."""

from __future__ import annotations

import re

import pytest
from textual.widgets import Input, Static

from console import actions
from console.app import SwarmdeckApp
from console.screens.dialogs import FormDialog
from console.screens.help import HelpScreen, key_name
from console.widgets.keybar import KeyBar
from console.widgets.resource_table import ResourceTable
from tests.conftest import make_spec
from tests.console.conftest import Served, wait_for
from tests.console.test_actions import open_view

VIEWS = (
    "overview", "nodes", "services", "tasks", "metrics", "events", "swarm", "logs", "stacks",
    "networks", "secrets", "configs",
)  # fmt: skip


def bar_text(app: SwarmdeckApp) -> str:
    return str(app.screen.query_one(KeyBar).render())


@pytest.mark.parametrize("view", VIEWS)
async def test_no_key_on_the_key_bar_is_cut_at_80_columns(engine: Served, view: str) -> None:
    """Every key on the bar is whole, within 80 columns, and every key of the view is on the
    bar or in ``?`` help; the bar says ``? more`` when some are only in help."""
    app = engine.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(pilot, app, "services")
        if view == "logs":
            await pilot.press("l")  # from services: esc (back) is one of its keys
        else:
            await pilot.press("colon", *view, "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == view)
        await pilot.pause(0.3)
        bar = app.screen.query_one(KeyBar)
        text = bar_text(app)
        shown = bar.shown()
        assert len(text.rstrip()) <= 80 and shown
        for _, description in shown:
            assert f" {description}" in text  # whole
        keys = {key for key, _ in shown}
        ranked, _ = bar._keys()  # every key the bar would show, were there room
        hidden = [actions.action(b.action) for _, b in ranked if b.key not in keys]
        assert shown[-1][0] == "question_mark"
        assert text.rstrip().endswith("? more" if hidden else "? help")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        listed = " ".join(str(app.screen.query_one(Static).render()).split())
        for action in hidden:
            assert action is not None
            assert f"{key_name(action.key)} {action.help}" in listed or (
                f"{key_name(action.key)} {action.description}: {action.help}" in listed
            )


def test_a_cut_cell_never_shows_part_of_a_number() -> None:
    """The right edge cuts a cell with an ellipsis, before a number rather than inside it."""
    from console.widgets.resource_table import _fit

    assert _fit("*:8080->80/tcp", 5, 14) == "*:…  "
    assert _fit("*:8080->80/tcp", 9, 14) == "*:8080->…"
    assert _fit("*:8080->80/tcp", 14, 14) == "*:8080->80/tcp"
    assert _fit("nginx:1.11", 8, 10) == "nginx:1…"
    assert _fit("nginx:1.11", 9, 10) == "nginx:1.…"
    assert _fit("web", 10, 5) == "web  "


async def test_scrolling_right_keeps_the_name_column_and_ports_whole(engine: Served) -> None:
    """At 80 columns the services table ends in ``*:…``; right scrolls a column at a time,
    NAME stays, and PORTS comes whole."""
    engine.cluster.control.create_service(make_spec(name="published"))
    app = engine.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(pilot, app, "services")
        await wait_for(pilot, lambda: app.screen.table.row_count == 2)  # type: ignore[attr-defined]
        web = next(s for s in app.snapshot.services if s.spec.name == "web")
        await app.client.modify_service(web.id, _published)
        table = app.screen.query_one(ResourceTable)

        def lines() -> list[str]:
            return ["".join(seg.text for seg in table.render_line(y)) for y in range(3)]

        await wait_for(pilot, lambda: "*:" in lines()[2])
        port = lines()[2].split()[-1]
        # Whole, or cut but never inside one of its numbers: *:…, *:8080-…, *:8080->80/t…
        assert re.fullmatch(r"\*:(…|8080(…|-…|->…|->80(…|/…|/t…|/tc…|/tcp)))", port), port
        for _ in range(8):  # a column at a time, until PORTS is whole
            if "*:8080->80/tcp" in lines()[2]:
                break
            await pilot.press("right")
            await pilot.pause(0.1)
        header, first, second = lines()
        assert header.startswith("NAME") and "PORTS" in header and "MODE" not in header
        assert first.startswith("published") and second.startswith("web")
        assert "*:8080->80/tcp" in second
        for _ in range(8):
            await pilot.press("left")
        await pilot.pause(0.1)
        assert "MODE" in lines()[0]


def _published(spec):  # type: ignore[no-untyped-def]
    from msgspec.structs import replace

    from engine.api.specs import EndpointSpec, PortConfig

    port = PortConfig(protocol="tcp", target_port=80, published_port=8080)
    return replace(spec, endpoint_spec=EndpointSpec(mode="vip", ports=[port]))


async def test_the_create_dialog_fits_in_24_rows(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog))
        await pilot.pause(0.3)
        screen = app.screen.region
        for field in app.screen.query(Input):
            assert screen.contains_region(field.region), field.id
        box = app.screen.query_one("FormDialog > Vertical").region
        assert box.y >= 0 and box.bottom <= 24


async def test_a_wide_key_bar_shows_every_key_and_says_help(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(240, 30)) as pilot:
        await open_view(pilot, app, "nodes")
        await pilot.pause(0.3)
        keys = {key for key, _ in app.screen.query_one(KeyBar).shown()}
        wanted = {
            a.key.split(",")[0] for a in actions.of_view("nodes") if a.show and not a.per_column
        }
        assert wanted - {"escape", "enter"} <= keys  # esc: nothing to go back to; enter: rows
        assert bar_text(app).rstrip().endswith("? help")
