"""What every view must look like, at 80x24 and 120x36, on the repeatable demo cluster.

Each test's docstring says what the picture must show; the SVGs are in ``__snapshots__``.
Update them with ``pytest tests/console/snapshots --snapshot-update`` after a deliberate change,
then look at them.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from console.screenshots import demo_app, show_view
from engine.serve import DemoRecording, record_demo

SIZES = [(80, 24), (120, 36)]


@pytest.fixture(scope="module")
def data() -> DemoRecording:
    with tempfile.TemporaryDirectory() as workdir:
        return asyncio.run(record_demo(Path(workdir)))


def shown(view: str, data: DemoRecording, *keys: str) -> Callable[[Pilot[None]], object]:
    """Shows ``view``, then presses ``keys``."""

    async def run_before(pilot: Pilot[None]) -> None:
        await show_view(pilot, view, data)
        if keys:
            await pilot.press(*keys)
            await pilot.pause(0.3)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run_before


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))


@pytest.mark.parametrize("size", SIZES)
def test_overview(snap_compare, data: DemoRecording, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """A hint under the header (":services, :nodes or :tasks ... ? for every key"); six
    panels: 3 ready/active nodes; 3/4 services healthy, flaky-worker failing (its
    task crash-loops, though it reads 1/1); tasks by state (failed, running, shutdown); no
    update in progress; flaky-worker's 2 failures in the last hour, the last one's age and
    error; CPU reserved 1.75/6 cores and memory reserved against the cluster's total (no task
    pending), and memory in use."""
    assert snap_compare(demo_app(data), terminal_size=size, run_before=shown("overview", data))


@pytest.mark.parametrize("size", SIZES)
def test_nodes(snap_compare, data: DemoRecording, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """swarm-master (leader), swarm-node-1 and swarm-node-2, all ready and active, in green;
    reserved CPU and memory and memory in use per node, running task counts. At 120x36 also
    engine 20.10.24, each certificate's 89 days left and the zone labels; at 80x24 the table
    ends in ENGINE cut to "20.…" (it scrolls). The key bar: drain, pause, activate, promote,
    demote, labels, filter, then "? more"."""
    assert snap_compare(demo_app(data), terminal_size=size, run_before=shown("nodes", data))


@pytest.mark.parametrize("size", SIZES)
def test_services(snap_compare, data: DemoRecording, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """api 2/2, flaky-worker 1/1, node-exporter global 3/3, web 3/3 on nginx:1.11;
    full replica bars; NAME's N underlined in the header (shift+n sorts), and so on; RESTARTS
    "2 failing" for flaky-worker (its failures of the last hour), whose row is yellow, not
    green, though 1/1 run; 0 for the others. At 120x36 also web's
    *:8080->80/tcp and its update completed, each service's AGE 2m, and the ID column cut by
    the edge; at 80x24 the table ends in IMAGE, node-exporter's cut to "prom/node-exporter:…"
    (it scrolls), and the key bar shows logs, scale, image, update, rollback, restart, remove,
    then "? more"."""
    assert snap_compare(demo_app(data), terminal_size=size, run_before=shown("services", data))


@pytest.mark.parametrize("size", SIZES)
def test_tasks(snap_compare, data: DemoRecording, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """The tasks of web: web.1 to web.3 running nginx:1.11 on the three nodes, in green, each
    with its shut-down predecessor on nginx:1.10 (exit code 0) greyed out below it; at
    120x36 each named as docker names it, web.1.<task id>@swarm-master; esc, logs, filter,
    YAML and save on the key bar."""
    assert snap_compare(demo_app(data), terminal_size=size, run_before=shown("tasks", data))


@pytest.mark.parametrize("size", SIZES)
def test_logs(snap_compare, data: DemoRecording, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """web's access log lines, each prefixed by its task (web.1, web.2, web.3) in that task's
    colour, merged by time; the header says "tail 50 · following · wrap off · timestamps off";
    the key bar: esc, follow, wrap, timestamps, filter, save, and at 80x24 "? more"."""
    assert snap_compare(demo_app(data), terminal_size=size, run_before=shown("logs", data))


@pytest.mark.parametrize("size", SIZES)
def test_metrics(snap_compare, data: DemoRecording, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """A row per node, then per service (the cluster's: no removed one): CPU in use with its
    unit ("0.82 cores") and its history, memory in use and its history; each history column
    on one scale, the busiest row's top the top of every row."""
    assert snap_compare(demo_app(data), terminal_size=size, run_before=shown("metrics", data))


@pytest.mark.parametrize("size", SIZES)
def test_events(snap_compare, data: DemoRecording, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """In time order: the four services created; flaky-worker.1@swarm-node-2 failing with its
    error (twice); web's image from nginx:1.10 to 1.11 and its update state; its tasks shut
    down and running again on nginx:1.11; the update completed. No "service update" line
    without a change in brackets."""
    assert snap_compare(demo_app(data), terminal_size=size, run_before=shown("events", data))


@pytest.mark.parametrize("size", SIZES)
def test_describe(snap_compare, data: DemoRecording, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """The web service as YAML, as y shows it: first, as YAML comments, where it answers
    (8080->80/tcp ingress on every ready node, each node's address), its VIPs on ingress and
    shop_front, and each running task's addresses on both and its connections (0: the demo
    sends none); then the YAML from ID, Version and Spec (the rest scrolls)."""
    assert snap_compare(demo_app(data), terminal_size=size, run_before=shown("describe", data))


@pytest.mark.parametrize("size", SIZES)
def test_swarm(snap_compare, data: DemoRecording, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """The swarm's CA: its root digest (sha256:...), certificates of 90 days renewed between
    50 % and 80 %, no root rotation, 3/3 nodes on this root; autolock off; the join commands
    for a worker and a manager with the tokens hidden and swarm-master's address."""
    assert snap_compare(demo_app(data), terminal_size=size, run_before=shown("swarm", data))


@pytest.mark.parametrize("view", ["services", "nodes"])
def test_longest_key_bar_at_80x24(snap_compare, data: DemoRecording, view: str) -> None:  # type: ignore[no-untyped-def]
    """The first row marked (the header says "1 marked"), so esc (back: clear the marks) is
    on the key bar too: every key on it whole, within 80 columns, ending in "? more" (help
    lists the rest). Services: esc, l, s, i, u, ctrl+l, r; nodes: esc, r, c, u, p, o, L."""
    run = shown(view, data, "space", "up")
    assert snap_compare(demo_app(data), terminal_size=(80, 24), run_before=run)


APPLICATIONS = {
    "stacks": "shop: 2 services, 5/5 replicas, 1 network, 1 secret, 1 config, changed 27s ago"
    " (web's update);"
    " the key bar: esc, ctrl+d remove, c deploy, filter, YAML, mark, save",
    "networks": "bridge, docker_gwbridge, host and none (local), ingress (overlay, swarm,"
    " 10.0.0.0/24, used by web, which publishes 8080, and its 3 tasks) and shop_front"
    " (overlay, swarm, 10.0.1.0/24, api and web, 5 tasks); the key bar: esc, ctrl+d, filter,"
    " YAML, mark, save",
    "secrets": "shop_db_password, used by api, labelled com.docker.stack.namespace=shop; no"
    " data anywhere; the key bar: esc, ctrl+d, filter, YAML, mark, save",
    "configs": "shop_site, used by api, its two labels, and none of its data; the key bar:"
    " esc, ctrl+d, filter, YAML, mark, save",
}


@pytest.mark.parametrize("view", sorted(APPLICATIONS))
def test_applications_and_networks_at_80x24(snap_compare, data: DemoRecording, view: str) -> None:  # type: ignore[no-untyped-def]
    """The demo's stack shop (web and api) and what it has, its first row marked ("1 marked"
    in the header) so the key bar is its longest, every key whole within 80 columns, ending
    in "? more" where help lists more. Per view, in ``APPLICATIONS``."""
    run = shown(view, data, "space", "up")
    assert snap_compare(demo_app(data), terminal_size=(80, 24), run_before=run)


def test_deploy_plan_at_80x24(snap_compare, data: DemoRecording, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The deploy of shop from a compose file that has only a cache service: the dialog's
    plan, "Deploy stack shop?", then "+ create network shop_default" and "+ create service
    shop_cache" in green, "- remove service api" and "- remove service web" in red (the
    stack's services the file does not have), and no other line; No and Yes buttons."""
    compose = tmp_path / "shop.yml"
    compose.write_text("services:\n  cache: {image: redis:7}\n")

    async def run_before(pilot: Pilot[None]) -> None:
        await show_view(pilot, "stacks", data)
        await pilot.press("c")
        await pilot.pause(0.3)
        form = pilot.app.screen
        form.query_one("#field-file", Input).value = str(compose)
        form.query_one("#field-stack", Input).value = "shop"
        form.query_one("#field-stack", Input).focus()
        await pilot.press("enter")
        await pilot.pause(0.5)

    assert snap_compare(demo_app(data), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("view", ["services", "nodes", "logs", "swarm"])
def test_help_at_80x24(snap_compare, data: DemoRecording, view: str) -> None:  # type: ignore[no-untyped-def]
    """``?`` on a view whose key bar ends in "? more": a box of every key of the view, each
    with what it does, wrapped within the box, from the first (it scrolls to the rest)."""
    run = shown(view, data, "question_mark")
    assert snap_compare(demo_app(data), terminal_size=(80, 24), run_before=run)


def test_create_dialog_with_every_field_wrong_at_80x24(snap_compare, data: DemoRecording) -> None:  # type: ignore[no-untyped-def]
    """The create dialog still open after a submit with no image, "two" replicas, port "80"
    and constraint "a=b": each of those fields' labels in red, saying in plain words what is
    wrong; what was typed still there; the whole dialog within 24 rows."""

    async def run_before(pilot: Pilot[None]) -> None:
        await show_view(pilot, "services", data)
        await pilot.press("c")
        await pilot.pause(0.3)
        values = {"name": "x", "image": "", "replicas": "two", "ports": "80", "constraints": "a=b"}
        for key, value in values.items():
            pilot.app.screen.query_one(f"#field-{key}", Input).value = value
        pilot.app.screen.query_one("#field-constraints", Input).focus()
        await pilot.press("enter")
        await pilot.pause(0.3)

    assert snap_compare(demo_app(data), terminal_size=(80, 24), run_before=run_before)
