"""Distributed Application Bundles on our engine: ``swarmdeck bundle`` makes a ``.dab`` from a
compose file, ``swarmdeck stack deploy --bundle-file`` deploys it as a stack the docker CLI then
manages (``stack services``, ``stack ps``, ``stack rm``); a second deploy updates in place."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, Engine, start_engine, wait_until

STACKS = Path(__file__).parent / "stacks"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = start_engine(tmp_path_factory.mktemp("bundles"))
    yield engine
    assert engine.stop() == 0


def swarmdeck(engine_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``swarmdeck ARGS`` (through ``python -m engine``) with DOCKER_HOST at ``engine_url``."""
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=ROOT,
        env={"DOCKER_HOST": engine_url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_compose_file_becomes_a_bundle_and_a_stack(served: Engine, tmp_path: Path) -> None:
    dab = tmp_path / "vote.dab"
    made = swarmdeck(served.url, "bundle", str(STACKS / "voting-app.yml"), "-o", str(dab))
    assert made.returncode == 0, made.stderr
    assert f"Wrote bundle to {dab}" in made.stdout
    # Our engine, offline, knows no digests: each image is named as it is, with a warning.
    assert "services.vote.image: no digest known for dockersamples/examplevotingapp_vote" in (
        made.stderr
    )
    assert "services.db.volumes: a bundle cannot hold it; left out" in made.stderr
    bundle = json.loads(dab.read_text())
    assert sorted(bundle["Services"]) == ["db", "redis", "result", "visualizer", "vote", "worker"]

    deployed = swarmdeck(served.url, "stack", "deploy", "--bundle-file", str(dab), "vote")
    assert deployed.returncode == 0, deployed.stderr
    names = sorted(bundle["Services"])
    assert deployed.stdout.splitlines() == [  # the plan, then what was done
        "+ create network vote_backend",
        "+ create network vote_default",
        "+ create network vote_frontend",
        *(f"+ create service vote_{name}" for name in names),
        "Creating network vote_backend",
        "Creating network vote_default",
        "Creating network vote_frontend",
        *(f"Creating service vote_{name}" for name in sorted(bundle["Services"])),
    ]
    listed = served.docker("stack", "ls", "--format", "{{.Name}} {{.Services}}").splitlines()
    assert "vote 6" in listed
    ports = served.docker("service", "inspect", "vote_vote", "--format", "{{json .Endpoint.Ports}}")
    published = json.loads(ports)
    assert [(p["TargetPort"], p["PublishMode"]) for p in published] == [(80, "ingress")]
    assert 30000 <= published[0]["PublishedPort"] <= 32767  # the swarm's choice
    worker = served.docker_json("service", "inspect", "vote_worker")[0]["Spec"]
    assert worker["Labels"] == {"com.docker.stack.namespace": "vote"}
    networks = {
        served.docker("network", "inspect", n["Target"], "--format", "{{.Name}}").strip(): n
        for n in worker["TaskTemplate"]["Networks"]
    }
    assert sorted(networks) == ["vote_backend", "vote_frontend"]
    assert all(n["Aliases"] == ["worker"] for n in networks.values())

    def tasks() -> list[str]:
        lines = served.docker(
            "stack", "ps", "vote", "--filter", "desired-state=running", "--format",
            "{{.ID}} {{.CurrentState}}",
        ).splitlines()  # fmt: skip
        return sorted(line.split()[0] for line in lines if "Running" in line)

    running = wait_until(lambda: (lambda t: t if len(t) == 6 else None)(tasks()), 60, "6 tasks")
    again = swarmdeck(served.url, "stack", "deploy", "--bundle-file", str(dab), "vote")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [  # the same bundle: no call changes anything
        "  unchanged: " + ", ".join(f"vote_{name}" for name in names)
    ]
    assert tasks() == running  # nothing changed, nothing replaced

    served.docker("stack", "rm", "vote")
    wait_until(
        lambda: "vote" not in served.docker("stack", "ls", "--format", "{{.Name}}").split(),
        30,
        "the stack gone",
    )
    label = "label=com.docker.stack.namespace=vote"
    assert served.docker("network", "ls", "--filter", label, "-q") == ""


def test_bad_bundles_and_targets_are_refused(served: Engine, tmp_path: Path) -> None:
    dab = tmp_path / "bad.dab"
    dab.write_text('{"Version": "0.1", "Services": {"web": {"Image": "x", "Replicas": 3}}}')
    refused = swarmdeck(served.url, "stack", "deploy", "--bundle-file", str(dab), "bad")
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"swarmdeck: {dab}: not a bundle: service web:")
    assert served.docker("service", "ls", "-q") == ""
    good = tmp_path / "good.dab"
    good.write_text('{"Version": "0.1", "Services": {"web": {"Image": "nginx"}}}')
    nowhere = f"unix://{tmp_path}/nothing.sock"
    gone = swarmdeck(nowhere, "stack", "deploy", "--bundle-file", str(good), "good")
    assert gone.returncode == 1
    assert gone.stderr.startswith("swarmdeck: ") and "nothing.sock" in gone.stderr
