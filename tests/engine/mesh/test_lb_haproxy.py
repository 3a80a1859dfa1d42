"""HAProxy kept in step through its runtime API, against a real ``haproxy`` (Debian's, installed
by ``.ci/run``): its backends hold exactly the swarm's tasks, HTTP through it reaches each of
them in turn, and it is never reloaded.

Each test runs its own haproxy on loopback, with its stats socket in a temporary directory and
the fragment ``haproxy_config`` writes; the tasks are small aiohttp servers that name themselves,
each on an address of its own (``127.0.0.11``, ``127.0.0.12``...) at the service's target port.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from engine.api.types import NodeState
from engine.mesh.lb import (
    Endpoints,
    HAProxyUpdater,
    LoadBalancerSync,
    WebhookNotifier,
    backend_name,
    build_endpoints,
    haproxy_config,
)
from tests.engine.mesh.conftest import Start, eventually, free_port
from tests.engine.mesh.test_lb import (
    make_node,
    make_service,
    make_task,
    port,
)
from tests.engine.mesh.test_lb_webhook import Receiver, receiver

__all__ = ["receiver"]  # a fixture these tests use too

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"  # Debian's is in sbin
Held = dict[str, tuple[str, int, int]]  # server name -> (address, port, admin state)


class HAProxy:
    """One haproxy process on loopback, answering on ``published``, driven by its socket."""

    def __init__(self, workdir: Path, published: int) -> None:
        self.published = published
        self.socket = workdir / "admin.sock"
        self.operator_socket = workdir / "operator.sock"  # may look, may not add servers
        self.config = workdir / "haproxy.cfg"
        self.config.write_text(
            "global\n"
            f"    stats socket {self.socket} mode 600 level admin\n"
            f"    stats socket {self.operator_socket} mode 600 level operator\n"
            "    nbthread 1\n"
            "defaults\n"
            "    timeout connect 5s\n"
            "    timeout client 30s\n"
            "    timeout server 30s\n"
            "backend operators_own\n"  # a backend of the operator's: never touched
            "    mode tcp\n"
            "    server static 127.0.0.1:9 disabled\n"
            + haproxy_config([published], bind_address="127.0.0.1")
        )
        self.log = workdir / "haproxy.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                HAPROXY, "-db", "-f", str(self.config), stdout=log, stderr=log
            )
        await eventually(self._answers, "haproxy's stats socket")

    async def stop(self) -> None:
        if self.process and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        self.socket.unlink(missing_ok=True)
        self.operator_socket.unlink(missing_ok=True)

    async def _answers(self) -> bool:
        assert self.process and self.process.returncode is None, self.log.read_text()
        try:
            return "Pid:" in await self.command("show info")
        except OSError:
            return False

    async def command(self, line: str) -> str:
        reader, writer = await asyncio.open_unix_connection(self.socket)
        writer.write(line.encode() + b"\n")
        reply = await reader.read()
        writer.close()
        await writer.wait_closed()
        return reply.decode()

    async def info(self, field: str) -> int:
        """A number of ``show info``."""
        lines = (await self.command("show info")).splitlines()
        return int(dict(line.split(": ", 1) for line in lines if line)[field])

    async def pid(self) -> int:
        return await self.info("Pid")

    async def connections(self) -> int:
        """Connections HAProxy accepted so far, its stats socket's included."""
        return await self.info("CumConns")

    async def servers(self, backend: str | None = None) -> Held:
        """The servers of ``backend`` (by default the published port's), as HAProxy has them."""
        backend = backend or backend_name(self.published)
        lines = (await self.command(f"show servers state {backend}")).splitlines()
        names = lines[1].removeprefix("# ").split()
        held = {}
        for line in lines[2:]:
            if line:
                row = dict(zip(names, line.split(), strict=True))
                where = (row["srv_addr"], int(row["srv_port"]), int(row["srv_admin_state"]))
                held[row["srv_name"]] = where
        return held


@pytest.fixture
async def haproxy(tmp_path: Path) -> AsyncIterator[HAProxy]:
    proxy = HAProxy(tmp_path, free_port())
    await proxy.start()
    yield proxy
    await proxy.stop()


def naming(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler that answers with ``name``: who answered is what the tests look at."""

    async def answer(_: web.Request) -> web.Response:
        return web.Response(text=name)

    return answer


@pytest.fixture
async def target() -> AsyncIterator[int]:
    """Three tasks' servers, ``t0`` to ``t2`` at 127.0.0.11-13, each answering with its name;
    the service's target port, the same on every task's address, is the fixture's value."""
    target = free_port("127.0.0.11")
    runners = []
    for at in range(3):
        app = web.Application()
        app.router.add_get("/", naming(f"t{at}"))
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, f"127.0.0.{11 + at}", target).start()
        runners.append(runner)
    yield target
    for runner in runners:
        await runner.cleanup()


NODES = [make_node("n1", "127.0.1.1"), make_node("n2", "127.0.1.2")]


def swarm(haproxy: HAProxy, target: int, names: Sequence[str], *more_ports: int) -> Endpoints:
    """``web`` publishing HAProxy's port (and ``more_ports``), its tasks ``names`` running."""
    tasks = [make_task(name, "n1", f"127.0.0.{11 + int(name[1:])}/8") for name in names]
    ports = [port(p, target) for p in (haproxy.published, *more_ports)]
    return build_endpoints([make_service(ports=ports)], tasks, NODES)


def held(target: int, names: Sequence[str]) -> Held:
    """What HAProxy should hold for those tasks: each at its address, ready (admin state 0)."""
    return {name: (f"127.0.0.{11 + int(name[1:])}", target, 0) for name in names}


async def answers(haproxy: HAProxy, requests: int) -> collections.Counter[str]:
    """Who answered ``requests`` GETs through HAProxy, one connection each."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        named = []
        for _ in range(requests):
            async with http.get(f"http://127.0.0.1:{haproxy.published}/") as answer:
                named.append(await answer.text())
    return collections.Counter(named)


async def holds(haproxy: HAProxy, servers: Held) -> None:
    """Waits until HAProxy's backend holds exactly ``servers``."""

    async def now() -> bool:
        return await haproxy.servers() == servers

    await eventually(now, f"HAProxy to hold {sorted(servers)}")


async def test_scaling_a_service_changes_the_servers_and_http_reaches_every_task_in_turn(
    haproxy: HAProxy, target: int, start: Start
) -> None:
    pid = await haproxy.pid()
    updater = start(HAProxyUpdater(haproxy.socket))
    for running in (["t0"], ["t0", "t1", "t2"], ["t0", "t2"]):
        updater.update(swarm(haproxy, target, running))
        await holds(haproxy, held(target, running))
        assert await answers(haproxy, 4 * len(running)) == {name: 4 for name in running}
    assert await haproxy.pid() == pid  # never reloaded
    assert haproxy.process is not None and haproxy.process.returncode is None


async def test_servers_left_from_before_are_removed_and_other_backends_left_alone(
    haproxy: HAProxy, target: int, start: Start
) -> None:
    backend = backend_name(haproxy.published)
    assert "registered" in await haproxy.command(f"add server {backend}/stale 127.0.0.1:1")
    await haproxy.command(f"set server {backend}/stale state ready")
    assert "registered" in await haproxy.command(f"add server {backend}/t1 127.0.0.99:1")
    assert "registered" in await haproxy.command(f"add server {backend}/t2 127.0.0.13:{target}")
    await haproxy.command(f"set server {backend}/t2 state drain")  # an operator's drain
    others = await haproxy.servers("operators_own")
    start(HAProxyUpdater(haproxy.socket)).update(swarm(haproxy, target, ["t0", "t1", "t2"]))
    await holds(haproxy, held(target, ["t0", "t1", "t2"]))
    assert await answers(haproxy, 6) == {"t0": 2, "t1": 2, "t2": 2}
    assert await haproxy.servers("operators_own") == others
    assert list(others) == ["static"]


async def test_an_haproxy_that_starts_late_or_restarts_is_filled_again(
    haproxy: HAProxy, target: int, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    await haproxy.stop()
    updater = start(HAProxyUpdater(haproxy.socket, resync=0.2))
    updater.update(swarm(haproxy, target, ["t1", "t2"]))
    await eventually(lambda: "haproxy at" in caplog.text, "the updater to say HAProxy is away")
    await haproxy.start()
    await holds(haproxy, held(target, ["t1", "t2"]))
    first = await haproxy.pid()

    await haproxy.stop()
    await haproxy.start()  # a new process: its backends are empty again
    assert await haproxy.pid() != first
    await holds(haproxy, held(target, ["t1", "t2"]))
    assert await answers(haproxy, 4) == {"t1": 2, "t2": 2}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings[0].getMessage().startswith(f"haproxy at {haproxy.socket}: ")
    assert all(r.exc_info is None for r in caplog.records)


async def test_a_server_with_a_connection_attached_takes_no_new_ones_and_goes_once_it_closes(
    haproxy: HAProxy, target: int, start: Start
) -> None:
    updater = start(HAProxyUpdater(haproxy.socket))
    updater.update(swarm(haproxy, target, ["t0", "t1"]))
    await holds(haproxy, held(target, ["t0", "t1"]))
    reader, writer = await asyncio.open_connection("127.0.0.1", haproxy.published)
    writer.write(b"GET / HTTP/1.1\r\nHost: lb\r\n\r\n")  # kept alive: stays attached
    reply = await reader.readuntil(b"\r\n\r\n")
    length = int(reply.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    attached = (await reader.readexactly(length)).decode()
    stays = "t1" if attached == "t0" else "t0"

    updater.update(swarm(haproxy, target, [stays]))
    maint = {**held(target, [stays]), attached: (*held(target, [attached])[attached][:2], 1)}
    await holds(haproxy, maint)  # in maintenance, not deleted: a connection is attached
    assert await answers(haproxy, 4) == {stays: 4}
    writer.close()
    await writer.wait_closed()
    await holds(haproxy, held(target, [stays]))


async def test_a_backend_haproxy_lacks_is_reported_and_the_others_are_filled(
    haproxy: HAProxy, target: int, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    missing = free_port()
    updater = start(HAProxyUpdater(haproxy.socket, resync=0.05))
    updater.update(swarm(haproxy, target, ["t0"], missing))
    await holds(haproxy, held(target, ["t0"]))
    report = (
        f"haproxy at {haproxy.socket} has no backend swarm_{missing}_tcp: include the fragment "
        "haproxy_config() writes for its port"
    )
    await eventually(lambda: report in caplog.text, "the report")
    connections = await haproxy.connections()

    async def passes() -> bool:  # each pass connects once
        return await haproxy.connections() >= connections + 10

    await eventually(passes, "a few more passes")
    assert caplog.text.count(report) == 1


async def test_a_socket_that_may_not_add_servers_is_reported_once_per_problem(
    haproxy: HAProxy, target: int, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    updater = start(HAProxyUpdater(haproxy.operator_socket, resync=0.05))
    updater.update(swarm(haproxy, target, ["t0", "t1"]))
    backend = backend_name(haproxy.published)
    refused = [
        f"haproxy at {haproxy.operator_socket}: 'add server {backend}/{name} "
        f"127.0.0.{11 + at}:{target}': Permission denied"
        for at, name in enumerate(["t0", "t1"])
    ]
    await eventually(lambda: all(line in caplog.text for line in refused), "the refusals")
    connections = await haproxy.connections()

    async def passes() -> bool:
        return await haproxy.connections() >= connections + 5

    await eventually(passes, "a few more passes")
    assert [caplog.text.count(line) for line in refused] == [1, 1]
    assert await haproxy.servers() == {}
    assert all(r.exc_info is None for r in caplog.records)


async def test_nodes_as_the_target_put_each_answering_node_behind_the_port(
    haproxy: HAProxy, target: int, start: Start
) -> None:
    """HAProxy in front of the routing mesh: one server per node, at the published port."""
    runners = []
    for node in NODES:
        app = web.Application()
        app.router.add_get("/", naming(node.id))
        runners.append(web.AppRunner(app))
        await runners[-1].setup()
        await web.TCPSite(runners[-1], node.status.addr, haproxy.published).start()
    try:
        updater = start(HAProxyUpdater(haproxy.socket, target="nodes"))
        updater.update(swarm(haproxy, target, ["t0"]))
        await holds(haproxy, {n: (n, haproxy.published, 0) for n in ("127.0.1.1", "127.0.1.2")})
        assert await answers(haproxy, 4) == {"n1": 2, "n2": 2}
        down = [NODES[0], make_node("n2", "127.0.1.2", state=NodeState.DOWN)]
        tasks = [make_task("t0", "n1", "127.0.0.11/8")]
        ports = [port(haproxy.published, target)]
        updater.update(build_endpoints([make_service(ports=ports)], tasks, down))
        await holds(haproxy, {"127.0.1.1": ("127.0.1.1", haproxy.published, 0)})
    finally:
        for runner in runners:
            await runner.cleanup()


async def test_the_runner_drives_haproxy_and_the_webhook_from_the_same_snapshots(
    haproxy: HAProxy, target: int, receiver: Receiver
) -> None:
    snapshots: asyncio.Queue[Endpoints] = asyncio.Queue()

    async def each() -> AsyncIterator[Endpoints]:
        while True:
            yield await snapshots.get()

    balancers = [HAProxyUpdater(haproxy.socket), WebhookNotifier(receiver.url)]
    runner = asyncio.create_task(LoadBalancerSync(each(), balancers).run())
    try:
        posted: list[int] = []  # how many tasks each post named
        for running in (["t0"], ["t0", "t1", "t2"]):
            snapshots.put_nowait(swarm(haproxy, target, running))
            posted.append(len(running))
            await holds(haproxy, held(target, running))
            await eventually(
                lambda: [len(b["Ports"][0]["Tasks"]) for b in receiver.accepted] == posted,
                f"the webhook to get {running}",
            )
        assert await answers(haproxy, 3) == {"t0": 1, "t1": 1, "t2": 1}
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


def test_the_fragment_is_a_configuration_haproxy_accepts(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "defaults\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n"
        + haproxy_config([8080, 443, 8080], bind_address="::1", mode="http")
    )
    checked = subprocess.run(
        [HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = config.read_text()
    assert "bind [::1]:8080" in text and "backend swarm_443_tcp" in text
    assert text.count("\nbackend swarm_8080_tcp\n") == 1


@pytest.mark.parametrize(
    ("ports", "bind", "mode", "error"),
    [
        ([0], "", "tcp", "invalid published port 0: must be in 1-65535"),
        ([65536], "", "tcp", "invalid published port 65536: must be in 1-65535"),
        ([80], "", "udp", "invalid mode 'udp': must be tcp or http"),
        ([80], "0.0.0.0\nlisten x", "tcp", "invalid bind address '0.0.0.0\\nlisten x': not an IP"),
    ],
)
def test_the_fragment_refuses_what_haproxy_would_not_take(
    ports: list[int], bind: str, mode: str, error: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        haproxy_config(ports, bind_address=bind, mode=mode)  # type: ignore[arg-type]


def test_an_updater_with_an_unknown_target_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid target 'pods': must be tasks or nodes"):
        HAProxyUpdater("/nowhere", target="pods")  # type: ignore[arg-type]
