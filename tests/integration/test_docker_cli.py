"""The real docker CLI against a served engine: what a Docker swarm manager would answer.

The CLI formats its output from our JSON; where a Docker swarm would print a column, a state
or a message, so must we. Services are named per test so tests do not interfere.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import threading
import time

from tests.integration.conftest import Engine, require, wait_until


def rows(output: str) -> list[list[str]]:
    """A table the CLI printed, split into cells on runs of 2+ spaces (header first)."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.strip().splitlines()]


def converged(engine: Engine, service: str, count: int, timeout: float = 40) -> None:
    def check() -> bool:
        replicas = engine.docker(
            "service", "ls", "--filter", f"name={service}", "--format", "{{.Name}} {{.Replicas}}"
        )
        return f"{service} {count}/{count}" in replicas.splitlines()

    wait_until(check, timeout, f"{service} at {count}/{count}")


def test_node_ls_shows_the_demo_cluster(engine: Engine) -> None:
    table = rows(engine.docker("node", "ls"))
    assert table[0] == [
        "ID",
        "HOSTNAME",
        "STATUS",
        "AVAILABILITY",
        "MANAGER STATUS",
        "ENGINE VERSION",
    ]
    by_host = {row[1]: row for row in table[1:]}
    assert set(by_host) == {"swarm-master", "swarm-node-1", "swarm-node-2"}
    master = by_host["swarm-master"]
    assert master[0].endswith(" *")  # the node the CLI talks to
    assert master[2:] == ["Ready", "Active", "Leader", "20.10.24"]
    assert by_host["swarm-node-1"][2:] == ["Ready", "Active", "20.10.24"]


def test_node_inspect(engine: Engine) -> None:
    (node,) = engine.docker_json("node", "inspect", "swarm-node-1")
    assert node["Description"]["Hostname"] == "swarm-node-1"
    assert node["Spec"]["Role"] == "worker"
    assert node["Status"]["State"] == "ready"
    pretty = engine.docker("node", "inspect", "--pretty", "self")
    assert re.search(r"^Hostname:\s+swarm-master$", pretty, re.M)
    assert re.search(r"^ Raft Status:\s+Reachable$", pretty, re.M)
    assert re.search(r"^ Leader:\s+Yes$", pretty, re.M)
    assert re.search(r"^ CPUs:\s+2$", pretty, re.M)


def test_node_update_availability_labels_and_roles(engine: Engine) -> None:
    def field(template: str) -> str:
        return engine.docker("node", "inspect", "--format", template, "swarm-node-2").strip()

    for availability in ("drain", "pause", "active"):
        engine.docker("node", "update", "--availability", availability, "swarm-node-2")
        assert field("{{.Spec.Availability}}") == availability
    engine.docker(
        "node", "update", "--label-add", "zone=east", "--label-add", "ssd", "swarm-node-2"
    )
    assert field('{{index .Spec.Labels "zone"}}') == "east"
    engine.docker("node", "update", "--label-rm", "ssd", "swarm-node-2")
    assert "ssd" not in field("{{json .Spec.Labels}}")
    engine.docker("node", "promote", "swarm-node-2")
    assert field("{{.Spec.Role}}") == "manager"
    assert field("{{.ManagerStatus.Reachability}}") == "reachable"
    engine.docker("node", "demote", "swarm-node-2")
    assert field("{{.Spec.Role}}") == "worker"
    out = engine.docker("node", "demote", "swarm-master", check=False)
    assert "demote the last manager" in out


def test_service_create_without_detach_converges(engine: Engine) -> None:
    out = engine.docker(
        "service", "create", "--name", "progress", "--replicas", "3", "nginx:1.10", timeout=90
    )
    assert "verify: Service" in out and "converged" in out
    table = rows(engine.docker("service", "ls", "--filter", "name=progress"))
    assert table[0] == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
    assert table[1][1:] == ["progress", "replicated", "3/3", "nginx:1.10"]


def in_a_terminal(host: str, *args: str, timeout: float = 90) -> list[str]:
    """The docker CLI run in a terminal (a pty), as an operator runs it: each line it drew,
    escape sequences left out, in order. Progress lines are drawn only on a terminal."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [require("docker"), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "DOCKER_HOST": host, "DOCKER_CLI_HINTS": "false"},
    )
    os.close(slave)
    drawn = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            assert time.monotonic() < deadline, drawn[-400:]
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the CLI ended and its terminal closed
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(master)
        process.kill()
        process.wait()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.decode(errors="replace"))
    return [line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()]


def test_attached_progress_shows_each_tasks_state(engine: Engine) -> None:
    """Each slot's line goes through the task's states to running, as against a manager."""
    drawn = in_a_terminal(
        engine.url, "service", "create", "--name", "attached", "--replicas", "3", "nginx:1.10"
    )
    for slot in ("1/3", "2/3", "3/3"):
        states = [line.split(":", 1)[1].strip() for line in drawn if line.startswith(slot)]
        assert "pending" in states or "preparing" in states or "starting" in states, drawn
        assert states[-1] == "running", drawn
    assert "overall progress: 3 out of 3 tasks" in drawn
    drawn = in_a_terminal(engine.url, "service", "update", "--image", "nginx:1.11", "attached")
    assert [line for line in drawn if line.startswith("3/3: running")], drawn
    assert "overall progress: 3 out of 3 tasks" in drawn
    drawn = in_a_terminal(engine.url, "service", "scale", "attached=4")
    assert [line for line in drawn if line.startswith("4/4: running")], drawn


def test_service_create_with_the_common_flags(engine: Engine) -> None:
    engine.docker(
        "service",
        "create",
        "--detach",
        "--name",
        "full",
        "--replicas",
        "2",
        "-p",
        "8081:80",
        "--constraint",
        "node.role==worker",
        "--placement-pref",
        "spread=node.labels.zone",
        "--reserve-cpu",
        "0.25",
        "--env",
        "MODE=demo",
        "--update-parallelism",
        "2",
        "--update-delay",
        "3s",
        "--restart-condition",
        "on-failure",
        "nginx:1.10",
    )
    converged(engine, "full", 2)
    (service,) = engine.docker_json("service", "inspect", "full")
    template = service["Spec"]["TaskTemplate"]
    assert template["Placement"]["Constraints"] == ["node.role==worker"]
    assert template["Placement"]["Preferences"] == [
        {"Spread": {"SpreadDescriptor": "node.labels.zone"}}
    ]
    assert template["Resources"]["Reservations"]["NanoCPUs"] == 250_000_000
    assert template["ContainerSpec"]["Env"] == ["MODE=demo"]
    assert template["RestartPolicy"]["Condition"] == "on-failure"
    assert service["Spec"]["UpdateConfig"]["Parallelism"] == 2
    assert service["Spec"]["UpdateConfig"]["Delay"] == 3_000_000_000
    assert service["Endpoint"]["Ports"][0]["PublishedPort"] == 8081
    table = rows(engine.docker("service", "ls", "--filter", "name=full"))
    assert table[1][1:] == ["full", "replicated", "2/2", "nginx:1.10", "*:8081->80/tcp"]
    nodes = engine.docker("service", "ps", "--format", "{{.Node}}", "full").split()
    assert "swarm-master" not in nodes  # the constraint holds


def test_global_mode(engine: Engine) -> None:
    engine.docker(
        "service", "create", "--detach", "--name", "everywhere", "--mode", "global", "busybox:1"
    )
    converged(engine, "everywhere", 3)
    table = rows(engine.docker("service", "ls", "--filter", "name=everywhere"))
    assert table[1][2:4] == ["global", "3/3"]
    names = engine.docker("service", "ps", "--format", "{{.Name}}", "everywhere").split()
    assert all(re.fullmatch(r"everywhere\.[0-9a-z]{25}", name) for name in names)


def test_service_ps_with_no_trunc_and_filters(engine: Engine) -> None:
    engine.docker(
        "service", "create", "--detach", "--name", "listed", "--replicas", "2", "nginx:1.10"
    )
    converged(engine, "listed", 2)
    table = rows(engine.docker("service", "ps", "--no-trunc", "listed"))
    assert table[0] == [
        "ID",
        "NAME",
        "IMAGE",
        "NODE",
        "DESIRED STATE",
        "CURRENT STATE",
        "ERROR",
        "PORTS",
    ]
    assert all(len(row[0]) == 25 for row in table[1:])
    assert {row[1] for row in table[1:]} == {"listed.1", "listed.2"}
    assert all(row[4] == "Running" and row[5].startswith("Running ") for row in table[1:])
    shutdown = engine.docker("service", "ps", "-q", "--filter", "desired-state=shutdown", "listed")
    assert shutdown.strip() == ""


def test_service_inspect_pretty(engine: Engine) -> None:
    engine.docker(
        "service",
        "create",
        "--detach",
        "--name",
        "pretty",
        "--replicas",
        "2",
        "--update-parallelism",
        "1",
        "--update-delay",
        "2s",
        "nginx:1.10",
    )
    pretty = engine.docker("service", "inspect", "--pretty", "pretty")
    assert re.search(r"^Name:\s+pretty$", pretty, re.M)
    assert re.search(r"^Service Mode:\s+Replicated$", pretty, re.M)
    assert re.search(r"^ Replicas:\s+2$", pretty, re.M)
    assert re.search(r"^ Delay:\s+2s$", pretty, re.M)
    assert re.search(r"^ On failure:\s+pause$", pretty, re.M)
    assert re.search(r"^ Image:\s+nginx:1.10$", pretty, re.M)


def test_scale_update_and_rollback(engine: Engine) -> None:
    engine.docker(
        "service",
        "create",
        "--detach",
        "--name",
        "rolling",
        "--replicas",
        "2",
        "--update-parallelism",
        "1",
        "nginx:1.10",
    )
    converged(engine, "rolling", 2)
    out = engine.docker("service", "scale", "--detach", "rolling=4")
    assert "rolling scaled to 4" in out
    converged(engine, "rolling", 4)
    engine.docker("service", "update", "--image", "nginx:1.11", "rolling", timeout=120)
    images = engine.docker(
        "service", "ps", "--filter", "desired-state=running", "--format", "{{.Image}}", "rolling"
    ).split()
    assert images == ["nginx:1.11"] * 4
    state = engine.docker(
        "service", "inspect", "--format", "{{.UpdateStatus.State}}", "rolling"
    ).strip()
    assert state == "completed"
    engine.docker("service", "rollback", "rolling", timeout=120)
    image = engine.docker(
        "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "rolling"
    ).strip()
    assert image == "nginx:1.10"
    wait_until(
        lambda: (
            engine.docker(
                "service", "inspect", "--format", "{{.UpdateStatus.State}}", "rolling"
            ).strip()
            == "rollback_completed"
        ),
        60,
        "rollback_completed",
    )
    history = rows(engine.docker("service", "ps", "rolling"))
    assert any(row[1].startswith("\\_ rolling.") for row in history[1:])


def test_service_logs_and_follow(engine: Engine) -> None:
    engine.docker(
        "service", "create", "--detach", "--name", "talker", "--replicas", "2", "nginx:1.10"
    )
    converged(engine, "talker", 2)
    time.sleep(2)
    out = engine.docker("service", "logs", "--tail", "3", "talker")
    lines = out.strip().splitlines()
    assert lines
    assert all(re.match(r"^talker\.[12]\.[0-9a-z]{12}@swarm-[\w-]+\s+\| ", line) for line in lines)
    stamped = engine.docker("service", "logs", "--tail", "1", "--timestamps", "talker")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z talker\.", stamped)
    follower = subprocess.Popen(
        [require("docker"), "service", "logs", "-f", "--tail", "0", "talker"],
        env=engine.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(20, follower.kill)  # readline must not hang the suite
    watchdog.start()
    try:
        assert follower.stdout is not None
        first = follower.stdout.readline()  # a new line within a few seconds
        assert re.match(r"^talker\.[12]\.", first)
    finally:
        watchdog.cancel()
        follower.kill()
        follower.wait()


def test_service_rm(engine: Engine) -> None:
    engine.docker("service", "create", "--detach", "--name", "doomed", "busybox:1")
    assert engine.docker("service", "rm", "doomed").strip() == "doomed"
    assert "doomed" not in engine.docker("service", "ls", "--format", "{{.Name}}").split()
    out = engine.docker("service", "inspect", "doomed", check=False)
    assert "no such service: doomed" in out.lower()


def test_events_filtered_by_type(engine: Engine) -> None:
    since = str(int(time.time()) - 1)
    engine.docker("service", "create", "--detach", "--name", "eventful", "busybox:1")
    engine.docker("service", "scale", "--detach", "eventful=2")
    engine.docker("node", "update", "--availability", "active", "swarm-node-1")
    until = str(int(time.time()) + 1)
    time.sleep(1.2)
    out = engine.docker("events", "--since", since, "--until", until, "--filter", "type=service")
    lines = [line for line in out.splitlines() if "eventful" in line]
    assert re.search(r" service create \w{25} \(name=eventful\)$", lines[0])
    assert any("replicas.new=2, replicas.old=1" in line for line in lines)
    assert "node update" not in out
