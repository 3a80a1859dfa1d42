"""What a k9s user reaches for: sort by a column with shift and its letter, marks and actions on
every marked row, ``/`` as a regular expression (``/!`` for the inverse) in every view, ``y``
for YAML, ``e`` to edit in $EDITOR, ``-`` for the last view, ctrl+s to save a table as CSV, log
time presets and the log header, ctrl+c to quit."""

from __future__ import annotations

import sys
from collections.abc import Awaitable
from pathlib import Path

import pytest
from msgspec.structs import replace
from textual.widgets import Input, RichLog, Static

from console.app import SwarmdeckApp
from console.feed import LogStream
from console.render.rows import Row
from console.render.tables import column_keys, parse_pattern, select, sort_rows, table_csv
from console.screens.describe import DescribeScreen
from console.screens.dialogs import ConfirmDialog
from console.screens.logs import LogsScreen
from tests.conftest import make_spec
from tests.console.conftest import Served, wait_api, wait_for
from tests.console.test_actions import fill, open_view, service


def shown_names(app: SwarmdeckApp) -> list[str]:
    table = app.screen.table  # type: ignore[attr-defined]
    return [row.cells[0] for row in table._rows]


def header(app: SwarmdeckApp) -> str:
    return str(app.screen.query_one("#header", Static).render())


def notified(app: SwarmdeckApp, text: str) -> bool:
    return any(text in str(n.message) for n in app._notifications)


# Pure: patterns, sort values, keys, CSV.


def test_a_filter_is_a_regular_expression_and_bang_inverts_it() -> None:
    rows = [Row(name, (name, "running")) for name in ("web", "web-2", "api", "worker")]
    assert [r.key for r in select(rows, parse_pattern("^web"))] == ["web", "web-2"]
    assert [r.key for r in select(rows, parse_pattern("!^w"))] == ["api"]
    assert [r.key for r in select(rows, parse_pattern("API"))] == ["api"]  # any case
    assert select(rows, parse_pattern("")) == rows
    assert select(rows, parse_pattern("!")) == rows
    unclosed = parse_pattern("web-(")  # not a regular expression: matched as text
    assert unclosed.literal and select(rows, unclosed) == []
    assert parse_pattern("zzz").nothing == "nothing matches /zzz"
    assert parse_pattern("!x").lines("ax\nb\ncx") == "b"
    assert parse_pattern("q").lines("a\nb") == "nothing matches /q"


def test_columns_sort_by_value_numbers_sizes_and_ages() -> None:
    def order(*cells: str) -> list[str]:
        rows = [Row(str(i), (cell,)) for i, cell in enumerate(cells)]
        return [row.cells[0] for row in sort_rows(rows, 0)]

    assert order("web.10", "web.9", "Web.1") == ["Web.1", "web.9", "web.10"]
    assert order("4GiB", "320MiB", "512B") == ["512B", "320MiB", "4GiB"]
    assert order("Running 2 hours ago", "Running 5 minutes ago", "Running About a minute ago") == [
        "Running About a minute ago",
        "Running 5 minutes ago",
        "Running 2 hours ago",
    ]
    assert order("0.75/2", "0.25/2", "1.5/2") == ["0.25/2", "0.75/2", "1.5/2"]
    rows = [Row(str(i), (cell,)) for i, cell in enumerate(("b", "a", "b", "c"))]
    assert [r.key for r in sort_rows(rows, 0, descending=True)] == ["3", "0", "2", "1"]  # stable


def test_each_column_gets_a_free_letter() -> None:
    assert column_keys(("NAME", "NODE", "", "LABELS"), taken={"L", "q"}) == ("N", "O", "", "A")


def test_a_table_as_csv_leaves_out_columns_without_a_name() -> None:
    rows = [Row("1", ("web", "███", 'say "hi", twice'))]
    assert table_csv(("NAME", "", "NOTE"), rows) == 'NAME,NOTE\nweb,"say ""hi"", twice"\n'


# Driven by keys.


async def test_sort_by_a_column_with_shift_and_its_letter_shown_in_the_header(
    engine: Served,
) -> None:
    """Shift+N sorts by NAME (N underlined, an arrow after it), again the other way; shift+R
    sorts by REPLICAS, as numbers."""
    control = engine.cluster.control
    control.create_service(make_spec(name="api", replicas=10))
    control.create_service(make_spec(name="zeta", replicas=1))
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await wait_for(pilot, lambda: app.screen.table.row_count == 3)  # type: ignore[attr-defined]
        table = app.screen.table  # type: ignore[attr-defined]
        line = table.render_line(0)
        underlined = [seg.text for seg in line if seg.style is not None and seg.style.underline]
        assert underlined[:3] == ["N", "M", "R"]  # NAME, MODE, REPLICAS
        await pilot.press("N")
        await wait_for(pilot, lambda: shown_names(app) == ["api", "web", "zeta"])
        assert "NAME↑" in "".join(seg.text for seg in table.render_line(0))
        await pilot.press("N")
        await wait_for(pilot, lambda: shown_names(app) == ["zeta", "web", "api"])
        assert "NAME↓" in "".join(seg.text for seg in table.render_line(0))
        await pilot.press("R")  # 1/1, 2/2, 10/10: by number, not by text
        await wait_for(pilot, lambda: shown_names(app) == ["zeta", "web", "api"])
        await pilot.press("R")
        await wait_for(pilot, lambda: shown_names(app) == ["api", "web", "zeta"])
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: "shift+r" in str(app.screen.query_one(Static).render()))
        assert "sort by REPLICAS" in str(app.screen.query_one(Static).render())


async def test_regex_and_inverse_filter(engine: Served) -> None:
    """``/`` takes a regular expression, ``/!`` keeps what does not match, and a filter that
    keeps nothing says so."""
    engine.cluster.control.create_service(make_spec(name="api"))
    engine.cluster.control.create_service(make_spec(name="worker"))
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await wait_for(pilot, lambda: app.screen.table.row_count == 3)  # type: ignore[attr-defined]
        await pilot.press("slash", *"^(web|api)$", "enter")
        await wait_for(pilot, lambda: sorted(shown_names(app)) == ["api", "web"])
        assert "/^(web|api)$" in header(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(shown_names(app)) == 3)
        await pilot.press("slash", *"!^w", "enter")
        await wait_for(pilot, lambda: shown_names(app) == ["api"])
        await pilot.press("escape", "slash", *"nope", "enter")
        await wait_for(pilot, lambda: shown_names(app) == [])
        line = "".join(seg.text for seg in app.screen.table.render_line(1))  # type: ignore[attr-defined]
        assert line.startswith("nothing matches /nope")


async def test_every_view_has_a_filter_including_events(engine: Served) -> None:
    """The events view keeps the events ``/`` matches and says when none does; so do the
    overview, the swarm view and the YAML view, line by line."""
    engine.cluster.control.create_service(make_spec(name="api"))
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("colon", *"events", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "events")
        log = app.screen.query_one(RichLog)

        def lines() -> list[str]:
            return [strip.text for strip in log.lines]

        await wait_for(pilot, lambda: any("api" in line for line in lines()))
        await pilot.press("slash", *"service create +api")
        await wait_for(pilot, lambda: lines() and all("api" in line for line in lines()))
        await pilot.press("escape", "slash", *"!create")
        await wait_for(pilot, lambda: lines() and not any("create" in line for line in lines()))
        await pilot.press("escape", "slash", *"nothing-like-this")
        await wait_for(pilot, lambda: lines() == ["nothing matches /nothing-like-this"])
        await pilot.press("escape")
        for view, panel in (("overview", "#panel-tasks"), ("swarm", "#swarm-panel")):
            await pilot.press("colon", *view, "enter")
            await wait_for(pilot, lambda v=view: getattr(app.screen, "VIEW", "") == v)
            await pilot.press("slash", *"running|autolock")
            text = app.screen.query_one(panel, Static)
            await wait_for(pilot, lambda t=text: str(t.render()).count("\n") <= 1)
            assert "running" in str(text.render()) or "autolock" in str(text.render()).lower()
            await pilot.press("escape")


async def test_y_shows_the_object_as_yaml(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, DescribeScreen))
        text = str(app.screen.query_one("#describe", Static).render())
        assert "Spec:" in text and "Name: web" in text and "Version:" in text
        await pilot.press("slash", *"image")
        await wait_for(
            pilot,
            lambda: (
                str(app.screen.query_one("#describe", Static).render()).strip()
                == "Image: nginx:1.10"
            ),
        )


async def test_marked_rows_scale_together(engine: Served) -> None:
    """Space marks web and api (the header counts them); ``s`` asks once and scales both."""
    engine.cluster.control.create_service(make_spec(name="api"))
    engine.cluster.control.create_service(make_spec(name="other"))
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await wait_for(pilot, lambda: app.screen.table.row_count == 3)  # type: ignore[attr-defined]
        # api, other, web: mark api, skip other, mark web.
        await pilot.press("space", "down", "space")
        await wait_for(pilot, lambda: "2 marked" in header(app))
        assert app.screen.table.marked == {  # type: ignore[attr-defined]
            s.id for s in app.snapshot.services if s.spec.name in ("api", "web")
        }
        await pilot.press("s")
        await fill(pilot, app, replicas="3")

        async def scaled() -> bool:
            found = {s.spec.name: s.spec.mode.replicated.replicas for s in await all_services()}
            return found == {"api": 3, "web": 3, "other": 1}

        async def all_services():  # type: ignore[no-untyped-def]
            return await engine.client.services()

        await wait_api(pilot, scaled)
        await pilot.press("escape")  # clears the marks
        await wait_for(pilot, lambda: "marked" not in header(app))


async def test_marked_rows_are_removed_together_and_nodes_drained_together(
    engine: Served,
) -> None:
    engine.cluster.control.create_service(make_spec(name="api"))
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await wait_for(pilot, lambda: app.screen.table.row_count == 2)  # type: ignore[attr-defined]
        await pilot.press("space", "space", "ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        details = str(app.screen._details)  # type: ignore[attr-defined]
        assert "api:" in details and "web:" in details
        await pilot.press("y")

        async def removed() -> bool:
            return not await engine.client.services()

        await wait_api(pilot, removed)
        await open_view(pilot, app, "nodes")
        await pilot.press("space", "space", "r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")

        async def drained() -> bool:
            availability = [n.spec.availability.value for n in await engine.client.nodes()]
            return sorted(availability) == ["active", "drain", "drain"]

        await wait_api(pilot, drained)


EDITOR = """\
import pathlib, sys
path = pathlib.Path(sys.argv[1])
path.write_text(path.read_text().replace({old!r}, {new!r}))
"""


def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str) -> None:
    """$EDITOR: a script that replaces ``old`` by ``new`` in the file it is given."""
    script = tmp_path / f"editor-{len(list(tmp_path.glob('editor-*')))}.py"
    script.write_text(EDITOR.format(old=old, new=new))
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.delenv("VISUAL", raising=False)


async def test_edit_in_editor_applies_with_version_check(
    engine: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``e`` opens web's spec in $EDITOR; the change is shown as a diff and applied on a yes.
    An edit whose service changed before the yes is refused, saying so, and changes nothing;
    so is an edit with a field no spec has."""

    async def replicas() -> int:
        return (await service(engine)).spec.mode.replicated.replicas  # type: ignore[no-any-return]

    editor(tmp_path, monkeypatch, "Replicas: 2", "Replicas: 4")
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        details = str(app.screen._details)  # type: ignore[attr-defined]
        assert "-    Replicas: 2" in details and "+    Replicas: 4" in details
        await pilot.press("y")
        await wait_api(pilot, lambda: _equal(replicas(), 4))

        # Another edit, and the service changes before its yes.
        editor(tmp_path, monkeypatch, "Replicas: 4", "Replicas: 6")
        await wait_for(pilot, lambda: app.snapshot.services[0].spec.mode.replicated.replicas == 4)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        web = await service(engine)
        await engine.client.modify_service(web.id, lambda spec: replace(spec, labels={"x": "1"}))
        await pilot.press("y")
        await wait_for(pilot, lambda: notified(app, "changed since version"))
        assert await replicas() == 4

        # A typo: a field no spec has.
        editor(tmp_path, monkeypatch, "Replicas: 4", "Replicas: 6\n    Replica: 1")
        await pilot.press("e")
        await wait_for(pilot, lambda: notified(app, "not a field of a service spec"))
        assert not isinstance(app.screen, ConfirmDialog)
        assert await replicas() == 4


async def _equal(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_minus_goes_back_to_the_last_view(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "nodes")
        await open_view(pilot, app, "services")
        await pilot.press("minus")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "nodes")
        await pilot.press("minus")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "services")
        await pilot.press("slash", "minus")  # typed into the filter, not a jump
        await pilot.pause(0.2)
        assert app.screen.query_one("#filter", Input).value == "-"
        assert getattr(app.screen, "VIEW", "") == "services"


async def test_ctrl_s_saves_the_table_shown_as_csv(engine: Served, data_home: Path) -> None:
    engine.cluster.control.create_service(make_spec(name="api"))
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("slash", *"web", "enter")
        await wait_for(pilot, lambda: shown_names(app) == ["web"])
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: list(data_home.glob("*.csv")))
    (saved,) = data_home.glob("*.csv")
    lines = saved.read_text().splitlines()
    assert lines[0] == "NAME,MODE,REPLICAS,RESTARTS,IMAGE,PORTS,UPDATE,AGE,ID"
    assert len(lines) == 2 and lines[1].startswith("web,replicated,")


async def test_log_time_presets_and_the_header_says_follow_wrap_and_timestamps(
    engine: Served, data_home: Path
) -> None:
    app = engine.app()
    async with app.run_test(size=(160, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await wait_for(
            pilot, lambda: "tail 50 · following · wrap off · timestamps off" in header(app)
        )
        await pilot.press("w", "t", "f")
        await wait_for(pilot, lambda: "tail 50 · paused · wrap on · timestamps on" in header(app))
        await pilot.press("f")
        web = screen.stream.object_id
        for key, since, said in (("1", 60, "last minute"), ("4", 3600, "last hour")):
            await pilot.press(key)
            await wait_for(pilot, lambda s=said: f"{s} · following" in header(app))
            assert screen.stream == LogStream("services", web, since)
            await wait_for(
                pilot, lambda s=since: app.feed.streams == {LogStream("services", web, s)}
            )
        await pilot.press("0")
        await wait_for(pilot, lambda: app.feed.streams == {LogStream("services", web)})
        await wait_for(pilot, lambda: len(screen.entries) > 0)
        await pilot.press("slash", *"!.")  # keeps nothing
        lines = screen.log_view.lines
        await wait_for(pilot, lambda: [s.text for s in lines] == ["nothing matches /!."])
        await pilot.press("enter", "ctrl+s")
        await wait_for(pilot, lambda: list(data_home.glob("*.log")))
        (saved,) = data_home.glob("*.log")
        assert saved.read_text() == ""  # what is shown: nothing


@pytest.mark.parametrize("where", ["view", "filter", "dialog"])
async def test_ctrl_c_quits_like_q(engine: Served, where: str) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        if where == "filter":
            await pilot.press("slash", *"we")
        elif where == "dialog":
            await pilot.press("ctrl+d")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: not app.is_running)
    assert (await service(engine)) is not None  # the dialog's remove was not answered
