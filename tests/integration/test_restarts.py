"""A served engine stopped between two steps of a change (SIGKILL, SIGTERM) finishes the change
when it starts again: no task of a removed service runs on, no restart waits forever."""

from __future__ import annotations

import asyncio
import signal
import socket as sockets
import time
from pathlib import Path

from engine.api.types import TaskState
from engine.store import MemoryStore, SqlitePersistence, by, find_tasks
from tests.integration.conftest import Engine, start_engine, wait_until
from tests.integration.test_api_errors import call

ROUNDS = 3
# Replicas of the removed service: more than the orchestrator shuts down in one step, so that
# its later steps are still unwritten when the acknowledged removal is.
REPLICAS = 2000


def tasks(engine: Engine, service: str) -> list[dict[str, object]]:
    ids = engine.docker("service", "ps", "-q", "--no-trunc", service).split()
    return engine.docker_json("inspect", *ids) if ids else []


def task_services(engine: Engine) -> list[str]:
    """The service of every task the engine has."""
    status, found, _ = asyncio.run(call(engine, "GET", "/tasks"))
    assert status == 200 and isinstance(found, list)
    return [task["ServiceID"] for task in found]  # type: ignore[index]


def running(engine: Engine, service: str) -> list[dict[str, object]]:
    return [
        t
        for t in tasks(engine, service)
        if t["DesiredState"] == "running" and t["Status"]["State"] == "running"  # type: ignore[index]
    ]


def kill_on_answer(engine: Engine, request: bytes) -> bytes:
    """Sends ``request`` and SIGKILLs the engine the moment its answer's first bytes arrive."""
    with sockets.socket(sockets.AF_UNIX) as connection:
        connection.connect(str(engine.socket))
        connection.sendall(request)
        first = connection.recv(64)
        engine.process.send_signal(signal.SIGKILL)
    engine.process.wait(timeout=10)
    return first


def stored_tasks(data_dir: Path, service_id: str) -> list[TaskState]:
    """The desired states of the service's tasks as the stopped engine left them."""
    store = MemoryStore(time.time, SqlitePersistence(data_dir))
    try:
        found = store.view(lambda tx: find_tasks(tx, by.service_id(service_id)))
        return [task.desired_state for task in found]
    finally:
        store.close()


def test_a_sigkill_right_after_service_rm_leaves_no_task_running(tmp_path: Path) -> None:
    """F1: the removal is acknowledged and written, its tasks' shutdown is not; after the
    restart they are shut down and deleted."""
    left_running = [rm_then_kill(tmp_path / f"round-{n}", seed=n) for n in range(ROUNDS)]
    # The state the fix is for was reached: tasks meant to run, of a service that is gone.
    assert any(left_running), f"tasks left meant to run per round: {left_running}"


def rm_then_kill(here: Path, seed: int) -> int:
    """One round: SIGKILL right after ``service rm``, then a restart that must clean up.
    Returns how many of the service's tasks the killed engine left meant to run."""
    here.mkdir()
    engine = start_engine(here, "--seed", str(seed))
    engine.docker("service", "create", "--detach", "--name", "web", "--replicas", str(REPLICAS),
                  "nginx:1.10")  # fmt: skip
    wait_until(lambda: len(running(engine, "web")) == REPLICAS, 60, "every task running")
    service_id = engine.docker("service", "inspect", "-f", "{{.ID}}", "web").strip()
    answer = kill_on_answer(engine, b"DELETE /v1.41/services/web HTTP/1.1\r\nHost: d\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200"), answer
    left = sum(state <= TaskState.RUNNING for state in stored_tasks(engine.data_dir, service_id))

    again = start_engine(here)
    try:
        assert "web" not in again.docker("service", "ls", "--format", "{{.Name}}").split()
        wait_until(
            lambda: service_id not in task_services(again),
            30,
            "the removed service's tasks deleted",
        )
    finally:
        assert again.stop() == 0
    return left


def test_a_sigterm_while_a_restart_waits_out_its_delay_still_restarts(tmp_path: Path) -> None:
    """F2: the crash-looping service's replacement, parked at desired READY, is started after
    the engine comes back, instead of staying at 0/1 for good."""
    engine = start_engine(tmp_path, "--seed", "3")
    engine.docker("service", "create", "--detach", "--name", "loop", "--restart-delay", "3s",
                  "--container-label", "swarmdeck.sim.crash-loop=1s", "nginx:1.10")  # fmt: skip
    parked = wait_until(
        lambda: [t for t in tasks(engine, "loop") if t["DesiredState"] == "ready"],
        30,
        "a replacement waiting out its restart delay",
    )[0]
    assert engine.stop() == 0
    service_id = str(parked["ServiceID"])
    assert TaskState.READY in stored_tasks(engine.data_dir, service_id)

    again = start_engine(tmp_path)
    try:
        wait_until(
            lambda: (
                again.docker_json("inspect", str(parked["ID"]))[0]["Status"]["State"]
                in ("running", "failed")
            ),
            30,
            "the parked task started",
        )
        # And the loop goes on: later replacements are made and started too.
        seen = {t["ID"] for t in tasks(again, "loop")}
        wait_until(
            lambda: [
                t
                for t in tasks(again, "loop")
                if t["ID"] not in seen and t["Status"]["State"] in ("running", "failed")
            ],
            30,
            "a later replacement started",
        )
    finally:
        assert again.stop() == 0
