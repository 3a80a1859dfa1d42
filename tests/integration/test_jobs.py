"""Jobs (API 1.41) through the real docker CLI and the Docker SDK: tasks run to completion and are
not restarted, a replicated job keeps to its concurrency, a global job runs once per node, and a
forced update runs a job again."""

from __future__ import annotations

import json

import docker
import docker.types

from tests.integration.conftest import Engine, wait_until


def tasks(engine: Engine, service: str) -> list[dict[str, object]]:
    lines = engine.docker("service", "ps", service, "--format", "{{json .}}").splitlines()
    return [json.loads(line) for line in lines]


def replicas(engine: Engine, service: str) -> str:
    return engine.docker(
        "service", "ls", "--filter", f"name={service}", "--format", "{{.Replicas}}"
    )


def test_a_replicated_job_completes_one_at_a_time_and_is_not_restarted(engine: Engine) -> None:
    engine.docker(
        "service", "create", "--detach", "--name", "batch", "--mode", "replicated-job",
        "--replicas", "3", "--max-concurrent", "1", "alpine:3.10", "sh", "-c", "sleep 1; echo done",
    )  # fmt: skip
    most_at_once = 0

    def finished() -> bool:
        nonlocal most_at_once
        states = [str(t["CurrentState"]).split()[0] for t in tasks(engine, "batch")]
        most_at_once = max(most_at_once, sum(1 for s in states if s in ("Running", "Starting")))
        return states.count("Complete") == 3

    wait_until(finished, 60, "three completions")
    assert most_at_once == 1
    assert replicas(engine, "batch").strip() == "0/1 (3/3 completed)"
    done = tasks(engine, "batch")
    assert {t["DesiredState"] for t in done} == {"Complete"}
    assert len(done) == 3  # nothing started again
    assert engine.docker("service", "logs", "--raw", "batch").splitlines() == ["done"] * 3
    status = json.loads(
        engine.docker("service", "inspect", "batch", "--format", "{{json .JobStatus}}")
    )
    assert status["JobIteration"].get("Index", 0) == 0 and status["LastExecution"]  # 0: omitted


def test_a_global_job_runs_once_on_every_node(engine: Engine) -> None:
    engine.docker(
        "service", "create", "--detach", "--name", "everywhere", "--mode", "global-job",
        "alpine:3.10", "echo", "hi",
    )  # fmt: skip
    nodes = len(engine.docker("node", "ls", "-q").split())
    wait_until(
        lambda: (
            [str(t["CurrentState"]).split()[0] for t in tasks(engine, "everywhere")]
            == ["Complete"] * nodes
        ),
        60,
        "a completion on every node",
    )
    assert len({t["Node"] for t in tasks(engine, "everywhere")}) == nodes
    assert replicas(engine, "everywhere").strip() == f"0/0 ({nodes}/{nodes} completed)"


def test_a_forced_update_runs_the_job_again(engine: Engine) -> None:
    client = docker.DockerClient(base_url=engine.url)
    try:
        service = client.services.create(
            "alpine:3.10",
            ["echo", "again"],
            name="rerun",
            mode=docker.types.ServiceMode("replicated-job", concurrency=2, replicas=2),
        )
        wait_until(lambda: _completed(service) == 2, 60, "the first run")
        service.reload()
        # The spec as it is, not with SwarmKit's defaults (which Service.force_update fetches):
        # those hold an update config, which SwarmKit refuses for a job.
        spec = service.attrs["Spec"]
        client.api.update_service(
            service.id,
            service.version,
            name=spec["Name"],
            mode=spec["Mode"],
            task_template=spec["TaskTemplate"] | {"ForceUpdate": 1},
        )
        wait_until(lambda: len(service.tasks()) == 4 and _completed(service) == 4, 60, "a rerun")
        service.reload()
        assert service.attrs["JobStatus"]["JobIteration"]["Index"] == 1
        assert service.attrs["Spec"]["Mode"] == {
            "ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 2}
        }
    finally:
        client.close()


def _completed(service: docker.models.services.Service) -> int:
    return sum(1 for t in service.tasks() if t["Status"]["State"] == "complete")
