"""One scenario, run against the real swarm and then against our engine with the docker executor
on the same three lab engines: create 3 replicas, scale to 5, drain a node, update the image,
roll back, kill a node. After each step both must have the same running tasks per node and the
same states; where they may differ, the test says how and why."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import docker

from tests.docker.conftest import IMAGE, NEWER_IMAGE, Swarm, wait_until
from tests.integration.conftest import Engine
from tests.integration.test_docker_cli import in_a_terminal
from tests.integration.test_service_create_answers import ANSWERS, DIFFERENT

NODES = ("swarm-master", "swarm-node-1", "swarm-node-2")


@dataclass(frozen=True)
class Seen:
    """What ``docker service ps`` shows after a step."""

    running: dict[str, int]  # running tasks by node
    images: frozenset[str]  # images of the running tasks
    states: Counter[tuple[str, str]]  # (desired, current) of every task, history included

    @property
    def spread(self) -> list[int]:
        """Running tasks per node, largest first: which node gets the odd task out is a tie
        that both schedulers break by an order of their own (SwarmKit: its node heap)."""
        return sorted((self.running.get(node, 0) for node in NODES), reverse=True)


def observe(docker: Callable[..., str]) -> Seen:
    lines = docker(
        "service",
        "ps",
        "web",
        "--format",
        "{{.Node}}|{{.Image}}|{{.DesiredState}}|{{.CurrentState}}",
    ).splitlines()
    running: Counter[str] = Counter()
    images = set()
    states: Counter[tuple[str, str]] = Counter()
    for line in lines:
        node, image, desired, current = line.split("|")
        state = current.split(" ")[0]
        states[(desired, state)] += 1
        if desired == "Running" and state == "Running":
            running[node] += 1
            images.add(image)
    return Seen(dict(running), frozenset(images), states)


def scenario(docker: Callable[..., str], kill: Callable[[str], None]) -> list[Seen]:
    """The steps, each waited for until the cluster has settled; what was seen after each."""
    seen = []

    def settle(done: Callable[[Seen], bool], what: str) -> None:
        seen.append(
            wait_until(lambda: (lambda s: s if done(s) else None)(observe(docker)), 120, what)
        )

    docker("service", "create", "--detach", "--no-resolve-image", "--name", "web",
           "--replicas", "3", "--restart-delay", "1s", IMAGE)  # fmt: skip
    settle(lambda s: sum(s.running.values()) == 3, "3 running")
    docker("service", "scale", "--detach", "web=5")
    settle(lambda s: sum(s.running.values()) == 5, "5 running")
    docker("node", "update", "--availability", "drain", "swarm-node-1")
    settle(
        lambda s: sum(s.running.values()) == 5 and not s.running.get("swarm-node-1"),
        "swarm-node-1 drained",
    )
    docker("service", "update", "--detach", "--no-resolve-image", "--image", NEWER_IMAGE, "web")
    settle(lambda s: s.images == {NEWER_IMAGE} and sum(s.running.values()) == 5, "updated")
    docker("service", "rollback", "--detach", "web")
    settle(lambda s: s.images == {IMAGE} and sum(s.running.values()) == 5, "rolled back")
    kill("swarm-node-2")
    settle(lambda s: s.running == {"swarm-master": 5}, "all on swarm-master")
    return seen


def test_the_same_scenario_on_the_real_swarm_and_on_ours(swarm: Swarm, ours: Engine) -> None:
    # Our engine's containers are on the engines too; the swarm's tasks are told apart by label.
    real = scenario(swarm.docker, swarm.lab.kill)
    swarm.reset()
    mine = scenario(ours.docker, swarm.lab.kill)

    for step, (theirs, ours_) in enumerate(zip(real, mine, strict=True)):
        assert ours_.spread == theirs.spread, f"step {step}: {theirs} / {ours_}"
        assert ours_.images == theirs.images, f"step {step}"
    # Where each task ran after the drain and the kill is the same, node by node.
    for step in (2, 3, 4, 5):
        assert (
            mine[step].running.get("swarm-node-1", 0)
            == real[step].running.get("swarm-node-1", 0)
            == 0
        )
    assert mine[-1].running == real[-1].running == {"swarm-master": 5}

    # The final states of every task, history included, differ only where explained here.
    final_real, final_mine = real[-1].states, mine[-1].states
    differences = {
        key: (final_real.get(key, 0), final_mine.get(key, 0))
        for key in set(final_real) | set(final_mine)
        if final_real.get(key, 0) != final_mine.get(key, 0)
    }
    assert final_real[("Running", "Running")] == final_mine[("Running", "Running")] == 5
    explained = {
        # The tasks of the dead node: swarm can no longer hear from them and leaves their last
        # known state (Running) with desired Shutdown; so do we (SwarmKit's orphan handling).
        ("Shutdown", "Running"),
        # Tasks replaced by the update and the rollback keep their history; both keep at most
        # five per slot (the task history limit), but when the reaper runs differs.
        ("Shutdown", "Shutdown"),
        ("Shutdown", "Complete"),
    }
    assert set(differences) <= explained, differences


@dataclass(frozen=True)
class Finished:
    """What the docker CLI shows of a service whose tasks ran to their end."""

    replicas: str  # docker service ls
    states: Counter[tuple[str, str, str]]  # (desired, current, error) of each task
    logs: list[str]  # docker service logs --raw, sorted
    spread: list[int]  # running tasks per node, largest first


def finished(docker: Callable[..., str], service: str) -> Finished:
    replicas = docker("service", "ls", "--filter", f"name={service}", "--format", "{{.Replicas}}")
    states: Counter[tuple[str, str, str]] = Counter()
    running: Counter[str] = Counter()
    lines = docker(
        "service", "ps", service, "--no-trunc",
        "--format", "{{.Node}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}",
    ).splitlines()  # fmt: skip
    for line in lines:
        node, desired, current, error = line.split("|")
        state = current.split(" ")[0]
        states[(desired, state, error.strip('"'))] += 1
        if state == "Running":
            running[node] += 1
    logs = sorted(docker("service", "logs", "--raw", service).splitlines())
    spread = sorted((running.get(node, 0) for node in NODES), reverse=True)
    return Finished(replicas.strip(), states, logs, spread)


def one_shots(docker: Callable[..., str]) -> dict[str, Finished]:
    """A replicated job, a global job, a one-shot command that fails, and a spread over a
    label no node has: each waited for until it settles."""
    docker("service", "create", "--detach", "--no-resolve-image", "--name", "batch",
           "--mode", "replicated-job", "--replicas", "3", "--max-concurrent", "1",
           IMAGE, "sh", "-c", "echo working; sleep 1; echo done")  # fmt: skip
    docker("service", "create", "--detach", "--no-resolve-image", "--name", "everywhere",
           "--mode", "global-job", IMAGE, "echo", "hello")  # fmt: skip
    docker("service", "create", "--detach", "--no-resolve-image", "--name", "failing",
           "--restart-condition", "none", IMAGE, "sh", "-c", "echo a; exit 3")  # fmt: skip
    docker("service", "create", "--detach", "--no-resolve-image", "--name", "zoned",
           "--replicas", "3", "--placement-pref", "spread=com.example.zone",
           IMAGE, "sleep", "3600")  # fmt: skip
    settled = {
        "batch": lambda f: f.replicas.endswith("(3/3 completed)") and len(f.logs) == 6,
        "everywhere": lambda f: f.replicas.endswith("(3/3 completed)") and len(f.logs) == 3,
        "failing": lambda f: f.states.get(("Shutdown", "Failed", "task: non-zero exit (3)")),
        "zoned": lambda f: f.spread == [1, 1, 1],
    }
    return {
        name: wait_until(
            lambda d=done, n=name: (lambda f: f if d(f) else None)(finished(docker, n)), 120, name
        )
        for name, done in settled.items()
    }


def test_jobs_one_shot_commands_and_spread_the_same_on_the_real_swarm_and_ours(
    swarm: Swarm, ours: Engine
) -> None:
    real = one_shots(swarm.docker)
    swarm.reset()
    mine = one_shots(ours.docker)
    for name in real:
        assert mine[name] == real[name], name


def attached(host: str) -> list[str]:
    """What ``docker service create`` without ``--detach`` last drew in a terminal for each
    slot, and its last overall line."""
    drawn = in_a_terminal(
        host, "service", "create", "--no-resolve-image", "--name", "attached",
        "--replicas", "3", IMAGE, "sleep", "3600",
    )  # fmt: skip
    slots = {line[:3]: line for line in drawn if re.match(r"[1-3]/3: ", line)}
    overall = [line for line in drawn if line.startswith("overall progress")]
    return [*(slots[slot] for slot in sorted(slots)), *overall[-1:]]


def test_attached_progress_the_same_on_the_real_swarm_and_ours(swarm: Swarm, ours: Engine) -> None:
    real = attached(swarm.url)
    swarm.reset()
    slots = ["1/3: running", "2/3: running", "3/3: running"]
    assert real == [*slots, "overall progress: 3 out of 3 tasks"]
    assert attached(ours.url) == real


# A swarm takes a trillion replicas and starts making their tasks: its dockerd fills the memory
# of the machine before the service is removed. dockerd's recorded answer stands for it.
NOT_ASKED_LIVE = {"replicas huge"}


def create_answers(url: str) -> dict[str, tuple[int, str | None]]:
    """What ``POST /services/create`` answers at ``url`` for each spec of the corpus."""
    api = docker.APIClient(base_url=url, version="1.41")
    found: dict[str, tuple[int, str | None]] = {}
    for answer in ANSWERS:
        if answer["case"] in NOT_ASKED_LIVE:
            continue
        response = api.post(f"{api.base_url}/v1.41/services/create", json=answer["spec"])
        if response.status_code == 201:
            api.remove_service(response.json()["ID"])
            found[answer["case"]] = (201, None)
        else:
            found[answer["case"]] = (response.status_code, response.json()["message"])
    return found


def test_service_specs_are_refused_or_created_as_the_real_swarm_does(
    swarm: Swarm, ours: Engine
) -> None:
    """The corpus of tests/integration/test_service_create_answers.py, asked of the lab's live
    swarm and of ours: the same answers, but for the differences that test explains."""
    real = create_answers(swarm.url)
    mine = create_answers(ours.url)
    assert set(real) == {answer["case"] for answer in ANSWERS} - NOT_ASKED_LIVE
    for case, answer in real.items():
        assert mine[case] == DIFFERENT.get(case, answer), case
