"""Renderers: rows from snapshots, without Textual."""

from __future__ import annotations

import dataclasses

from msgspec.structs import replace

from console.model import Snapshot
from console.render.formatting import age_until, bar, size
from console.render.rows import service_rows
from engine.api.durations import human_duration, human_duration_until
from engine.api.objects import (
    Service,
    ServiceStatus,
    Task,
    TaskStatus,
    UpdateStatus,
)
from engine.api.specs import (
    ContainerSpec,
    GlobalJob,
    ReplicatedJob,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from engine.api.types import TaskState


def service(image: str = "nginx:1.11") -> Service:
    return Service(
        id="s1",
        spec=ServiceSpec(
            name="web",
            mode=ServiceMode(replicated=ReplicatedService(replicas=3)),
            task_template=TaskSpec(container_spec=ContainerSpec(image=image)),
        ),
        update_status=UpdateStatus(state="updating"),
    )


def task(number: int, image: str) -> Task:
    return Task(
        id=f"t{number}",
        service_id="s1",
        slot=number,
        node_id="n1",
        spec=TaskSpec(container_spec=ContainerSpec(image=image)),
        desired_state=TaskState.RUNNING,
        status=TaskStatus(state=TaskState.RUNNING),
    )


def test_an_update_shows_its_progress() -> None:
    snapshot = Snapshot(
        services=(service(),),
        tasks=(task(1, "nginx:1.11"), task(2, "nginx:1.11"), task(3, "nginx:1.10")),
    )
    (row,) = service_rows(snapshot)
    assert row.cells[2] == "3/3"
    assert row.cells[7] == "updating 2/3"
    assert row.state == "busy"
    paused = replace(snapshot.services[0], update_status=UpdateStatus(state="paused"))
    (row,) = service_rows(dataclasses.replace(snapshot, services=(paused,)))
    assert row.cells[7] == "paused 2/3" and row.state == "bad"


def test_jobs_show_their_completions_as_docker_service_ls_does() -> None:
    status = ServiceStatus(running_tasks=1, desired_tasks=1, completed_tasks=2)
    job = replace(
        service(),
        spec=replace(
            service().spec,
            mode=ServiceMode(replicated_job=ReplicatedJob(max_concurrent=1, total_completions=3)),
        ),
        update_status=None,
        service_status=status,
    )
    (row,) = service_rows(Snapshot(services=(job,)))
    assert row.cells[1:3] == ("replicated job", "1/1 (2/3 completed)")
    done = replace(status, running_tasks=0, desired_tasks=0, completed_tasks=3)
    everywhere = replace(
        job, spec=replace(job.spec, mode=ServiceMode(global_job=GlobalJob())), service_status=done
    )
    (row,) = service_rows(Snapshot(services=(everywhere,)))
    assert row.cells[1:3] == ("global job", "0/0 (3/3 completed)") and row.state == "ok"


def test_an_age_and_its_end_are_those_of_the_duration_it_comes_from() -> None:
    """Ages are looked up by the whole second below an hour and by the half hour above."""
    moment = 1767225600.0
    edges = [-5.5, 0, 0.4, 59.99, 61.5, 3599.9, 3600, 5399.9, 5400, 2 * 365 * 86400 - 1]
    for elapsed in [*edges, *(step * 997.3 for step in range(100_000))]:  # three years
        seconds = max(0.0, elapsed)
        expected = (f"{human_duration(seconds)} ago", moment + human_duration_until(seconds)[1])
        assert age_until(moment, moment + elapsed) == expected, elapsed


def test_formats() -> None:
    assert [size(512), size(64 * 2**20), size(3 * 2**30)] == ["512B", "64MiB", "3GiB"]
    assert bar(2, 4, width=8) == "████░░░░"
    assert bar(0, 0, width=4) == "░░░░"
