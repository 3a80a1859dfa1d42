"""``docker stack deploy -c`` with the real docker CLI, for each compose file of ``stacks/`` (as
people write them): what the stack has once deployed (services, networks, secrets, configs, all
labelled with its namespace; ``stack ls``, ``services``, ``ps``), a redeploy that changes one
service (only its tasks are replaced), ``--prune``, and ``stack rm`` leaving nothing behind."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import Engine, start_engine, wait_until

STACKS = Path(__file__).parent / "stacks"
NAMESPACE = "com.docker.stack.namespace"


@dataclass(frozen=True)
class Case:
    file: str
    services: list[str]
    networks: list[str]  # made by the stack (external ones are not)
    secrets: list[str]
    configs: list[str]
    changed: str  # the service whose image a redeploy changes
    pruned: str  # the service a pruning redeploy leaves out


CASES = [
    Case(
        "voting-app.yml",
        ["db", "redis", "result", "visualizer", "vote", "worker"],
        ["backend", "default", "frontend"],
        [],
        [],
        changed="vote",
        pruned="visualizer",
    ),
    Case(
        "wordpress.yml",
        ["db", "nginx", "wordpress"],
        ["backend", "frontend"],
        ["db_password", "db_root_password"],
        ["site"],
        changed="wordpress",
        pruned="nginx",
    ),
    Case(
        "monitoring.yml",
        ["grafana", "node-exporter", "prometheus"],
        ["default", "monitor"],
        ["grafana_admin"],
        ["prometheus"],
        changed="prometheus",
        pruned="grafana",
    ),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = start_engine(tmp_path_factory.mktemp("stacks"))
    engine.docker("network", "create", "--driver", "overlay", "proxy")  # wordpress's external
    yield engine
    assert engine.stop() == 0


def deploy(engine: Engine, folder: Path, file: str, stack: str, *args: str) -> str:
    result = subprocess.run(
        ["docker", "stack", "deploy", *args, "--compose-file", file, stack],
        cwd=folder,
        env=engine.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def names(engine: Engine, what: str, stack: str) -> list[str]:
    """The names of the stack's objects of one kind, found by its namespace label."""
    found = engine.docker(
        what, "ls", "--filter", f"label={NAMESPACE}={stack}", "--format", "{{.Name}}"
    )
    return sorted(found.split())


def running(engine: Engine, stack: str) -> dict[str, set[str]]:
    """The IDs of the stack's running tasks, by service name."""
    lines = engine.docker(
        "stack", "ps", stack, "--filter", "desired-state=running", "--no-trunc",
        "--format", "{{.ID}} {{.Name}} {{.CurrentState}}",
    ).splitlines()  # fmt: skip
    tasks: dict[str, set[str]] = {}
    for line in lines:
        task_id, name, state = line.split(" ", 2)
        if state.startswith("Running"):
            tasks.setdefault(name.rsplit(".", 1)[0], set()).add(task_id)
    return tasks


def converged(engine: Engine, stack: str) -> bool:
    """Whether every service of the stack runs all the tasks it asks for."""
    replicas = engine.docker("stack", "services", stack, "--format", "{{.Replicas}}").split("\n")
    counts = [r.split(" ")[0].split("/") for r in replicas if r]
    return bool(counts) and all(int(a) == int(b) > 0 for a, b in counts)


def edited(folder: Path, file: str, change: Any) -> str:
    """A copy of the compose file, beside it, as ``change`` leaves its parsed content."""
    content = yaml.safe_load((folder / file).read_text())
    change(content)
    name = f"edited-{file}"
    (folder / name).write_text(yaml.safe_dump(content, sort_keys=False))
    return name


@pytest.mark.parametrize("case", CASES, ids=[case.file for case in CASES])
def test_a_stack_is_deployed_changed_pruned_and_removed(
    served: Engine, tmp_path: Path, case: Case
) -> None:
    folder = tmp_path / "stacks"
    shutil.copytree(STACKS, folder)
    stack = case.file.split("-")[0].split(".")[0]
    out = deploy(served, folder, case.file, stack)
    for network in case.networks:
        assert f"Creating network {stack}_{network}" in out
    for service in case.services:
        assert f"Creating service {stack}_{service}" in out

    # What exists: every object of the stack, labelled with its namespace.
    assert names(served, "service", stack) == [f"{stack}_{s}" for s in case.services]
    assert names(served, "network", stack) == [f"{stack}_{n}" for n in case.networks]
    assert names(served, "secret", stack) == [f"{stack}_{s}" for s in case.secrets]
    assert names(served, "config", stack) == [f"{stack}_{c}" for c in case.configs]
    listed = served.docker("stack", "ls", "--format", "{{.Name}} {{.Services}}").splitlines()
    assert f"{stack} {len(case.services)}" in listed
    wait_until(lambda: converged(served, stack), 60, f"every service of {stack} running")
    before = running(served, stack)
    assert sorted(before) == [f"{stack}_{s}" for s in case.services]

    # The same file again changes nothing; a changed image replaces that service's tasks only.
    deploy(served, folder, case.file, stack)
    assert running(served, stack) == before
    changed = f"{stack}_{case.changed}"

    def new_image(content: dict[str, Any]) -> None:
        service = content["services"][case.changed]
        service["image"] = service["image"].split(":")[0] + ":changed"

    deploy(served, folder, edited(folder, case.file, new_image), stack)
    wait_until(
        lambda: (lambda now: now.get(changed) and not now[changed] & before[changed])(
            running(served, stack)
        ),
        60,
        f"{changed} replaced",
    )
    after = running(served, stack)
    assert {name: ids for name, ids in after.items() if name != changed} == {
        name: ids for name, ids in before.items() if name != changed
    }
    image = served.docker("service", "inspect", changed, "--format", "{{.Spec.Labels}}")
    assert ":changed" in image  # com.docker.stack.image, as the CLI labels it

    # --prune removes the service the file no longer has, and nothing else.
    def without(content: dict[str, Any]) -> None:
        del content["services"][case.pruned]

    deploy(served, folder, edited(folder, case.file, without), stack, "--prune")
    kept = [f"{stack}_{s}" for s in case.services if s != case.pruned]
    assert names(served, "service", stack) == kept

    # stack rm, waiting as the CLI does for the tasks to stop, leaves nothing behind.
    result = subprocess.run(
        ["docker", "stack", "rm", "--detach=false", stack],
        env=served.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for what in ("service", "network", "secret", "config"):
        assert names(served, what, stack) == [], what
    # The CLI's wait counts the polls in which it saw a task stopped against the tasks it sees
    # (docker/cli#7304): it may return while some still stop. They go a moment later.
    wait_until(
        lambda: (
            served.docker("stack", "ps", stack, check=False).strip()
            == f"nothing found in stack: {stack}"
        ),
        30,
        "the stack's tasks deleted",
    )
    assert stack not in served.docker("stack", "ls", "--format", "{{.Name}}").split()


def test_external_networks_must_exist(served: Engine, tmp_path: Path) -> None:
    (tmp_path / "app.yml").write_text(
        "version: '3.8'\n"
        "services:\n  web:\n    image: nginx\n    networks: [outside]\n"
        "networks:\n  outside:\n    external: true\n"
    )
    result = subprocess.run(
        ["docker", "stack", "deploy", "-c", "app.yml", "ext"],
        cwd=tmp_path, env=served.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert 'network "outside" is declared as external, but could not be found' in result.stderr
    assert names(served, "service", "ext") == []
