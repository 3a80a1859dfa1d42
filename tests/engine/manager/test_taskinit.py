"""Task initialisation: a restarted engine finishes what the one before it left half done."""

from __future__ import annotations

import time
from pathlib import Path

from engine.api.durations import SECOND, parse_timestamp
from engine.api.objects import Task, UpdateStatus
from engine.api.specs import UpdateConfig
from engine.api.types import TaskState
from engine.clock import FakeClock
from engine.store import MemoryStore, SqlitePersistence, by, delete_service, find_tasks
from tests.conftest import Sim, image_of, make_spec, start_sim, update_spec

CRASH = {"swarmdeck.sim.crash-loop": "1s"}


async def restart(sim: Sim, data_dir: Path, after: float = 0.0) -> Sim:
    """Stops the cluster and starts another on its data directory, ``after`` seconds later."""
    clock = FakeClock(start=sim.clock.time() + after)
    await sim.cluster.stop()
    return await start_sim(data_dir=str(data_dir), clock=clock)


async def crash_until_parked(sim: Sim) -> Task:
    """A crash-looping service with a 10 s restart delay, until its replacement waits."""
    sim.control.create_service(make_spec(labels=CRASH, restart_delay=10))
    await sim.until(
        lambda: any(t.desired_state == TaskState.READY for t in sim.tasks("web")),
        what="a replacement waiting out its delay",
    )
    return next(t for t in sim.tasks("web") if t.desired_state == TaskState.READY)


def offline(data_dir: Path) -> MemoryStore:
    return MemoryStore(time.time, SqlitePersistence(data_dir))


async def test_tasks_of_a_service_removed_just_before_a_stop_are_shut_down_and_reaped(
    tmp_path: Path,
) -> None:
    sim = await start_sim(data_dir=str(tmp_path))
    sim.control.create_service(make_spec(replicas=3))
    sim.control.create_service(make_spec(name="kept", replicas=2))
    await sim.converge("web", 3)
    await sim.converge("kept", 2)
    web = sim.control.get_service("web").id
    clock_time = sim.clock.time()
    await sim.cluster.stop()
    # The removal was written, the orchestrator's answer to it was not.
    store = offline(tmp_path)
    store.update(lambda tx: delete_service(tx, web))
    left = store.view(lambda tx: find_tasks(tx, by.service_id(web)))
    assert [t.desired_state for t in left] == [TaskState.RUNNING] * 3
    store.close()

    again = await start_sim(data_dir=str(tmp_path), clock=FakeClock(start=clock_time))
    try:
        await again.until(
            lambda: not again.control.list_tasks(web), what="the removed service's tasks reaped"
        )
        await again.converge("kept", 2)
    finally:
        await again.cluster.stop()


async def test_a_restart_mid_delay_starts_the_task_when_the_stored_deadline_passes(
    tmp_path: Path,
) -> None:
    sim = await start_sim(data_dir=str(tmp_path))
    parked = await crash_until_parked(sim)
    deadline = parse_timestamp(parked.created_at or "") + 10
    sim = await restart(sim, tmp_path, after=4)  # 4 s into the 10 s delay
    try:
        started = await sim.until(
            lambda: sim.control.get_task(parked.id).desired_state == TaskState.RUNNING,
            what="the parked task started",
        )
        assert abs(sim.clock.time() - deadline) < 0.5, (started, deadline)
        await sim.until(
            lambda: sim.control.get_task(parked.id).status.state >= TaskState.RUNNING,
            what="the parked task running",
        )
    finally:
        await sim.cluster.stop()


async def test_a_task_whose_delay_passed_while_stopped_starts_at_once(tmp_path: Path) -> None:
    sim = await start_sim(data_dir=str(tmp_path))
    parked = await crash_until_parked(sim)
    sim = await restart(sim, tmp_path, after=60)
    try:
        took = await sim.until(
            lambda: sim.control.get_task(parked.id).desired_state == TaskState.RUNNING,
            what="the parked task started",
        )
        assert took < 1
    finally:
        await sim.cluster.stop()


async def test_an_update_stopped_with_a_slot_parked_resumes_and_completes(
    tmp_path: Path,
) -> None:
    sim = await start_sim(data_dir=str(tmp_path))
    sim.control.create_service(make_spec(replicas=2))
    await sim.converge("web", 2)
    update_spec(
        sim, "web", image="nginx:1.11", update=UpdateConfig(parallelism=1, delay=30 * SECOND)
    )
    await sim.until(
        lambda: any(t.desired_state == TaskState.READY for t in sim.tasks("web")),
        what="the first slot's new task parked until its old one stops",
    )
    parked = next(t for t in sim.tasks("web") if t.desired_state == TaskState.READY)
    sim = await restart(sim, tmp_path)
    try:
        await sim.until(
            lambda: (
                [image_of(t) for t in sim.running("web") if t.desired_state == TaskState.RUNNING]
                == ["nginx:1.11"] * 2
            ),
            timeout=300,
            what="both slots on the new image",
        )
        assert sim.control.get_task(parked.id).status.state == TaskState.RUNNING
        await sim.until(
            lambda: (
                (sim.control.get_service("web").update_status or UpdateStatus()).state
                == "completed"
            ),
            what="the update completed",
        )
    finally:
        await sim.cluster.stop()


async def test_restarts_made_before_a_stop_count_towards_max_attempts(tmp_path: Path) -> None:
    sim = await start_sim(data_dir=str(tmp_path))
    sim.control.create_service(make_spec(labels=CRASH, restart_delay=1, max_attempts=3))
    await sim.until(lambda: len(sim.tasks("web")) == 3, what="two restarts")
    sim = await restart(sim, tmp_path)
    try:
        await sim.advance(60)
        # One more restart after the stop, not three more: four tasks in all.
        assert len(sim.tasks("web")) == 4
    finally:
        await sim.cluster.stop()


async def test_a_slot_whose_old_task_never_left_pending_is_replaced_at_once(
    tmp_path: Path,
) -> None:
    """An old task that no node ever had has nothing to stop: its replacement does not wait
    for it (it used to wait out the minute given to a task to stop). The update then waits
    for that task to run, as SwarmKit's does."""
    sim = await start_sim(data_dir=str(tmp_path))
    try:
        sim.control.create_service(make_spec(replicas=2, constraints=["node.labels.none==x"]))
        await sim.until(
            lambda: [t.status.state for t in sim.tasks("web")] == [TaskState.PENDING] * 2,
            what="two tasks no node can take",
        )
        update_spec(sim, "web", image="nginx:1.11")
        took = await sim.until(
            lambda: any(
                image_of(t) == "nginx:1.11" and t.desired_state == TaskState.RUNNING
                for t in sim.tasks("web")
            ),
            what="the first slot's new task meant to run",
        )
        assert took < 5
    finally:
        await sim.cluster.stop()
