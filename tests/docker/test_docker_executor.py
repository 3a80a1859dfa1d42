"""Our engine with the docker executor, its nodes the lab's three Docker Engines: tasks are real
containers, restarted by the restart policy, replaced when unhealthy, re-adopted after a restart,
with logs and usage read from the engines."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

from msgspec.structs import replace

from engine.agent.exec.docker import LABELS
from engine.api.types import TaskState
from engine.store import (
    MemoryStore,
    SqlitePersistence,
    Tx,
    delete_service,
    get_task,
    update_task,
)
from tests.docker.conftest import IMAGE, Swarm, wait_until
from tests.integration.conftest import Engine, start_engine
from tests.integration.test_api_errors import call

TASK = LABELS["task"]


def containers(swarm: Swarm, node: str, *filters: str) -> list[str]:
    """IDs of our running containers on ``node``."""
    args = [arg for f in filters for arg in ("--filter", f)]
    return swarm.docker("ps", "-q", "--filter", f"label={TASK}", *args, node=node).split()


def tasks(engine: Engine, service: str, *filters: str) -> list[dict[str, object]]:
    args = [arg for f in filters for arg in ("--filter", f)]
    ids = engine.docker("service", "ps", "-q", "--no-trunc", service, *args).split()
    return engine.docker_json("inspect", *ids) if ids else []


def running(engine: Engine, service: str) -> list[dict[str, object]]:
    return [
        t
        for t in tasks(engine, service, "desired-state=running")
        if t["Status"]["State"] == "running"  # type: ignore[index]
    ]


def test_tasks_run_as_labelled_containers_with_logs_and_usage(ours: Engine, swarm: Swarm) -> None:
    ours.docker("service", "create", "--detach", "--name", "web", "--replicas", "3", IMAGE)
    wait_until(lambda: len(running(ours, "web")) == 3, 60, "three running tasks")
    for task in running(ours, "web"):
        node = ours.docker_json("node", "inspect", task["NodeID"])[0]  # type: ignore[index]
        hostname = node["Description"]["Hostname"]
        container = task["Status"]["ContainerStatus"]["ContainerID"]  # type: ignore[index]
        inspected = json.loads(swarm.docker("inspect", container, node=hostname))[0]
        assert inspected["State"]["Running"]
        assert inspected["Name"] == f"/web.{task['Slot']}.{task['ID']}"
        labels = inspected["Config"]["Labels"]
        assert labels[TASK] == task["ID"]
        assert labels[LABELS["service_name"]] == "web"
        assert labels[LABELS["node"]] == task["NodeID"]
    logs = wait_until(
        lambda: ours.docker("service", "logs", "--tail", "1", "web").count("version 1") == 3,
        30,
        "a line from each task",
    )
    assert logs
    for _ in range(60):
        _, metrics, _ = asyncio.run(call(ours, "GET", "/metrics"))
        assert isinstance(metrics, str)
        if metrics.count("container_memory_usage_bytes{") >= 3:
            break
        time.sleep(0.5)
    for task in running(ours, "web"):
        assert f'container_label_com_docker_swarm_task_id="{task["ID"]}"' in metrics


def test_a_container_killed_from_outside_is_restarted_by_the_policy(
    ours: Engine, swarm: Swarm
) -> None:
    ours.docker(
        "service", "create", "--detach", "--name", "web", "--replicas", "1",
        "--restart-condition", "on-failure", "--restart-delay", "1s", IMAGE,
    )  # fmt: skip
    first = wait_until(lambda: running(ours, "web"), 60, "a running task")[0]
    hostname = ours.docker_json("node", "inspect", first["NodeID"])[0]["Description"]["Hostname"]
    swarm.docker("kill", first["Status"]["ContainerStatus"]["ContainerID"], node=hostname)
    replaced = wait_until(
        lambda: [t for t in running(ours, "web") if t["ID"] != first["ID"]], 60, "a new task"
    )
    assert replaced[0]["Slot"] == first["Slot"]
    old = ours.docker_json("inspect", first["ID"])[0]
    assert old["Status"]["State"] == "failed"
    assert old["Status"]["Err"] == "task: non-zero exit (137)"
    assert old["Status"]["ContainerStatus"]["ExitCode"] == 137


def test_a_container_whose_health_check_fails_is_replaced(ours: Engine, swarm: Swarm) -> None:
    # Healthy at first; the check fails from its fourth second on.
    script = (
        'touch /tmp/ok; (sleep 4; rm /tmp/ok) & trap "exit 0" TERM; '
        "while true; do sleep 1 & wait $!; done"
    )
    ours.docker(
        "service", "create", "--detach", "--name", "web", "--replicas", "1",
        "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "2",
        "--restart-delay", "1s", IMAGE, "sh", "-c", script,
    )  # fmt: skip
    first = wait_until(lambda: running(ours, "web"), 60, "a healthy running task")[0]
    wait_until(
        lambda: ours.docker_json("inspect", first["ID"])[0]["Status"]["State"] == "failed",
        60,
        "the task failing its health check",
    )
    old = ours.docker_json("inspect", first["ID"])[0]
    assert old["Status"]["Err"] == "dockerexec: unhealthy container"
    hostname = ours.docker_json("node", "inspect", old["NodeID"])[0]["Description"]["Hostname"]
    container = old["Status"]["ContainerStatus"]["ContainerID"]
    state = json.loads(swarm.docker("inspect", container, node=hostname))[0]["State"]
    assert not state["Running"]  # stopped, not left running beside its replacement
    wait_until(
        lambda: [t for t in running(ours, "web") if t["ID"] != first["ID"]], 60, "a replacement"
    )


def test_a_restarted_engine_adopts_its_containers(
    ours: Engine, swarm: Swarm, tmp_path: Path
) -> None:
    ours.docker("service", "create", "--detach", "--name", "web", "--replicas", "3", IMAGE)
    before = {t["ID"]: t["Status"]["ContainerStatus"]["ContainerID"] for t in wait_until(
        lambda: (lambda r: r if len(r) == 3 else None)(running(ours, "web")), 60, "three tasks"
    )}  # fmt: skip
    node_id = ours.docker_json("node", "inspect", "swarm-node-1")[0]["ID"]
    assert ours.stop() == 0
    # A container of a task the cluster no longer has, as if deleted while the engine was down.
    stray = swarm.docker(
        "create", "--label", f"{LABELS['node']}={node_id}", "--label", f"{TASK}=gone", IMAGE,
        node="swarm-node-1",
    ).strip()  # fmt: skip
    nodes = [f"--docker-node={node.name}={node.url}" for node in swarm.lab.nodes]
    again = start_engine(tmp_path, *nodes)
    try:
        after = {
            t["ID"]: t["Status"]["ContainerStatus"]["ContainerID"]
            for t in wait_until(lambda: running(again, "web"), 30, "the tasks again")
        }
        assert after == before
        gone = swarm.docker(
            "ps", "-aq", "--no-trunc", "--filter", f"id={stray}", node="swarm-node-1"
        )
        assert gone.strip() == ""
        for _ in range(3):  # still the same after a few heartbeats: nothing was started twice
            time.sleep(2)
            ours_now = [c for n in swarm.lab.nodes for c in containers(swarm, n.name)]
            assert len(ours_now) == 3
            assert sorted(after.values()) == sorted(
                json.loads(swarm.docker("inspect", c, node=n.name))[0]["Id"]
                for n in swarm.lab.nodes
                for c in containers(swarm, n.name)
            )
    finally:
        again.stop()


def test_a_restarted_engine_stops_the_containers_of_finished_and_removed_tasks(
    ours: Engine, swarm: Swarm, tmp_path: Path
) -> None:
    ours.docker("service", "create", "--detach", "--name", "web", "--replicas", "2", IMAGE)
    ours.docker("service", "create", "--detach", "--name", "gone", "--replicas", "1", IMAGE)
    web = wait_until(lambda: (lambda r: r if len(r) == 2 else None)(running(ours, "web")), 60)
    gone = wait_until(lambda: running(ours, "gone"), 60, "the other service's task")[0]
    assert ours.stop() == 0
    # As an engine stopped between two steps leaves them: a task shut down whose container
    # still runs, and a removed service whose task was never told.
    finished = str(web[0]["ID"])
    store = MemoryStore(time.time, SqlitePersistence(ours.data_dir))

    def half_done(tx: Tx) -> None:
        task = get_task(tx, finished)
        assert task is not None
        status = replace(task.status, state=TaskState.SHUTDOWN, message="shutdown")
        update_task(tx, replace(task, status=status, desired_state=TaskState.SHUTDOWN))
        delete_service(tx, str(gone["ServiceID"]))

    store.update(half_done)
    store.close()
    doomed = [str(t["Status"]["ContainerStatus"]["ContainerID"]) for t in (web[0], gone)]  # type: ignore[index]
    assert all(c in _ours_anywhere(swarm) for c in doomed)

    nodes = [f"--docker-node={node.name}={node.url}" for node in swarm.lab.nodes]
    again = start_engine(tmp_path, *nodes)
    try:
        wait_until(
            lambda: not set(doomed) & set(_ours_anywhere(swarm)),
            60,
            "the finished and removed tasks' containers gone",
        )
        replaced = wait_until(
            lambda: (lambda r: r if len(r) == 2 else None)(running(again, "web")), 60
        )
        assert finished not in {t["ID"] for t in replaced}
        assert len(_ours_anywhere(swarm)) == 2  # the two of web, nothing else
    finally:
        again.stop()


def _ours_anywhere(swarm: Swarm) -> list[str]:
    """Full IDs of every container of ours on any node, running or not."""
    return [
        c
        for node in swarm.lab.nodes
        for c in swarm.docker(
            "ps", "-aq", "--no-trunc", "--filter", f"label={TASK}", node=node.name
        ).split()
    ]


def test_a_host_mode_port_answers_on_the_tasks_node(ours: Engine, swarm: Swarm) -> None:
    script = "echo hello from $(hostname) > /www/index.html; exec httpd -f -p 80 -h /www"
    ours.docker(
        "service", "create", "--detach", "--name", "site",
        "--publish", "mode=host,published=8080,target=80", IMAGE, "sh", "-c", script,
    )  # fmt: skip
    task = wait_until(lambda: running(ours, "site"), 60, "a running task")[0]
    hostname = ours.docker_json("node", "inspect", task["NodeID"])[0]["Description"]["Hostname"]
    # The container binds the node's own port 8080: it answers on every address of the node.
    answer = wait_until(
        lambda: swarm.http_get(hostname, "127.0.0.1", 8080), 30, "an answer on port 8080"
    )
    assert answer.startswith("hello from")
    for node in swarm.lab.nodes:  # the mesh does not carry a host-mode port
        if node.name != hostname:
            assert swarm.http_get(node.name, node.address, 8080) == ""


def test_a_task_reads_its_secret_and_config_files_only_while_it_runs(
    ours: Engine, swarm: Swarm
) -> None:
    for what, name, data in (("secret", "db_password", b"hunter2"), ("config", "app", b"x=1")):
        subprocess.run(
            ["docker", what, "create", name, "-"],
            input=data, env=ours.env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    ours.docker(
        "service", "create", "--detach", "--name", "db", "--restart-condition", "none",
        "--secret", "source=db_password,target=db_password,uid=1000,gid=1001,mode=0400",
        "--config", "source=app,target=/etc/app.conf",
        IMAGE, "sleep", "600",
    )  # fmt: skip
    task = wait_until(lambda: running(ours, "db"), 60, "a running task")[0]
    hostname = ours.docker_json("node", "inspect", task["NodeID"])[0]["Description"]["Hostname"]
    container = str(task["Status"]["ContainerStatus"]["ContainerID"])  # type: ignore[index]

    def in_container(*command: str) -> str:
        return swarm.docker("exec", container, *command, node=hostname)

    assert in_container("cat", "/run/secrets/db_password") == "hunter2"
    assert in_container("stat", "-c", "%u %g %a", "/run/secrets/db_password").split() == [
        "1000",
        "1001",
        "400",
    ]
    assert in_container("cat", "/etc/app.conf") == "x=1"
    assert in_container("stat", "-c", "%a", "/etc/app.conf").strip() == "444"
    written = in_container("sh", "-c", "echo x > /run/secrets/db_password 2>&1 || echo refused")
    assert "refused" in written  # read-only
    inspected = json.loads(swarm.docker("inspect", container, node=hostname))[0]
    assert "hunter2" not in json.dumps(inspected)  # not in its config or environment
    sources = [m["Source"] for m in inspected["Mounts"]]
    assert len(sources) == 2 and all(Path(s).exists() for s in sources)

    ours.docker("service", "scale", "--detach", "db=0")
    wait_until(lambda: not running(ours, "db"), 60, "the task stopped")
    wait_until(lambda: not any(Path(s).exists() for s in sources), 30, "the files gone")
