"""Simulated containers run their command, seen through the real docker CLI: its output in
``docker service logs``, its exit code in ``docker service ps``."""

from __future__ import annotations

from pathlib import Path

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


def test_a_command_reads_the_secret_and_config_its_task_mounts(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("app-token-data")
    (tmp_path / "conf").write_text("listen 8080\n")
    engine.docker("secret", "create", "app-token", str(tmp_path / "token"))
    engine.docker("config", "create", "app-conf", str(tmp_path / "conf"))
    engine.docker(
        "service", "create", "--detach", "--name", "reader", "--restart-condition", "none",
        "--secret", "app-token", "--config", "source=app-conf,target=/etc/app.conf",
        "alpine:3.10", "sh", "-c", "cat /etc/app.conf /run/secrets/app-token; cat /etc/other",
    )  # fmt: skip
    wait_until(lambda: any(s.startswith("Failed") for s in states(engine, "reader")), 30)
    (state,) = states(engine, "reader")
    assert "task: non-zero exit (1)" in state  # the file it does not have
    logs = engine.docker("service", "logs", "--raw", "reader").splitlines()
    assert logs == ["listen 8080", "app-token-data"]  # its standard output
