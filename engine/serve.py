"""Starting a served engine: a cluster with the Engine API on a unix socket, in this process or
as a process of its own; and the demo cluster, live or as a recording to replay.

    async with served(EmbeddedCluster(), socket):      # in this process
        ...
    subprocess.Popen(serve_command(socket, data_dir))  # a daemon, ``python -m engine serve``
    recording = await record_demo(workdir)             # the demo's answers, the same every time
    client = EngineClient(transport=recording.transport())
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from msgspec.structs import replace

from engine.api.specs import NodeSpec, ServiceSpec
from engine.client import EngineClient
from engine.client.fake import HOLD, Answer, FakeTransport
from engine.clock import FakeClock
from engine.demo import make_demo
from engine.embedded import EmbeddedCluster
from engine.httpapi.app import make_app
from engine.httpapi.events import EventLog
from engine.httpapi.server import TcpListen, serve_tcp, serve_unix
from engine.node.daemon import NodeDaemon

__all__ = ["DemoPoll", "DemoRecording", "record_demo", "serve_command", "serve_demo", "served"]

DEMO_SEED = 4
DEMO_POLLS = 20  # polls, 2 s apart, so that the metrics view has a history
DEMO_NODE_LABELS = {
    "swarm-master": {"zone": "a"},
    "swarm-node-1": {"zone": "a"},
    "swarm-node-2": {"zone": "b"},
}


@contextlib.asynccontextmanager
async def served(
    cluster: EmbeddedCluster | NodeDaemon, socket: Path, tcp: TcpListen | None = None
) -> AsyncIterator[None]:
    """Starts ``cluster`` (or one node) and serves the Engine API for it on ``socket``, and on
    ``tcp`` with mutual TLS if given, while the block runs."""
    await cluster.start()
    events = EventLog(cluster.store, cluster.clock)
    event_task = asyncio.create_task(events.run())
    runner = None
    try:
        runner = await serve_unix(make_app(cluster, events), socket)
        if tcp is not None:
            await serve_tcp(runner, tcp)
        yield
    finally:
        if runner is not None:
            await runner.cleanup()
        event_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await event_task
        await cluster.stop()
        if runner is not None:  # the socket is this engine's: not one it refused to take over
            with contextlib.suppress(FileNotFoundError):
                socket.unlink()


@contextlib.asynccontextmanager
async def serve_demo(socket: Path, nodes: int = 3, seed: int | None = None) -> AsyncIterator[None]:
    """Serves the embedded demo cluster (``engine.demo``'s services) on ``socket`` while the
    block runs."""
    cluster = EmbeddedCluster(nodes=nodes, seed=seed, mesh=True)
    async with served(cluster, socket):
        client = EngineClient(f"unix://{socket}")
        try:
            await make_demo(client)
        finally:
            await client.close()
        yield


def serve_command(socket: Path, data_dir: Path, *extra: str, nodes: int | None = 3) -> list[str]:
    """The command line of ``python -m engine serve`` with this interpreter, for whatever starts
    an engine as a process of its own (tests, benchmarks): a swarm of ``nodes`` simulated nodes,
    or with ``nodes=None`` one node outside any swarm."""
    return [
        sys.executable,
        "-m",
        "engine",
        "serve",
        f"--socket={socket}",
        f"--data-dir={data_dir}",
        *([f"--nodes={nodes}"] if nodes is not None else []),
        *extra,
    ]


@dataclass(frozen=True)
class DemoPoll:
    """What a poll of the demo cluster read, at ``time``: the API's answers, as bytes."""

    time: float
    nodes: bytes
    services: bytes
    tasks: bytes
    metrics: bytes
    swarm: bytes
    networks: bytes
    secrets: bytes
    configs: bytes


@dataclass(frozen=True)
class DemoRecording:
    """The demo cluster's answers to ``DEMO_POLLS`` polls, the logs of its ``web`` service
    and its events: ``transport()`` answers them again, in order, to one console."""

    polls: tuple[DemoPoll, ...]
    web_id: str
    logs: bytes
    events: bytes

    def transport(self) -> FakeTransport:
        """An endpoint that answers each poll in turn, then holds: a console reading it shows
        the last poll, with the history of those before."""
        fake = FakeTransport("demo://recording")
        for path, part in (
            ("/nodes", "nodes"),
            ("/services", "services"),
            ("/tasks", "tasks"),
            ("/swarm", "swarm"),
            ("/networks", "networks"),
            ("/secrets", "secrets"),
            ("/configs", "configs"),
        ):
            fake.answer("GET", path, *(Answer(getattr(p, part)) for p in self.polls), HOLD)
        fake.answer("GET", "/metrics", *(Answer(p.metrics) for p in self.polls), HOLD)
        fake.answer("GET", f"/services/{self.web_id}/logs", Answer(self.logs), HOLD)
        fake.answer("GET", "/events", Answer(self.events), HOLD)
        return fake

    def clock(self) -> Callable[[], float]:
        """The time of each poll in turn, for a feed that asks once a poll."""
        times = iter([p.time for p in self.polls])
        last = self.polls[-1].time
        return lambda: next(times, last)


async def record_demo(workdir: Path) -> DemoRecording:
    """The demo cluster after two minutes, on a fake clock from a fixed seed: converged, a
    crash-looping worker, web updated to nginx:1.11; the same, to the byte, every time.
    ``workdir`` holds the socket it is read through."""
    clock = FakeClock()
    cluster = EmbeddedCluster(clock=clock, seed=DEMO_SEED, heartbeat_epsilon=0)
    socket = workdir / "demo.sock"
    async with served(cluster, socket):
        client = EngineClient(f"unix://{socket}")
        try:
            await clock.advance(1)
            for node in await client.nodes():
                await client.modify_node(node.id, _labelled(DEMO_NODE_LABELS.get(node.hostname)))
            await make_demo(client)
            await clock.advance(100)
            web = next(s for s in await client.services() if s.spec.name == "web")
            await client.modify_service(web.id, _newer_web)
            polls = []
            for _ in range(DEMO_POLLS):
                await clock.advance(2)
                polls.append(await _poll(client, clock.time()))
            logs = await _read(client, f"/services/{web.id}/logs", _LOG_PARAMS)
            events = await _read(client, "/events", {"since": "0", "until": f"{clock.time():.9f}"})
        finally:
            await client.close()
    return DemoRecording(tuple(polls), web.id, logs, events)


_LOG_PARAMS = {"stdout": "1", "stderr": "1", "details": "1", "timestamps": "1", "tail": "20"}


async def _poll(client: EngineClient, moment: float) -> DemoPoll:
    nodes, services, tasks, swarm, networks, secrets, configs = await asyncio.gather(
        _read(client, "/nodes"),
        _read(client, "/services", {"status": "true"}),
        _read(client, "/tasks"),
        _read(client, "/swarm"),
        _read(client, "/networks"),
        _read(client, "/secrets"),
        _read(client, "/configs"),
    )
    metrics = await _read(client, "/metrics", versioned=False)
    return DemoPoll(moment, nodes, services, tasks, metrics, swarm, networks, secrets, configs)


async def _read(
    client: EngineClient, path: str, params: dict[str, str] | None = None, versioned: bool = True
) -> bytes:
    async with client.transport.request(
        "GET", path, params=params, versioned=versioned
    ) as response:
        return await response.read()


def _labelled(labels: dict[str, str] | None) -> Callable[[NodeSpec], NodeSpec]:
    return lambda spec: replace(spec, labels=labels or {})


def _newer_web(spec: ServiceSpec) -> ServiceSpec:
    template = spec.task_template
    assert template is not None and template.container_spec is not None
    container = replace(template.container_spec, image="nginx:1.11")
    return replace(spec, task_template=replace(template, container_spec=container))
