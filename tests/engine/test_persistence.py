"""Durability: a restarted engine brings its cluster back; SIGKILL loses no acknowledged write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.api.types import NodeState, TaskState
from engine.clock import FakeClock, settle
from engine.embedded import EmbeddedCluster
from engine.manager.dispatcher import UNKNOWN_MESSAGE
from engine.store import MemoryStore, SqlitePersistence, by, find_services
from tests.conftest import make_spec, start_sim

ROOT = Path(__file__).resolve().parents[2]


async def test_services_nodes_tasks_and_the_version_survive_a_restart(tmp_path: Path) -> None:
    sim = await start_sim(data_dir=str(tmp_path))
    sim.control.create_service(make_spec(replicas=5))
    sim.control.create_service(make_spec(name="agent", mode="global"))
    await sim.converge("web", 5)
    await sim.converge("agent", 3)
    nodes = {n.id: n.description for n in sim.control.list_nodes()}
    services = {s.id: s.spec for s in sim.control.list_services()}
    running = {t.id: (t.slot, t.node_id) for t in sim.running()}
    version = sim.cluster.store.version
    clock_time = sim.clock.time()
    await sim.cluster.stop()

    again = await start_sim(data_dir=str(tmp_path), clock=FakeClock(start=clock_time))
    try:
        assert again.cluster.store.version >= version
        assert {n.id: n.description for n in again.control.list_nodes()} == nodes
        assert {s.id: s.spec for s in again.control.list_services()} == services
        await again.advance(30)
        # The same tasks run on: the nodes re-adopted them, nothing was started over.
        assert {t.id: (t.slot, t.node_id) for t in again.running()} == running
        # New writes carry on from the persisted index.
        created = again.control.create_service(make_spec(name="new"))
        assert created.version.index > version
    finally:
        await again.cluster.stop()


async def test_a_node_that_does_not_return_after_a_restart_goes_down(tmp_path: Path) -> None:
    sim = await start_sim(data_dir=str(tmp_path))
    sim.control.create_service(make_spec(replicas=3, restart_delay=0))
    await sim.converge("web", 3)
    clock = FakeClock(start=sim.clock.time())
    await sim.cluster.stop()

    cluster = EmbeddedCluster(data_dir=tmp_path, clock=clock, seed=7, heartbeat_epsilon=0)
    await cluster.start(offline=["swarm-node-2"])
    try:
        await settle()
        node = cluster.control.get_node("swarm-node-2")
        assert node.status.state == NodeState.UNKNOWN
        assert node.status.message == UNKNOWN_MESSAGE
        # Twice the usual grace: 6 periods of 5 s.
        took = await clock.run_until(
            lambda: cluster.control.get_node("swarm-node-2").status.state == NodeState.DOWN
        )
        assert 29.9 <= took <= 30.1
        await clock.run_until(
            lambda: (
                sum(
                    t.status.state == TaskState.RUNNING and t.desired_state == TaskState.RUNNING
                    for t in cluster.control.list_tasks()
                )
                == 3
            )
        )
        node_2 = cluster.control.get_node("swarm-node-2").id
        meant_to_run = [
            t for t in cluster.control.list_tasks() if t.desired_state == TaskState.RUNNING
        ]
        assert all(t.node_id != node_2 for t in meant_to_run)
    finally:
        await cluster.stop()


def test_sigkill_during_a_burst_of_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    for round_number in range(3):
        data_dir = tmp_path / f"round-{round_number}"
        acknowledged = _write_until_killed(data_dir, seconds=0.4 + 0.3 * round_number)
        assert len(acknowledged) > 10, "the writer did not get going"
        store = MemoryStore(time.time, SqlitePersistence(data_dir))
        try:
            stored = {s.id for s in store.view(lambda tx: find_services(tx, by.all()))}
            missing = set(acknowledged) - stored
            assert not missing, f"{len(missing)} acknowledged writes lost"
            assert store.version >= max(acknowledged.values())
        finally:
            store.close()


def _write_until_killed(data_dir: Path, seconds: float) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.store.crash_writer", str(data_dir)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
        text=True,
    )
    assert process.stdout is not None
    acknowledged: dict[str, int] = {}
    deadline = time.monotonic() + 30
    started: float | None = None
    for line in process.stdout:
        service_id, version = line.split()
        acknowledged[service_id] = int(version)
        started = started or time.monotonic()
        if time.monotonic() - started >= seconds or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGKILL)
    # Whatever it printed before it died was acknowledged too.
    for line in process.stdout:
        parts = line.split()
        if len(parts) == 2:
            acknowledged[parts[0]] = int(parts[1])
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    return acknowledged
