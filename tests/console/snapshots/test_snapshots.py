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

from console.demo_data import DemoData, demo_data
from console.screens.events import EventsScreen
from console.screenshots import demo_app, settle_focus, show_view

SIZES = [(80, 24), (120, 36)]


@pytest.fixture(scope="module")
def data() -> DemoData:
    with tempfile.TemporaryDirectory() as workdir:
        return asyncio.run(demo_data(Path(workdir)))


def shown(view: str, data: DemoData) -> Callable[[Pilot[None]], object]:
    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.pause()
        show_view(pilot.app, view, data)  # type: ignore[arg-type]
        await pilot.pause(0.2)
        settle_focus(pilot.app)  # type: ignore[arg-type]
        await pilot.pause(0.1)
        if view == "events":
            screen = pilot.app.screen
            assert isinstance(screen, EventsScreen)
            screen.add_events(data.events)
        await pilot.pause(0.1)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run_before


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))


@pytest.mark.parametrize("size", SIZES)
def test_overview(snap_compare, data: DemoData, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """Six panels: 3 ready/active nodes; 4/4 services converged; tasks by state (running,
    failed, shutdown); no update in progress; the flaky worker's failures with their exit code;
    reserved CPU and memory against the cluster's total."""
    assert snap_compare(demo_app(), terminal_size=size, run_before=shown("overview", data))


@pytest.mark.parametrize("size", SIZES)
def test_nodes(snap_compare, data: DemoData, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """swarm-master (leader), swarm-node-1 and swarm-node-2, all ready and active, in green;
    reserved CPU and memory per node, running task counts, engine 20.10.24, zone labels."""
    assert snap_compare(demo_app(), terminal_size=size, run_before=shown("nodes", data))


@pytest.mark.parametrize("size", SIZES)
def test_services(snap_compare, data: DemoData, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """api 2/2, flaky-worker 1/1, node-exporter global 3/3, web 3/3 on nginx:1.11 with
    *:8080->80/tcp and its update completed; full replica bars; the action keys in the footer."""
    assert snap_compare(demo_app(), terminal_size=size, run_before=shown("services", data))


@pytest.mark.parametrize("size", SIZES)
def test_tasks(snap_compare, data: DemoData, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """The tasks of web: web.1 to web.3 running nginx:1.11 on the three nodes, each with its
    shut-down nginx:1.10 predecessor greyed out below it."""
    assert snap_compare(demo_app(), terminal_size=size, run_before=shown("tasks", data))


@pytest.mark.parametrize("size", SIZES)
def test_logs(snap_compare, data: DemoData, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """web's access log lines, each prefixed by its task (web.1, web.2, web.3) in that task's
    colour, merged by time; the follow, wrap, timestamps, filter and save keys in the footer."""
    assert snap_compare(demo_app(), terminal_size=size, run_before=shown("logs", data))


@pytest.mark.parametrize("size", SIZES)
def test_metrics(snap_compare, data: DemoData, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """A row per node then per service: CPU cores now with a sparkline of its history, memory
    in use with its sparkline."""
    assert snap_compare(demo_app(), terminal_size=size, run_before=shown("metrics", data))


@pytest.mark.parametrize("size", SIZES)
def test_events(snap_compare, data: DemoData, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """Node updates (labels), service creates and updates (replicas, image, update state)
    with their time, in order."""
    assert snap_compare(demo_app(), terminal_size=size, run_before=shown("events", data))


@pytest.mark.parametrize("size", SIZES)
def test_describe(snap_compare, data: DemoData, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """The web service as YAML: ID, Version, Spec with the nginx:1.11 image, PreviousSpec,
    Endpoint with port 8080, UpdateStatus completed."""
    assert snap_compare(demo_app(), terminal_size=size, run_before=shown("describe", data))
