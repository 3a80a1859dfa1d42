"""Restart policies (condition, delay, max attempts, window) and task history retention."""

from __future__ import annotations

from engine.api.specs import RestartCondition
from engine.api.types import TaskState
from tests.conftest import Sim, make_spec

CRASH = {"swarmdeck.sim.crash-loop": "2s"}
FINISH = {"swarmdeck.sim.exit-after": "2s"}  # exits 0


def _created(sim: Sim, service: str, seen: set[str]) -> int:
    seen.update(t.id for t in sim.tasks(service))
    return len(seen)


async def test_condition_any_restarts_a_task_that_exits_zero(sim: Sim) -> None:
    sim.control.create_service(make_spec(labels=FINISH, restart=RestartCondition.ANY))
    seen: set[str] = set()
    await sim.until(lambda: _created(sim, "web", seen) >= 3, what="two restarts")
    completed = [t for t in sim.tasks("web") if t.status.state == TaskState.COMPLETE]
    assert completed and all(t.desired_state == TaskState.SHUTDOWN for t in completed)
    assert {t.slot for t in sim.tasks("web")} == {1}  # replacements keep the slot


async def test_condition_on_failure_does_not_restart_a_completed_task(sim: Sim) -> None:
    sim.control.create_service(make_spec(labels=FINISH, restart=RestartCondition.ON_FAILURE))
    await sim.until(lambda: any(t.status.state == TaskState.COMPLETE for t in sim.tasks("web")))
    await sim.advance(60)
    (task,) = sim.tasks("web")
    assert task.status.state == TaskState.COMPLETE


async def test_condition_on_failure_restarts_a_failed_task(sim: Sim) -> None:
    sim.control.create_service(make_spec(labels=CRASH, restart=RestartCondition.ON_FAILURE))
    seen: set[str] = set()
    await sim.until(lambda: _created(sim, "web", seen) >= 2, what="a restart")
    failed = [t for t in sim.tasks("web") if t.status.state == TaskState.FAILED]
    assert failed[0].status.err == "task: non-zero exit (1)"
    assert failed[0].status.container_status is not None
    assert failed[0].status.container_status.exit_code == 1


async def test_condition_none_never_restarts(sim: Sim) -> None:
    sim.control.create_service(make_spec(labels=CRASH, restart=RestartCondition.NONE))
    await sim.until(lambda: any(t.status.state == TaskState.FAILED for t in sim.tasks("web")))
    await sim.advance(120)
    (task,) = sim.tasks("web")
    assert task.status.state == TaskState.FAILED


async def test_the_restart_delay_is_waited_before_the_new_task_starts(sim: Sim) -> None:
    sim.control.create_service(make_spec(labels=CRASH, restart_delay=20))
    await sim.until(lambda: any(t.status.state == TaskState.FAILED for t in sim.tasks("web")))
    failed_at = sim.clock.monotonic()
    # The replacement is prepared at once and parked in READY for the delay.
    await sim.until(lambda: any(t.status.state == TaskState.READY for t in sim.tasks("web")))
    (parked,) = [t for t in sim.tasks("web") if t.status.state == TaskState.READY]
    assert parked.desired_state == TaskState.READY
    started = await sim.until(
        lambda: any(
            t.status.state == TaskState.RUNNING and t.id == parked.id for t in sim.tasks("web")
        )
    )
    assert 20.0 <= sim.clock.monotonic() - failed_at <= 21.0, started


async def test_max_attempts_caps_restarts(sim: Sim) -> None:
    sim.control.create_service(make_spec(labels=CRASH, restart_delay=1, max_attempts=2))
    seen: set[str] = set()
    await sim.advance(120)
    _created(sim, "web", seen)
    assert len(seen) == 3  # the first run and two restarts
    assert all(t.status.state == TaskState.FAILED for t in sim.tasks("web"))


async def test_max_attempts_counts_only_restarts_within_the_window(sim: Sim) -> None:
    # Each run lasts 12 s, longer than the 10 s window: no two restarts fall in one window,
    # so the cap of 2 never bites and the task keeps being restarted.
    slow_crash = {"swarmdeck.sim.crash-loop": "12s"}
    sim.control.create_service(
        make_spec(labels=slow_crash, restart_delay=1, max_attempts=2, window=10)
    )
    seen: set[str] = set()
    for _ in range(120):
        await sim.advance(1)
        _created(sim, "web", seen)
    assert len(seen) - 1 >= 6
    # Without the window the same service stops after two restarts.
    sim.control.create_service(
        make_spec(name="capped", labels=slow_crash, restart_delay=1, max_attempts=2)
    )
    capped: set[str] = set()
    for _ in range(120):
        await sim.advance(1)
        _created(sim, "capped", capped)
    assert len(capped) - 1 == 2


async def test_history_keeps_five_tasks_per_slot(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=2, labels=CRASH, restart_delay=0.5))
    seen: set[str] = set()
    await sim.until(lambda: _created(sim, "web", seen) >= 16, what="many restarts")
    await sim.advance(1)
    per_slot: dict[int, int] = {}
    for task in sim.tasks("web"):
        per_slot[task.slot] = per_slot.get(task.slot, 0) + 1
    assert per_slot == {1: 5, 2: 5}


async def test_history_keeps_max_attempts_plus_one_when_that_is_more(sim: Sim) -> None:
    sim.control.create_service(make_spec(labels=CRASH, restart_delay=0.5, max_attempts=7))
    await sim.advance(120)
    assert len(sim.tasks("web")) == 8
