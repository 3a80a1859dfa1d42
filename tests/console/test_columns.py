"""The columns people expect: a task's image and its docker name ``web.1.<id>@node`` where
space allows; a service's ID, age and restarts; task state changes and failures among the
events, without updates that say nothing."""

from __future__ import annotations

import asyncio
import contextlib

from msgspec.structs import replace
from textual.widgets import RichLog

from console.app import SwarmdeckApp
from console.feed import EventsArrived, Feed, SnapshotReady
from console.render.rows import SERVICE_COLUMNS, TASK_COLUMNS
from console.widgets.resource_table import ResourceTable
from engine.api.codec import encode
from engine.api.durations import format_timestamp
from engine.api.objects import Task, TaskStatus, Version
from engine.api.types import TaskState
from engine.client import EngineClient
from engine.client.fake import HOLD, FakeTransport
from tests.conftest import make_spec
from tests.console.conftest import Served, wait_for
from tests.console.test_actions import open_view, service

CRASHING = {"swarmdeck.sim.crash-loop": "300ms"}  # exits with code 1 soon after each start


def lines(table: ResourceTable, count: int) -> list[str]:
    return ["".join(seg.text for seg in table.render_line(y)) for y in range(count)]


def cells(app: SwarmdeckApp) -> list[tuple[str, ...]]:
    return [row.cells for row in app.screen.table._rows]  # type: ignore[attr-defined]


async def test_tasks_show_their_image_so_an_update_shows_which_runs_which(
    engine: Served,
) -> None:
    """After web's image changes, its tasks view shows the new tasks on nginx:1.11 and the
    ones they replaced on nginx:1.10."""
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        web = await service(engine)
        await engine.client.modify_service(web.id, _image("nginx:1.11"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "tasks")
        image = TASK_COLUMNS.index("IMAGE")

        def both() -> bool:
            running = {c[image] for c in cells(app) if c[4].startswith("Running")}
            return running == {"nginx:1.11"} and any(c[image] == "nginx:1.10" for c in cells(app))

        await wait_for(pilot, both)


def _image(image: str):  # type: ignore[no-untyped-def]
    def change(spec):  # type: ignore[no-untyped-def]
        template = spec.task_template
        container = replace(template.container_spec, image=image)
        return replace(spec, task_template=replace(template, container_spec=container))

    return change


async def test_a_task_is_named_as_docker_names_it_where_space_allows(engine: Served) -> None:
    """``web.1.<id>@<node>`` when every column still has room (200 columns), ``web.1`` and
    the NODE column when not (80)."""
    for width, long in ((200, True), (80, False)):
        app = engine.app()
        async with app.run_test(size=(width, 30)) as pilot:
            await open_view(pilot, app, "tasks")
            await wait_for(pilot, lambda a=app: _both_placed(a))
            table = app.screen.query_one(ResourceTable)
            header, first, _ = lines(table, 3)
            task = app.snapshot.task_by_id[table._rows[0].key]
            host = app.snapshot.hostname(task.node_id)
            named = f"web.{task.slot}.{task.id[:12]}@{host}"
            assert first.startswith(named) is long
            assert first.startswith(f"web.{task.slot} ") is not long
            assert header.startswith("NAME") and "IMAGE" in header


def _both_placed(app: SwarmdeckApp) -> bool:
    """Both of web's tasks are shown, each on its node (a task still pending has none)."""
    rows = app.screen.table._rows  # type: ignore[attr-defined]
    return len(rows) == 2 and all(app.snapshot.task_by_id[row.key].node_id for row in rows)


async def test_services_show_id_age_and_restarts_in_the_last_hour(engine: Served) -> None:
    """A crash-looping service counts its failed tasks; web none; each has its short ID and
    its age."""
    spec = make_spec(name="crashing", labels=CRASHING, restart_delay=0.1)
    engine.cluster.control.create_service(spec)
    app = engine.app()
    async with app.run_test(size=(160, 30)) as pilot:
        await open_view(pilot, app, "services")
        column = {name: index for index, name in enumerate(SERVICE_COLUMNS) if name}

        def row(name: str) -> tuple[str, ...]:
            return next(c for c in cells(app) if c[0] == name)

        await wait_for(pilot, lambda: int(row("crashing")[column["RESTARTS"]].split()[0]) >= 2, 30)
        web = await service(engine)
        assert row("web")[column["RESTARTS"]] == "0"
        assert row("web")[column["ID"]] == web.id[:12]
        assert row("web")[column["AGE"]].endswith("s")
        header = lines(app.screen.query_one(ResourceTable), 1)[0]
        for name in ("RESTARTS", "AGE", "ID"):
            assert name in header


async def test_events_show_task_state_changes_and_failures(engine: Served) -> None:
    """Among the events: a crash-looping task failing, with its error and node, and tasks
    coming to run; and no ``service update`` that names no change."""
    app = engine.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("colon", *"events", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "events")
        slow = {"swarmdeck.sim.crash-loop": "3s"}  # running long enough for a poll to see it
        engine.cluster.control.create_service(
            make_spec(name="crashing", labels=slow, restart_delay=0.1)
        )
        log = app.screen.query_one(RichLog)

        def shown() -> list[str]:
            return [strip.text for strip in log.lines]

        await wait_for(
            pilot,
            lambda: any(
                "task failed  crashing.1@" in line and "non-zero exit" in line for line in shown()
            ),
            30,
        )
        await wait_for(pilot, lambda: any("task running  crashing.1@" in s for s in shown()))
        assert any("service create  crashing" in line for line in shown())
        assert not any(line.rstrip().endswith("service update  crashing") for line in shown())


def failed_task(number: int, when: float) -> Task:
    return Task(
        id=f"t{number}",
        version=Version(index=number),
        service_id="s1",
        node_id="n1",
        slot=1,
        desired_state=TaskState.SHUTDOWN,
        status=TaskStatus(
            state=TaskState.FAILED, timestamp=format_timestamp(when), err="task: exit (1)"
        ),
    )


async def test_restarts_count_failures_the_endpoint_no_longer_keeps() -> None:
    """An endpoint keeps a few tasks a slot: a failure it dropped still counts for an hour,
    and one older than an hour does not."""
    start = 1_767_225_600.0
    fake = FakeTransport()
    fake.answer("GET", "/nodes", b"[]")
    fake.answer("GET", "/services", b"[]")
    polls = [
        [failed_task(1, start - 4000), failed_task(2, start - 10)],  # t1: older than an hour
        [failed_task(3, start + 1)],  # t2 is no longer kept
        [failed_task(3, start + 1), failed_task(4, start + 3)],
    ]
    fake.answer("GET", "/tasks", *(encode(tasks) for tasks in polls), HOLD)
    fake.stream("GET", "/events")
    times = iter([start, start + 2, start + 4])
    feed = Feed(EngineClient(transport=fake), interval=0.0, clock=lambda: next(times, start + 4))
    news: list[object] = []
    running = asyncio.create_task(feed.run(news.append))
    try:
        async with asyncio.timeout(10):
            while len([n for n in news if isinstance(n, SnapshotReady)]) < 3:
                await asyncio.sleep(0.01)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await feed.close()
    snapshots = [n.snapshot for n in news if isinstance(n, SnapshotReady)]
    assert [s.restarts_by_service["s1"] for s in snapshots] == [1, 2, 3]
    told = [e for n in news if isinstance(n, EventsArrived) for e in n.events]
    assert [(e["Actor"]["ID"], e["Action"]) for e in told] == [
        ("t2", "failed"),  # the first poll: failures of the last hour only
        ("t3", "failed"),
        ("t4", "failed"),
    ]
