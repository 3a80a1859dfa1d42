"""Renderers: rows from snapshots, without Textual."""

from __future__ import annotations

import dataclasses

from msgspec.structs import replace

from console.model import Snapshot
from console.render.formatting import bar, size
from console.render.rows import node_rows, service_rows
from engine.api.objects import (
    Node,
    NodeDescription,
    NodeStatus,
    Service,
    Task,
    TaskStatus,
    UpdateStatus,
)
from engine.api.specs import ContainerSpec, ReplicatedService, ServiceMode, ServiceSpec, TaskSpec
from engine.api.types import NodeState, TaskState


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
    assert row.cells[6] == "updating 2/3"
    assert row.state == "busy"
    paused = replace(snapshot.services[0], update_status=UpdateStatus(state="paused"))
    (row,) = service_rows(dataclasses.replace(snapshot, services=(paused,)))
    assert row.cells[6] == "paused 2/3" and row.state == "bad"


def test_nodes_show_memory_in_use_when_metrics_are_there() -> None:
    node = Node(
        id="n1",
        description=NodeDescription(hostname="swarm-node-1"),
        status=NodeStatus(state=NodeState.READY),
    )
    with_usage = Snapshot(nodes=(node,), tasks=(task(1, "x"),), usage={"t1": (1.0, 64 * 2**20)})
    assert node_rows(with_usage)[0].cells[6] == "64MiB"
    assert node_rows(Snapshot(nodes=(node,)))[0].cells[6] == "-"


def test_formats() -> None:
    assert [size(512), size(64 * 2**20), size(3 * 2**30)] == ["512B", "64MiB", "3GiB"]
    assert bar(2, 4, width=8) == "████░░░░"
    assert bar(0, 0, width=4) == "░░░░"
