"""The simulated executor: the task state machine, injected failures, logs and usage."""

from __future__ import annotations

import gc
import re
import weakref

import pytest

from engine.agent.exec.simcontent import SimContent
from engine.api.types import TaskState
from tests.conftest import Sim, make_spec, start_sim


async def _states_of_first_task(sim: Sim, service: str, until: TaskState) -> list[TaskState]:
    """The observed states the service's first task goes through, in order."""
    seen: list[TaskState] = []

    def record() -> bool:
        tasks = sim.tasks(service)
        if tasks:
            state = tasks[0].status.state
            if not seen or seen[-1] != state:
                seen.append(state)
        return bool(seen) and seen[-1] >= until

    await sim.until(record, what=f"{service} reaching {until.value}")
    return seen


async def test_a_task_walks_the_state_machine_one_step_at_a_time(sim: Sim) -> None:
    sim.control.create_service(make_spec())
    states = await _states_of_first_task(sim, "web", TaskState.RUNNING)
    expected = [
        TaskState.NEW,
        TaskState.PENDING,
        TaskState.ASSIGNED,
        TaskState.ACCEPTED,
        TaskState.PREPARING,
        TaskState.READY,
        TaskState.STARTING,
        TaskState.RUNNING,
    ]
    # Each step is committed; a fast one may be overtaken before we look, never reordered.
    assert states == sorted(states)
    assert set(states) <= set(expected)
    assert states[-1] == TaskState.RUNNING
    (task,) = sim.tasks("web")
    assert task.status.message == "started"
    assert task.status.container_status is not None
    assert task.status.container_status.container_id
    assert task.status.container_status.pid


async def test_the_first_pull_on_a_node_is_slow_and_later_ones_are_not(sim: Sim) -> None:
    sim.control.create_service(make_spec(constraints=["node.hostname==swarm-node-1"]))
    first = await sim.converge("web", 1)
    sim.control.create_service(make_spec(name="again", constraints=["node.hostname==swarm-node-1"]))
    second = await sim.converge("again", 1)
    assert first >= 1.0  # FIRST_PULL is 1 to 3 seconds
    assert second < 1.0


async def test_a_slow_pull_label(sim: Sim) -> None:
    sim.control.create_service(make_spec(labels={"swarmdeck.sim.pull-time": "40s"}))
    took = await sim.converge("web", 1)
    assert 40 <= took < 45


async def test_a_start_error_fails_the_task(sim: Sim) -> None:
    sim.control.create_service(
        make_spec(labels={"swarmdeck.sim.start-error": "OCI runtime create failed: oops"})
    )
    await sim.until(lambda: any(t.status.state == TaskState.FAILED for t in sim.tasks("web")))
    failed = next(t for t in sim.tasks("web") if t.status.state == TaskState.FAILED)
    assert failed.status.err == "OCI runtime create failed: oops"
    assert failed.status.message == "starting"


async def test_a_pull_error_rejects_the_task(sim: Sim) -> None:
    sim.control.create_service(
        make_spec(labels={"swarmdeck.sim.pull-error": "No such image: nginx:nope"})
    )
    await sim.until(lambda: any(t.status.state == TaskState.REJECTED for t in sim.tasks("web")))
    rejected = next(t for t in sim.tasks("web") if t.status.state == TaskState.REJECTED)
    assert rejected.status.err == "No such image: nginx:nope"


async def test_an_exit_code_after_a_time(sim: Sim) -> None:
    labels = {"swarmdeck.sim.exit-code": "3", "swarmdeck.sim.exit-after": "30s"}
    sim.control.create_service(make_spec(labels=labels))
    await sim.converge("web", 1)
    running_at = sim.clock.monotonic()
    await sim.until(lambda: any(t.status.state == TaskState.FAILED for t in sim.tasks("web")))
    assert 29 <= sim.clock.monotonic() - running_at <= 31
    failed = next(t for t in sim.tasks("web") if t.status.state == TaskState.FAILED)
    assert failed.status.err == "task: non-zero exit (3)"
    assert failed.status.container_status.exit_code == 3  # type: ignore[union-attr]


async def test_the_same_seed_gives_the_same_cluster() -> None:
    async def run(seed: int) -> tuple[list[str], list[tuple[int, str]], list[str]]:
        sim = await start_sim(seed=seed)
        try:
            sim.control.create_service(make_spec(replicas=5))
            await sim.converge("web", 5)
            await sim.advance(20)
            tasks = sim.running("web")
            container = sim.cluster.nodes["swarm-master"].executor.containers
            content = next(iter(container.values())).content
            assert content is not None
            lines = [line.text for line in content.lines(0, sim.clock.time())]
            return (
                sorted(n.id for n in sim.control.list_nodes()),
                [(t.slot, sim.hostname(t.node_id)) for t in tasks],
                lines,
            )
        finally:
            await sim.cluster.stop()

    first, again, other = await run(11), await run(11), await run(12)
    assert first == again
    assert first[0] != other[0]
    assert first[2] != other[2]


def test_nginx_logs_are_access_lines_and_other_images_log_plainly() -> None:
    nginx = SimContent(1, "task-a", "nginx:1.10", started=1000.0)
    lines = list(nginx.lines(1000.0, 1060.0))
    assert len(lines) > 30
    access = re.compile(r'^10\.255\.0\.\d+ - - \[.+\] "GET \S+ HTTP/1\.1" \d{3} \d+ "-" ".+"$')
    assert all(access.match(line.text) for line in lines[2:])
    assert [line.time for line in lines] == sorted(line.time for line in lines)
    worker = SimContent(1, "task-b", "example/worker:1", started=1000.0)
    texts = [line.text for line in worker.lines(1000.0, 1100.0)]
    assert any(re.match(r"^(INFO|DEBUG|WARN|ERROR)\s+\w", text) for text in texts)


def test_log_windows_read_the_same_every_time() -> None:
    content = SimContent(5, "task", "nginx", started=0.0)
    whole = list(content.lines(0.0, 300.0))
    halves = list(content.lines(0.0, 150.0)) + list(content.lines(150.0, 300.0))
    assert whole == halves == list(content.lines(0.0, 300.0))


def test_cpu_and_memory_series_are_plausible_and_repeatable() -> None:
    content = SimContent(5, "task", "nginx", started=0.0)
    counters = [content.cpu_seconds(t) for t in range(0, 600, 5)]
    assert counters == sorted(counters)  # a counter never goes back
    assert all(0 < content.cpu_cores(t) < 1 for t in range(0, 600, 5))
    memory = [content.memory_bytes(t) for t in range(0, 600, 30)]
    assert all(16 * 2**20 <= m < 256 * 2**20 for m in memory)
    again = SimContent(5, "task", "nginx", started=0.0)
    assert [again.cpu_seconds(t) for t in range(0, 600, 5)] == counters


@pytest.mark.parametrize("image", ["nginx:1.10", "example/worker:1"])
def test_a_containers_content_is_freed_as_soon_as_it_is_let_go(image: str) -> None:
    # A reference cycle would keep it until a full collection: in a served engine, frozen
    # for up to an hour (engine.collector).
    content = SimContent(1, "task", image, started=0.0)
    list(content.lines(0.0, 60.0))
    gone = weakref.ref(content)
    gc.disable()
    try:
        del content
        assert gone() is None
    finally:
        gc.enable()
