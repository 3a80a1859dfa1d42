"""Simulated containers run their command, seen through the real docker CLI: its output in
``docker service logs``, its exit code in ``docker service ps``."""

from __future__ import annotations

from tests.integration.conftest import Engine, wait_until


def states(engine: Engine, service: str) -> list[str]:
    return engine.docker(
        "service", "ps", service, "--no-trunc", "--format", "{{.CurrentState}}|{{.Error}}"
    ).splitlines()


def test_a_one_shot_command_logs_what_it_printed_and_completes(engine: Engine) -> None:
    engine.docker(
        "service", "create", "--detach", "--name", "say-hello", "--restart-condition", "none",
        "alpine:3.10", "echo", "hello",
    )  # fmt: skip
    wait_until(lambda: any(s.startswith("Complete") for s in states(engine, "say-hello")), 30)
    logs = engine.docker("service", "logs", "--raw", "say-hello")
    assert logs.splitlines() == ["hello"]


def test_a_failing_command_fails_its_task_with_the_daemons_words(engine: Engine) -> None:
    engine.docker(
        "service", "create", "--detach", "--name", "exit-three", "--restart-condition", "none",
        "alpine:3.10", "sh", "-c", "echo a; exit 3",
    )  # fmt: skip
    wait_until(lambda: any(s.startswith("Failed") for s in states(engine, "exit-three")), 30)
    (state,) = states(engine, "exit-three")
    assert state.endswith('|"task: non-zero exit (3)"') or state.endswith(
        "|task: non-zero exit (3)"
    )
    assert engine.docker("service", "logs", "--raw", "exit-three").splitlines() == ["a"]
