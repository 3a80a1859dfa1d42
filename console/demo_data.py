"""A repeatable picture of the demo cluster, for screenshots and snapshot tests.

It runs the embedded cluster on a fake clock from a fixed seed, so every run gives the same
nodes, services, tasks, usage history, log lines and events, down to the IDs and timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from console.feed import Feed
from console.model import Snapshot
from engine.api.specs import ServiceSpec
from engine.client import EngineClient, LogEntry
from engine.clock import FakeClock
from engine.demo import DEMO_SERVICES
from engine.embedded import EmbeddedCluster
from engine.serve import served

__all__ = ["DemoData", "demo_data"]

SEED = 4
STEPS = 20  # snapshots of history, 2 s apart, for the metrics view
NODE_LABELS = {
    "swarm-master": {"zone": "a"},
    "swarm-node-1": {"zone": "a"},
    "swarm-node-2": {"zone": "b"},
}


@dataclass(frozen=True)
class DemoData:
    history: list[Snapshot]
    logs: list[LogEntry]
    events: list[dict[str, Any]]

    @property
    def snapshot(self) -> Snapshot:
        return self.history[-1]


async def demo_data(workdir: Path) -> DemoData:
    """The demo cluster after two minutes: converged, a crash-looping worker, an update.

    The cluster runs on a fake clock and is read through the Engine API, as the console reads
    any cluster; ``workdir`` holds the socket.
    """
    clock = FakeClock()
    cluster = EmbeddedCluster(clock=clock, seed=SEED, heartbeat_epsilon=0)
    socket = workdir / "demo.sock"
    async with served(cluster, socket):
        client = EngineClient(f"unix://{socket}")
        try:
            await clock.advance(1)
            for node in await client.nodes():
                labels = NODE_LABELS.get(node.hostname, {})
                await client.modify_node(
                    node.id, lambda spec, wanted=labels: replace(spec, labels=wanted)
                )
            for spec in DEMO_SERVICES:
                await client.create_service(spec)
            await clock.advance(100)
            web = next(s for s in await client.services() if s.spec.name == "web")
            await client.modify_service(web.id, _newer_web)
            feed, history = Feed(client), []
            for _ in range(STEPS):
                await clock.advance(2)
                history.append(await feed.snapshot(clock.time()))
            logs = [entry async for entry in client.logs("services", web.id, tail=20)]
            events = [event async for event in client.events(since=0, until=clock.time())]
        finally:
            await client.close()
    return DemoData(history, logs, events)


def _newer_web(spec: ServiceSpec) -> ServiceSpec:
    template = spec.task_template
    assert template is not None and template.container_spec is not None
    container = replace(template.container_spec, image="nginx:1.11")
    return replace(spec, task_template=replace(template, container_spec=container))
