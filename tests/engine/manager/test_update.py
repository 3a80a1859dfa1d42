"""Rolling updates, rollbacks and health checks, as SwarmKit's updater does them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from engine.api.durations import SECOND
from engine.api.specs import FailureAction, HealthConfig, UpdateConfig, UpdateOrder
from engine.api.types import TaskState
from engine.clock import FakeClock
from tests.conftest import Sim, image_of, make_spec, start_sim, update_spec

BROKEN = {"swarmdeck.sim.start-error": "exec: no such file or directory"}


def serving(sim: Sim, service: str) -> list[str]:
    """Images of the running tasks that are meant to run."""
    return sorted(image_of(t) for t in sim.running(service) if t.desired_state == TaskState.RUNNING)


def status(sim: Sim, service: str) -> tuple[str | None, str | None]:
    update = sim.control.get_service(service).update_status
    return (update.state, update.message) if update else (None, None)


async def watch(
    sim: Sim, until: Callable[[], bool], sample: Callable[[], None], timeout: float = 300
) -> None:
    """Runs until ``until()``, calling ``sample()`` after every step of the simulation."""

    def step() -> bool:
        sample()
        return until()

    await sim.until(step, timeout=timeout)


def config(**fields: object) -> UpdateConfig:
    values = {"parallelism": 1, "monitor": 5 * SECOND, **fields}
    for name in ("delay", "monitor"):
        if isinstance(values.get(name), int | float) and values[name] < 1000:  # type: ignore[operator]
            values[name] = int(values[name] * SECOND)  # type: ignore[operator]
    return UpdateConfig(**values)  # type: ignore[arg-type]


async def test_the_seed_walkthrough_one_at_a_time_two_seconds_apart(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=3, image="nginx:1.10"))
    await sim.converge("web", 3)
    update_spec(sim, "web", image="nginx:1.11", update=config(parallelism=1, delay=2))
    lowest_running = 3
    created: dict[str, float] = {}

    def sample() -> None:
        nonlocal lowest_running
        lowest_running = min(lowest_running, len(sim.running("web")))
        for task in sim.tasks("web"):
            if image_of(task) == "nginx:1.11":
                created.setdefault(task.id, sim.clock.monotonic())

    await watch(sim, lambda: status(sim, "web")[0] == "completed", sample)
    assert lowest_running >= 2  # never more than one task down at a time
    starts = sorted(created.values())
    assert len(starts) == 3
    assert all(later - earlier >= 2.0 for earlier, later in itertools.pairwise(starts))
    assert serving(sim, "web") == ["nginx:1.11"] * 3
    assert status(sim, "web") == ("completed", "update completed")
    service = sim.control.get_service("web")
    assert service.update_status.started_at and service.update_status.completed_at  # type: ignore[union-attr]


async def test_parallelism_zero_updates_every_task_at_once(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=4, image="nginx:1.10"))
    await sim.converge("web", 4)
    update_spec(sim, "web", image="nginx:1.11", update=config(parallelism=0))
    await sim.until(lambda: status(sim, "web")[0] == "completed")
    new = [t for t in sim.tasks("web") if image_of(t) == "nginx:1.11"]
    assert len({t.created_at for t in new}) == 1  # all created in one go


async def test_start_first_never_has_fewer_than_the_replicas_running(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=3, image="nginx:1.10"))
    await sim.converge("web", 3)
    update_spec(
        sim, "web", image="nginx:1.11", update=config(order=UpdateOrder.START_FIRST, delay=1)
    )
    lowest = 3
    highest = 3

    def sample() -> None:
        nonlocal lowest, highest
        running = len(sim.running("web"))
        lowest, highest = min(lowest, running), max(highest, running)

    await watch(sim, lambda: status(sim, "web")[0] == "completed", sample)
    assert lowest >= 3
    assert highest == 4  # one extra task while each slot changes over
    assert serving(sim, "web") == ["nginx:1.11"] * 3


async def test_a_failing_update_pauses_by_default(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=3, image="nginx:1.10"))
    await sim.converge("web", 3)
    update_spec(sim, "web", image="nginx:1.11", labels=BROKEN, update=config())
    await sim.until(lambda: status(sim, "web")[0] == "paused")
    _, message = status(sim, "web")
    failed = [t for t in sim.tasks("web") if t.status.state == TaskState.FAILED]
    assert message == (f"update paused due to failure or early termination of task {failed[0].id}")
    await sim.advance(60)
    # Paused: the other two slots still run the old image.
    assert serving(sim, "web") == ["nginx:1.10", "nginx:1.10"]
    assert status(sim, "web")[0] == "paused"


async def test_a_failing_update_with_rollback_rolls_back(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=3, image="nginx:1.10"))
    await sim.converge("web", 3)
    update_spec(
        sim,
        "web",
        image="nginx:1.11",
        labels=BROKEN,
        update=config(failure_action=FailureAction.ROLLBACK),
    )
    states: list[str] = []

    def sample() -> None:
        state = status(sim, "web")[0]
        if state and (not states or states[-1] != state):
            states.append(state)

    await watch(sim, lambda: status(sim, "web")[0] == "rollback_completed", sample)
    assert states == ["updating", "rollback_started", "rollback_completed"]
    assert status(sim, "web")[1] == "rollback completed"
    service = sim.control.get_service("web")
    assert image_of_spec(service.spec) == "nginx:1.10"
    await sim.converge("web", 3)
    assert serving(sim, "web") == ["nginx:1.10"] * 3


async def test_a_failing_update_with_continue_goes_on(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=3, image="nginx:1.10"))
    await sim.converge("web", 3)
    update_spec(
        sim,
        "web",
        image="nginx:1.11",
        labels=BROKEN,
        update=config(failure_action=FailureAction.CONTINUE),
    )
    await sim.until(lambda: status(sim, "web")[0] == "completed")
    meant = [t for t in sim.tasks("web") if t.desired_state <= TaskState.RUNNING]
    assert {image_of(t) for t in meant} == {"nginx:1.11"}
    assert {t.slot for t in meant} == {1, 2, 3}


async def test_max_failure_ratio_is_honoured(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=4, image="nginx:1.10", restart_delay=300))
    await sim.converge("web", 4)
    # Over 50% of 4 slots: the third failure pauses the update, the fourth slot is untouched.
    update_spec(sim, "web", image="nginx:1.11", labels=BROKEN, update=config(max_failure_ratio=0.5))
    await sim.until(lambda: status(sim, "web")[0] == "paused")
    touched = {t.slot for t in sim.tasks("web") if image_of(t) == "nginx:1.11"}
    assert len(touched) == 3
    assert serving(sim, "web") == ["nginx:1.10"]


async def test_turning_unhealthy_within_the_monitor_period_is_a_failure(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=2, image="nginx:1.10"))
    await sim.converge("web", 2)
    health = HealthConfig(test=["CMD", "true"], interval=1 * SECOND, retries=2)
    update_spec(
        sim,
        "web",
        image="nginx:1.11",
        health=health,
        labels={"swarmdeck.sim.unhealthy-after": "4s"},
        update=config(monitor=30),
    )
    await sim.until(lambda: status(sim, "web")[0] == "paused")
    unhealthy = [t for t in sim.tasks("web") if t.status.err == "dockerexec: unhealthy container"]
    assert unhealthy


async def test_rollback_previous_and_a_second_rollback(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=2, image="nginx:1.10"))
    await sim.converge("web", 2)
    update_spec(sim, "web", image="nginx:1.11", update=config())
    await sim.until(lambda: status(sim, "web")[0] == "completed")

    def roll_back() -> None:
        service = sim.control.get_service("web")
        sim.control.update_service(service.id, service.version.index, None, rollback=True)

    roll_back()
    assert status(sim, "web") == ("rollback_started", "manually requested rollback")
    await sim.until(lambda: status(sim, "web")[0] == "rollback_completed")
    assert serving(sim, "web") == ["nginx:1.10"] * 2
    roll_back()  # back to the newer one, as Docker does
    await sim.until(lambda: status(sim, "web")[0] == "rollback_completed")
    assert serving(sim, "web") == ["nginx:1.11"] * 2
    assert image_of_spec(sim.control.get_service("web").spec) == "nginx:1.11"


async def test_force_update_redeploys_every_task(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=3))
    await sim.converge("web", 3)
    before = {t.id for t in sim.running("web")}
    update_spec(sim, "web", force=True, update=config(parallelism=0))
    await sim.until(lambda: status(sim, "web")[0] == "completed")
    await sim.converge("web", 3)
    after = {t.id for t in sim.running("web") if t.desired_state == TaskState.RUNNING}
    assert len(after) == 3 and not (after & before)


async def test_an_unhealthy_task_is_replaced(sim: Sim) -> None:
    health = HealthConfig(test=["CMD", "true"], interval=2 * SECOND, retries=3)
    sim.control.create_service(make_spec(labels={"swarmdeck.sim.unhealthy-after": "10s"}))
    update_spec(sim, "web", health=health)
    await sim.until(lambda: any(t.status.state == TaskState.FAILED for t in sim.tasks("web")))
    failed = next(t for t in sim.tasks("web") if t.status.state == TaskState.FAILED)
    assert failed.status.err == "dockerexec: unhealthy container"
    await sim.until(lambda: len(sim.tasks("web")) >= 2, what="a replacement")


async def test_a_task_that_never_gets_healthy_never_counts_as_running(sim: Sim) -> None:
    health = HealthConfig(test=["CMD", "true"], interval=5 * SECOND, retries=3)
    spec = make_spec(labels={"swarmdeck.sim.health": "unhealthy"})
    sim.control.create_service(spec)
    update_spec(sim, "web", health=health)
    states: set[TaskState] = set()

    def sample() -> None:
        states.update(t.status.state for t in sim.tasks("web"))

    await watch(
        sim, lambda: any(t.status.state == TaskState.FAILED for t in sim.tasks("web")), sample
    )
    assert TaskState.STARTING in states
    assert TaskState.RUNNING not in states
    failed = next(t for t in sim.tasks("web") if t.status.state == TaskState.FAILED)
    assert failed.status.message == "starting"


async def test_an_image_health_check_applies_unless_turned_off(sim: Sim) -> None:
    # example/api carries a HEALTHCHECK (every 10 s): its tasks run only after the first pass.
    sim.control.create_service(make_spec(name="api", image="example/api:2.3"))
    took = await sim.converge("api", 1)
    assert took >= 10
    sim.control.create_service(make_spec(name="plain", image="example/api:2.3"))
    update_spec(sim, "plain", health=HealthConfig(test=["NONE"]))
    took = await sim.converge("plain", 1)
    assert took < 10


async def test_an_update_goes_on_after_an_engine_restart(tmp_path: Path) -> None:
    sim = await start_sim(data_dir=str(tmp_path))
    sim.control.create_service(make_spec(replicas=6, image="nginx:1.10"))
    await sim.converge("web", 6)
    update_spec(sim, "web", image="nginx:1.11", update=config(parallelism=1, delay=10))
    await sim.until(lambda: serving(sim, "web").count("nginx:1.11") == 2, what="two updated")
    updated = {t.id for t in sim.running("web") if image_of(t) == "nginx:1.11"}
    clock = FakeClock(start=sim.clock.time())
    await sim.cluster.stop()

    again = await start_sim(data_dir=str(tmp_path), clock=clock)
    try:
        assert status(again, "web")[0] == "updating"
        await again.until(lambda: status(again, "web")[0] == "completed", timeout=300)
        assert serving(again, "web") == ["nginx:1.11"] * 6
        still = {t.id for t in again.running("web") if t.desired_state == TaskState.RUNNING}
        assert updated <= still  # what was updated before the restart was not redone
    finally:
        await again.cluster.stop()


def image_of_spec(spec: object) -> str:
    template = spec.task_template  # type: ignore[attr-defined]
    return template.container_spec.image  # type: ignore[no-any-return]


async def test_failures_in_the_start_period_do_not_count(sim: Sim) -> None:
    health = HealthConfig(
        test=["CMD", "true"], interval=2 * SECOND, retries=1, start_period=20 * SECOND
    )
    sim.control.create_service(make_spec(labels={"swarmdeck.sim.health": "unhealthy"}))
    update_spec(sim, "web", health=health)
    await sim.until(lambda: any(t.status.state == TaskState.STARTING for t in sim.tasks("web")))
    starting_at = sim.clock.monotonic()
    await sim.until(lambda: any(t.status.state == TaskState.FAILED for t in sim.tasks("web")))
    assert 20 <= sim.clock.monotonic() - starting_at <= 23


async def test_removing_a_service_stops_its_update(sim: Sim) -> None:
    updates = sim.cluster.manager.updates
    for mode in ("replicated", "global"):
        name = f"going-{mode}"
        sim.control.create_service(make_spec(name=name, mode=mode, replicas=3))
        await sim.converge(name, 3)
        update_spec(sim, name, image="nginx:1.11", update=config(delay=60))
        service_id = sim.control.get_service(name).id
        await sim.until(lambda sid=service_id: sid in updates.in_progress)
        sim.control.remove_service(name)
        # At once, not when its 60 s delay would have run out.
        await sim.until(
            lambda sid=service_id: sid not in updates.in_progress,
            timeout=5,
            what=f"{mode} update stopped",
        )
