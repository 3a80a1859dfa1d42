"""The console driven by keys against a real three-node Docker swarm; the real docker CLI checks
that the swarm is what each action promised."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.app import SwarmdeckApp
from console.screens.logs import LogsScreen
from console.screens.nodes import NodesScreen
from engine.api.types import Availability, NodeRole
from engine.client import EngineClient, UsageReader
from tests.console.conftest import wait_for
from tests.console.test_actions import confirm, fill, open_view
from tests.docker.conftest import IMAGE, NEWER_IMAGE, Swarm


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def console(swarm: Swarm, engines: bool = True) -> SwarmdeckApp:
    client = EngineClient(swarm.url)
    nodes = {n.name: EngineClient(n.url) for n in swarm.lab.nodes} if engines else {}
    return SwarmdeckApp(client, swarm.url, usage=UsageReader(client, nodes))


async def wait_docker(pilot: Pilot[None], check: Callable[[], object], timeout: float = 90) -> None:
    """Lets the console run until ``check()``, which asks the real docker CLI, holds."""
    for _ in range(int(timeout / 0.5)):
        if await asyncio.to_thread(check):
            return
        await pilot.pause(0.5)
    raise AssertionError(f"timed out waiting for {check}")


def image_of(swarm: Swarm, service: str) -> str:
    return swarm.docker(
        "service", "inspect", service, "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
    ).strip()


def images_running(swarm: Swarm, service: str) -> set[str]:
    lines = swarm.docker(
        "service", "ps", service, "--filter", "desired-state=running",
        "--format", "{{.Image}} {{.CurrentState}}",
    ).splitlines()  # fmt: skip
    return {line.split()[0] for line in lines if " Running" in line}


async def test_scale_update_rollback_restart_and_remove(swarm: Swarm) -> None:
    swarm.service_create("web", "--replicas", "2", IMAGE)
    app = console(swarm)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("s")
        await fill(pilot, app, replicas="3")
        await wait_docker(pilot, lambda: sum(swarm.running("web").values()) == 3)
        assert "3/3" in swarm.docker("service", "ls", "--filter", "name=web")

        await pilot.press("i")
        await fill(pilot, app, image=NEWER_IMAGE)
        await wait_docker(pilot, lambda: images_running(swarm, "web") == {NEWER_IMAGE})
        assert image_of(swarm, "web") == NEWER_IMAGE

        await wait_for(pilot, lambda: app.snapshot.services[0].previous_spec is not None)
        await pilot.press("ctrl+l")
        assert IMAGE in await confirm(pilot, app)
        await wait_docker(pilot, lambda: images_running(swarm, "web") == {IMAGE})
        assert image_of(swarm, "web") == IMAGE

        before = set(swarm.docker("service", "ps", "-q", "web").split())
        await pilot.press("r")
        await confirm(pilot, app)
        await wait_docker(
            pilot,
            lambda: (
                swarm.docker(
                    "service", "inspect", "web", "--format", "{{.Spec.TaskTemplate.ForceUpdate}}"
                ).strip()
                == "1"
            ),
        )
        await wait_docker(
            pilot,
            lambda: (
                set(
                    swarm.docker(
                        "service", "ps", "-q", "web", "--filter", "desired-state=running"
                    ).split()
                ).isdisjoint(before)
                and sum(swarm.running("web").values()) == 3
            ),
        )

        await pilot.press("ctrl+d")
        await confirm(pilot, app)
        await wait_docker(pilot, lambda: swarm.docker("service", "ls", "-q").strip() == "")


async def test_create_a_service(swarm: Swarm) -> None:
    app = console(swarm)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.nodes)
        await pilot.press("colon", *"services", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "services")
        await pilot.press("c")
        await fill(
            pilot,
            app,
            name="made",
            image=IMAGE,
            replicas="2",
            ports="8090:80",
            constraints="node.role==worker",
        )
        await wait_docker(pilot, lambda: sum(swarm.running("made").values()) == 2)
    assert set(swarm.running("made")) <= {"swarm-node-1", "swarm-node-2"}
    published = swarm.docker(
        "service",
        "inspect",
        "made",
        "--format",
        "{{range .Endpoint.Ports}}{{.PublishedPort}}{{end}}",
    )
    assert published.strip() == "8090"


async def test_drain_moves_tasks_and_node_actions(swarm: Swarm) -> None:
    swarm.service_create("web", "--replicas", "3", IMAGE)
    swarm.service_create("agent", "--mode", "global", IMAGE)
    app = console(swarm)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.running == 6, timeout=60)
        await open_view(pilot, app, "nodes", row=1)  # swarm-node-1
        assert isinstance(app.screen, NodesScreen)
        assert app.screen.table.selected_key == swarm.node_field("swarm-node-1", "{{.ID}}")

        await pilot.press("r")
        details = await confirm(pilot, app)
        assert "1 task(s) will move:" in details
        assert re.search(r"web\.\d+ → swarm-(master|node-2)", details), details
        assert "PENDING" not in details
        assert "1 global task(s) will stop: agent." in details
        await wait_docker(
            pilot,
            lambda: (
                "swarm-node-1" not in swarm.running("web")
                and sum(swarm.running("web").values()) == 3
                and "swarm-node-1" not in swarm.running("agent")
            ),
        )
        assert swarm.node_field("swarm-node-1", "{{.Spec.Availability}}") == "drain"

        def seen(**wanted: object) -> Callable[[], bool]:
            """The console's snapshot has swarm-node-1 so: its next key acts on that."""
            return lambda: any(
                n.description is not None
                and n.description.hostname == "swarm-node-1"
                and all(getattr(n.spec, k) == v for k, v in wanted.items())
                for n in app.snapshot.nodes
            )

        field = "{{.Spec.Availability}}"
        await wait_for(pilot, seen(availability=Availability.DRAIN))
        await pilot.press("c")
        await confirm(pilot, app)
        await wait_docker(pilot, lambda: swarm.node_field("swarm-node-1", field) == "pause")
        await wait_for(pilot, seen(availability=Availability.PAUSE))
        await pilot.press("u")
        await wait_docker(pilot, lambda: swarm.node_field("swarm-node-1", field) == "active")
        await wait_for(pilot, seen(availability=Availability.ACTIVE))

        await pilot.press("p")
        details = await confirm(pilot, app)  # what the quorum tolerates, before and after
        assert "Now 1 manager tolerates 0 failures; then 2 managers tolerate 0" in details
        await wait_docker(
            pilot, lambda: swarm.node_field("swarm-node-1", "{{.Spec.Role}}") == "manager"
        )
        await wait_docker(
            pilot,
            lambda: (
                swarm.node_field(
                    "swarm-node-1", "{{if .ManagerStatus}}{{.ManagerStatus.Reachability}}{{end}}"
                )
                == "reachable"
            ),
        )
        await wait_for(pilot, seen(role=NodeRole.MANAGER))
        await pilot.press("o")
        await confirm(pilot, app)
        await wait_docker(
            pilot, lambda: swarm.node_field("swarm-node-1", "{{.Spec.Role}}") == "worker"
        )
        await wait_docker(  # and it left the managers' raft
            pilot,
            lambda: swarm.node_field("swarm-node-1", "{{if .ManagerStatus}}x{{end}}") == "",
        )

        await pilot.press("L")
        await fill(pilot, app, labels="zone=east, tier=front")
        await wait_docker(
            pilot,
            lambda: (
                swarm.node_field("swarm-node-1", "{{json .Spec.Labels}}")
                == '{"tier":"front","zone":"east"}'
            ),
        )


async def test_a_dead_node_shows_down_and_its_tasks_move(swarm: Swarm) -> None:
    swarm.service_create("web", "--replicas", "3", IMAGE)
    app = console(swarm)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.running == 3, timeout=60)
        await open_view(pilot, app, "nodes", row=1)
        await asyncio.to_thread(swarm.lab.kill, "swarm-node-1")
        await wait_docker(
            pilot,
            lambda: swarm.node_field("swarm-node-1", "{{.Status.State}}") == "down",
        )
        await wait_for(pilot, lambda: "down" in _cells(app, "swarm-node-1"), timeout=30)
        await wait_docker(
            pilot,
            lambda: sum(n for h, n in swarm.running("web").items() if h != "swarm-node-1") == 3,
        )
        # What the dead node's engine cannot tell is said, not silently missing.
        await pilot.press("colon", *"metrics", "enter")
        await wait_for(pilot, lambda: "no usage from swarm-node-1" in str(app.screen.title))


async def test_logs_come_through_the_manager_and_metrics_from_node_engines(swarm: Swarm) -> None:
    swarm.service_create("web", "--replicas", "3", IMAGE)
    app = console(swarm)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.running == 3, timeout=60)
        await pilot.press("colon", *"logs", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await wait_for(
            pilot,
            lambda: len({e.task_id for e, safe in screen.entries if "version 1" in safe}) == 3,
            timeout=30,
        )
        await pilot.press("escape")
        await pilot.press("colon", *"metrics", "enter")
        await wait_for(
            pilot,
            lambda: {"swarm-node-1", "web"} <= set(_column(app, 1)) and app.snapshot.usage,
            timeout=30,
        )
        running = {t.id for t in app.snapshot.tasks if t.status.state.value == "running"}
        assert running <= set(app.snapshot.usage)


async def test_without_node_engines_the_metrics_view_says_what_is_missing(swarm: Swarm) -> None:
    app = console(swarm, engines=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.nodes)
        await pilot.press("colon", *"metrics", "enter")
        await wait_for(pilot, lambda: "--node-engines" in str(app.screen.title))


def _cells(app: SwarmdeckApp, key_text: str) -> tuple[str, ...]:
    table = app.screen.table  # type: ignore[attr-defined]
    for row in table._rows:
        if row.cells[0] == key_text:
            return tuple(row.cells)
    return ()


def _column(app: SwarmdeckApp, index: int) -> list[str]:
    return [row.cells[index] for row in app.screen.table._rows]  # type: ignore[attr-defined]


async def test_every_view_shows_the_real_swarm(swarm: Swarm) -> None:
    swarm.service_create("web", "--replicas", "2", IMAGE)
    app = console(swarm)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.running == 2, timeout=60)
        await open_view(pilot, app, "services")
        assert _column(app, 0) == ["web"]
        assert "2/2" in _cells(app, "web")
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "tasks")
        await wait_for(pilot, lambda: len(_column(app, 2)) == 2)  # NAME, IMAGE, NODE...
        assert set(_column(app, 1)) == {IMAGE}
        assert set(_column(app, 2)) <= {"swarm-master", "swarm-node-1", "swarm-node-2"}
        await pilot.press("d")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "describe")
        shown = str(app.screen.query_one("#describe").render())
        assert "local/busybox:1" in shown and "ServiceID" in shown
        await pilot.press("escape", "escape")
        await pilot.press("colon", *"nodes", "enter")
        await wait_for(pilot, lambda: len(_column(app, 0)) == 3)
        assert _cells(app, "swarm-master")[1] == "leader"
        await pilot.press("colon", *"events", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "events")
        log = app.screen.query_one("#events")
        await wait_for(
            pilot, lambda: any("service create" in line.text for line in log.lines), timeout=30
        )
        await pilot.press("colon", *"overview", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW", "") == "overview")
        assert "3 nodes" in str(app.screen.query_one("#header").render())
