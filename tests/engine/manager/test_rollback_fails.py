"""A rollback that fails too: it runs under the rollback config, is never rolled back itself,
and pauses as SwarmKit's updater pauses it."""

from __future__ import annotations

from collections.abc import Callable

from msgspec.structs import replace

from engine.api.durations import SECOND
from engine.api.objects import Task
from engine.api.specs import FailureAction, UpdateConfig
from engine.api.types import TaskState
from tests.conftest import Sim, image_of, make_spec, update_spec

# The old spec runs 20 s, then crashes; the new one cannot start at all. Restarts wait long
# enough to stay out of the way.
OLD = {"swarmdeck.sim.crash-loop": "20s"}
BROKEN = {"swarmdeck.sim.start-error": "exec: no such file or directory"}


def status(sim: Sim) -> tuple[str | None, str | None]:
    update = sim.control.get_service("web").update_status
    return (update.state, update.message) if update else (None, None)


def seconds(value: float) -> int:
    return int(value * SECOND)


async def watch_states(sim: Sim, until: Callable[[], bool]) -> list[str]:
    """The update states the service goes through until ``until()``, each once."""
    states: list[str] = []

    def step() -> bool:
        state = status(sim)[0]
        if state and (not states or states[-1] != state):
            states.append(state)
        return until()

    await sim.until(step, timeout=300)
    return states


async def start_failing_update(
    sim: Sim, rollback: UpdateConfig | None, rollback_with_update: UpdateConfig | None = None
) -> set[str]:
    """Two replicas of the old spec (with ``rollback`` as its rollback config), then an update
    to a broken spec (with ``rollback_with_update``, if given) that rolls back on failure.

    Returns:
        The IDs of the tasks there were before the update.
    """
    spec = make_spec(replicas=2, image="nginx:1.10", labels=OLD, restart_delay=300)
    sim.control.create_service(replace(spec, rollback_config=rollback))
    await sim.converge("web", 2)
    before = {t.id for t in sim.tasks("web")}
    changes: dict[str, object] = {}
    if rollback_with_update is not None:
        changes["rollback"] = rollback_with_update
    update_spec(
        sim,
        "web",
        image="nginx:1.11",
        labels=BROKEN,
        update=UpdateConfig(
            parallelism=1, monitor=seconds(5), failure_action=FailureAction.ROLLBACK
        ),
        **changes,
    )
    return before


def made_by_rollback(sim: Sim, before: set[str]) -> list[Task]:
    """Tasks of the old image created after the update began."""
    return [t for t in sim.tasks("web") if t.id not in before and image_of(t) == "nginx:1.10"]


async def test_a_failing_rollback_pauses_with_swarmkits_message(sim: Sim) -> None:
    rollback = UpdateConfig(parallelism=1, monitor=seconds(60))  # failure action: pause
    before = await start_failing_update(sim, rollback)
    states = await watch_states(sim, lambda: status(sim)[0] == "rollback_paused")
    assert states == ["updating", "rollback_started", "rollback_paused"]
    # The rollback's own task crashed within its monitor period: that paused it. SwarmKit's
    # pause message is the same for a rollback; only the state tells them apart.
    (crashed,) = [t for t in made_by_rollback(sim, before) if t.status.state == TaskState.FAILED]
    assert status(sim)[1] == (
        f"update paused due to failure or early termination of task {crashed.id}"
    )
    service = sim.control.get_service("web")
    template = service.spec.task_template
    assert template and template.container_spec and template.container_spec.image == "nginx:1.10"
    assert service.previous_spec is None  # the spec is the previous one, which is used up
    # A paused rollback stays paused, and is never rolled back to the broken spec.
    paused_with = {t.id for t in sim.tasks("web")}
    await sim.advance(120)
    assert status(sim)[0] == "rollback_paused"
    assert not [
        t for t in sim.tasks("web") if t.id not in paused_with and image_of(t) == "nginx:1.11"
    ]


async def test_the_next_service_update_starts_afresh_after_a_paused_rollback(sim: Sim) -> None:
    await start_failing_update(sim, UpdateConfig(parallelism=1, monitor=seconds(60)))
    await sim.until(lambda: status(sim)[0] == "rollback_paused", timeout=300)
    update_spec(sim, "web", image="nginx:1.12", labels={})
    states = await watch_states(sim, lambda: status(sim)[0] == "completed")
    assert states == ["updating", "completed"]
    assert status(sim)[1] == "update completed"
    await sim.converge("web", 2)
    running = [t for t in sim.running("web") if t.desired_state == TaskState.RUNNING]
    assert {image_of(t) for t in running} == {"nginx:1.12"}


async def test_the_rollback_runs_under_the_rollback_config_of_the_spec_it_returns_to(
    sim: Sim,
) -> None:
    # The rollback config given with the failing update goes with that spec: the rollback
    # restores the previous spec and runs under its config (SwarmKit reads Spec.Rollback after
    # Spec = PreviousSpec), here the default: a 5 s monitor, past which a crash at 20 s falls.
    await start_failing_update(
        sim, None, rollback_with_update=UpdateConfig(parallelism=1, monitor=seconds(60))
    )
    states = await watch_states(sim, lambda: status(sim)[0] == "rollback_completed")
    assert states == ["updating", "rollback_started", "rollback_completed"]


async def test_a_rollback_whose_failure_action_is_continue_completes(sim: Sim) -> None:
    rollback = UpdateConfig(
        parallelism=1, monitor=seconds(60), failure_action=FailureAction.CONTINUE
    )
    before = await start_failing_update(sim, rollback)
    states = await watch_states(sim, lambda: status(sim)[0] == "rollback_completed")
    assert states == ["updating", "rollback_started", "rollback_completed"]
    assert status(sim)[1] == "rollback completed"
    # Its task crashed all the same: continue only means the rollback does not stop for it.
    await sim.until(
        lambda: any(t.status.state == TaskState.FAILED for t in made_by_rollback(sim, before)),
        what="the rollback's task crashing",
    )
