"""Routing mesh figures: HTTP through the mesh's TCP listener against straight to one task.

Three processes, so none of them steals the others' event loop: an HTTP backend (a small
asyncio server answering every GET with nginx's 612-byte welcome page, as a simulated task
does), the mesh (``engine.mesh.proxy.serve_tcp`` with that one backend in its pool), and a load
generator. Each run measures straight to the backend and through the mesh back to back, in a
different order each run; the figures are medians over the runs.

- ``mesh_rps_ratio_keepalive_off``/``_on``: requests per second through the mesh divided by
  straight, with ``Connection: close`` on every request (a new connection each), then over
  kept-alive connections; 32 requests in flight;
- ``mesh_added_latency_p50_us``/``_p99_us``: one request at a time over a kept-alive connection,
  the mesh's percentile minus the straight one: what the hop adds to a request;
  ``mesh_added_latency_new_connection_p50_us``/``_p99_us``: the same with a new connection per
  request (what ``curl`` does), so the mesh's own connection to the backend is in it;
- ``mesh_idle_connections_held``: connections opened through the mesh and left idle that then
  all answer a request; ``mesh_bytes_per_idle_connection``: the mesh process's RSS growth
  divided by them (the kernel's socket buffers are not in it). Each connection through the mesh
  takes two file descriptors of its process.

    python benchmarks/mesh.py [--runs 7] [--seconds 2] [--idle 10000] [--haproxy]
                              [--loop asyncio|uvloop] [--side-loop asyncio|uvloop]

``--haproxy`` measures HAProxy (TCP mode, same backend) beside the mesh: what a proxy written in
C adds on the same machine. ``--loop uvloop`` runs the mesh on uvloop, ``--side-loop uvloop``
the backend and the load generator (uvloop must be importable; it is not a dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, cast

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
CONCURRENCY = 32  # connections the load generator keeps busy at once
WARMUP = 0.5  # seconds of load before counting
LATENCY_REQUESTS = 2000  # sequential requests per latency sample
MAX_FAILURES = 1000  # connections refused before the load generator gives up
IDLE_BATCH, IDLE_PAUSE = 500, 0.2  # idle connections are opened in batches: the mesh's
# connects to the backend must not overflow its accept queue (that is a burst, not holding)
OPEN_FILES = 65536  # file descriptors each process asks for: 10,000 connections need 2 each

BODY = (
    b"<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n<style>\n"
    b"    body {\n        width: 35em;\n        margin: 0 auto;\n"
    b"        font-family: Tahoma, Verdana, Arial, sans-serif;\n    }\n</style>\n</head>\n"
    b"<body>\n<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is "
    b"successfully installed and\nworking. Further configuration is required.</p>\n\n"
    b"<p>For online documentation and support please refer to\n"
    b'<a href="http://nginx.org/">nginx.org</a>.<br/>\nCommercial support is available at\n'
    b'<a href="http://nginx.com/">nginx.com</a>.</p>\n\n'
    b"<p><em>Thank you for using nginx.</em></p>\n</body>\n</html>\n"
).ljust(612)
HEAD = b"HTTP/1.1 200 OK\r\nServer: nginx/1.10.3\r\nContent-Type: text/html\r\n"
KEEP = HEAD + b"Content-Length: 612\r\nConnection: keep-alive\r\n\r\n" + BODY
CLOSE = HEAD + b"Content-Length: 612\r\nConnection: close\r\n\r\n" + BODY
REQUEST_KEEP = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: mesh-bench\r\n\r\n"
REQUEST_CLOSE = (
    b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: mesh-bench\r\nConnection: close\r\n\r\n"
)


def raise_open_files() -> None:
    """As many file descriptors as ``OPEN_FILES``: root may raise the hard limit too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(OPEN_FILES, soft), max(OPEN_FILES, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def event_loop(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop  # type: ignore[import-not-found]  # measured, not a dependency

        return uvloop.new_event_loop  # type: ignore[no-any-return]
    return asyncio.new_event_loop


# The backend: a task's web server.


class HttpServer(asyncio.Protocol):
    """Answers each request (a GET without body) with the welcome page."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are no subclasses

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            if b"Connection: close" in head:
                self.transport.write(CLOSE)
                self.transport.close()
                return
            self.transport.write(KEEP)

    def eof_received(self) -> bool:
        return False


async def backend() -> None:
    server = await asyncio.get_running_loop().create_server(HttpServer, HOST, 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


# The mesh.


async def mesh(backend_port: int) -> None:
    from engine.mesh.pool import Backend, BackendPool
    from engine.mesh.proxy import serve_tcp

    pool = BackendPool([Backend("task", HOST, backend_port)])
    listener = await serve_tcp(pool, HOST, 0)
    print(listener.address[1], flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    # Opened now: once the connections take every descriptor, no file could be opened.
    with Path("/proc/self/status").open() as status:
        while await reader.readline():  # each line asks how many connections and what RSS
            files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            answer = {"connections": listener.connections, "rss": rss(status), "files": files}
            print(json.dumps(answer), flush=True)


def rss(status: TextIO) -> int:
    status.seek(0)
    for line in status.read().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


# The load generator.


class HttpClient(asyncio.Protocol):
    """One connection's requests, one at a time; a new connection per request without
    keep-alive."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.transport: asyncio.Transport | None = None
        self.received = 0
        self.started = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are no subclasses
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        if not self.started:
            self.started = time.perf_counter_ns()
        self.received = 0
        self.transport.write(REQUEST_KEEP if self.load.keepalive else REQUEST_CLOSE)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.received += len(data)
        expected = len(KEEP) if self.load.keepalive else len(CLOSE)
        if self.received < expected:
            return
        self.load.done(time.perf_counter_ns() - self.started)
        self.started = 0
        if self.load.keepalive and not self.load.stopping:
            self.send()
        elif not self.load.keepalive:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.load.lost(self)


class Load:
    """Keeps ``concurrency`` requests in flight against ``port`` and counts them."""

    def __init__(self, port: int, keepalive: bool, concurrency: int) -> None:
        self.port = port
        self.keepalive = keepalive
        self.concurrency = concurrency
        self.counting = False
        self.stopping = False
        self.count = 0
        self.failures = 0
        self.latencies: list[int] = []
        self.connections: set[HttpClient] = set()
        self.finished = asyncio.Event()

    def done(self, latency: int) -> None:
        if self.counting:
            self.count += 1
            self.latencies.append(latency)

    def lost(self, client: HttpClient) -> None:
        self.connections.discard(client)
        if not self.stopping:
            self.open()
        elif not self.connections:
            self.finished.set()

    def open(self) -> None:
        client = HttpClient(self)
        self.connections.add(client)
        client.started = time.perf_counter_ns()  # a new connection's latency includes connecting
        asyncio.get_running_loop().create_task(self._connect(client))

    async def _connect(self, client: HttpClient) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: client, HOST, self.port)
        except OSError as error:
            self.failures += 1
            if self.failures > MAX_FAILURES:
                raise SystemExit(f"cannot connect to port {self.port}: {error}") from None
            client.connection_lost(None)


async def load_test(port: int, keepalive: bool, seconds: float, concurrency: int) -> dict[str, Any]:
    load = Load(port, keepalive, concurrency)
    for _ in range(concurrency):
        load.open()
    await asyncio.sleep(WARMUP)
    load.counting = True
    began = time.perf_counter()
    await asyncio.sleep(seconds)
    load.counting = False
    elapsed = time.perf_counter() - began
    load.stopping = True
    for client in list(load.connections):
        if client.transport is not None:
            client.transport.close()
    if load.connections:
        await asyncio.wait_for(load.finished.wait(), 10)
    return {"rps": load.count / elapsed}


async def latency_test(port: int, keepalive: bool, requests: int) -> dict[str, Any]:
    load = Load(port, keepalive, 1)
    load.counting = True
    load.open()
    while load.count < requests:
        await asyncio.sleep(0.05)
    load.stopping = True
    for client in list(load.connections):
        if client.transport is not None:
            client.transport.close()
    latencies = sorted(load.latencies[:requests])
    return {
        "p50": latencies[len(latencies) // 2] / 1000,
        "p99": latencies[int(len(latencies) * 0.99)] / 1000,
    }


async def idle_test(port: int, count: int) -> dict[str, Any]:
    """Opens ``count`` connections and waits for a line on stdin; then asks on each of them."""
    loop = asyncio.get_running_loop()
    opened = []
    for index in range(count):
        try:
            opened.append(await asyncio.open_connection(HOST, port))
        except OSError:
            break
        if index % IDLE_BATCH == IDLE_BATCH - 1:
            await asyncio.sleep(IDLE_PAUSE)
    print(len(opened), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.readline()
    for _, writer in opened:
        writer.write(REQUEST_KEEP)
    answered = 0
    for stream, _ in opened:
        try:
            await asyncio.wait_for(stream.readexactly(len(KEEP)), 30)
            answered += 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
    for _, writer in opened:
        writer.close()
    return {"answered": answered}


def client(args: argparse.Namespace) -> dict[str, Any]:
    test: Any
    if args.test == "load":
        test = load_test(args.port, args.keepalive, args.seconds, CONCURRENCY)
    elif args.test == "latency":
        test = latency_test(args.port, args.keepalive, LATENCY_REQUESTS)
    else:
        test = idle_test(args.port, args.idle)
    with asyncio.Runner(loop_factory=event_loop(args.loop)) as runner:
        result: dict[str, Any] = runner.run(test)
    return result


# The conductor.


def spawn(*args: str) -> subprocess.Popen[str]:
    """This script in another process, with this one's import path."""
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path[1:]])),
    )


class Process:
    """A role of this script in its own process; its first line of output is a port."""

    def __init__(self, *args: str) -> None:
        self.process = spawn(*args)
        self.port = int(self.line())

    def line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.process.args} ended: {self.process.wait()}")
        return line

    def ask(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.line())
        return answer

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


class HAProxy:
    """HAProxy in TCP mode in front of the same backend: what a proxy in C adds here."""

    def __init__(self, backend_port: int, workdir: Path) -> None:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        config = workdir / "haproxy.cfg"
        config.write_text(
            "global\n    maxconn 5000\n"
            "defaults\n    mode tcp\n    timeout connect 3s\n"
            "    timeout client 60s\n    timeout server 60s\n"
            f"listen mesh\n    bind {HOST}:{self.port}\n"
            f"    server task {HOST}:{backend_port}\n"
        )
        self.process = subprocess.Popen(
            ["haproxy", "-db", "-f", str(config)], stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((HOST, self.port)).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def run_client(loop: str, *args: str) -> dict[str, Any]:
    process = spawn("--loop", loop, "--role", "client", *args)
    out, _ = process.communicate()
    if process.returncode:
        raise RuntimeError(f"{process.args} ended: {process.returncode}")
    answer: dict[str, Any] = json.loads(out.splitlines()[-1])
    return answer


def conduct(args: argparse.Namespace) -> None:
    side_loop = args.side_loop
    server = Process("--loop", side_loop, "--role", "backend")
    proxy = Process("--loop", args.loop, "--role", "mesh", "--port", str(server.port))
    targets = {"straight": server.port, "mesh": proxy.port}
    with tempfile.TemporaryDirectory() as workdir:
        reference = HAProxy(server.port, Path(workdir)) if args.haproxy else None
        if reference is not None:
            targets["haproxy"] = reference.port
        print(f"# mesh on {args.loop}, backend and load generator on {side_loop}")
        try:
            throughput(args, targets)
            latency(args, targets)
            idle(args, proxy)
        finally:
            for process in (proxy, server, reference):
                if process is not None:
                    process.close()


def rotated(targets: dict[str, int], run: int) -> list[tuple[str, int]]:
    """The targets in a different order each run, so none is always measured first."""
    items = list(targets.items())
    shift = run % len(items)
    return items[shift:] + items[:shift]


def throughput(args: argparse.Namespace, targets: dict[str, int]) -> None:
    for keepalive in (False, True):
        name = "on" if keepalive else "off"
        ratios: dict[str, list[float]] = {target: [] for target in targets}
        for run in range(args.runs):
            rps = {}
            for target, port in rotated(targets, run):
                flags = ["--test", "load", "--port", str(port), "--seconds", str(args.seconds)]
                rps[target] = run_client(
                    args.side_loop, *flags, *(["--keepalive"] if keepalive else [])
                )["rps"]
            for target in targets:
                ratios[target].append(rps[target] / rps["straight"])
            print(
                f"# keep-alive {name} run {run + 1}: "
                + ", ".join(f"{target} {rps[target]:.0f} req/s" for target in targets)
            )
        if "haproxy" in targets:
            print(f"# haproxy ratio: {statistics.median(ratios['haproxy']):.2f}")
        print(f"BENCH mesh_rps_ratio_keepalive_{name} {statistics.median(ratios['mesh']):.2f}")


def latency(args: argparse.Namespace, targets: dict[str, int]) -> None:
    for keepalive, suffix in ((True, ""), (False, "_new_connection")):
        added: dict[str, dict[str, list[float]]] = {
            target: {"p50": [], "p99": []} for target in targets
        }
        for run in range(args.runs):
            flags = ["--test", "latency", *(["--keepalive"] if keepalive else [])]
            measured = {
                target: run_client(args.side_loop, *flags, "--port", str(port))
                for target, port in rotated(targets, run)
            }
            for target in targets:
                for key in ("p50", "p99"):
                    added[target][key].append(measured[target][key] - measured["straight"][key])
            print(
                f"# latency{suffix.replace('_', ' ')} run {run + 1}: "
                + ", ".join(
                    f"{target} p50 {measured[target]['p50']:.0f} us p99 "
                    f"{measured[target]['p99']:.0f} us"
                    for target in targets
                )
            )
        for key in ("p50", "p99"):
            if "haproxy" in targets:
                print(
                    f"# haproxy added{suffix.replace('_', ' ')} {key}: "
                    f"{statistics.median(added['haproxy'][key]):.0f} us"
                )
            print(
                f"BENCH mesh_added_latency{suffix}_{key}_us "
                f"{statistics.median(added['mesh'][key]):.0f}"
            )


def idle(args: argparse.Namespace, proxy: Process) -> None:
    before = proxy.ask()
    holder = spawn(
        *("--loop", args.side_loop, "--role", "client", "--test", "idle"),
        *("--port", str(proxy.port), "--idle", str(args.idle)),
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        opened = int(holder.stdout.readline())
        deadline = time.monotonic() + 60
        held = proxy.ask()
        while held["connections"] < opened and time.monotonic() < deadline:
            time.sleep(0.2)
            held = proxy.ask()
        holder.stdin.write("\n")
        holder.stdin.flush()
        answered = json.loads(holder.stdout.readline())["answered"]
    finally:
        holder.kill()
        holder.wait()
    grown = held["rss"] - before["rss"]
    print(
        f"# idle: {opened} opened, {held['connections']} held by the mesh, {answered} answered"
        f" a request afterwards; the mesh's process may open {held['files']} files"
        " (RLIMIT_NOFILE) and each connection through it takes two"
    )
    print(f"BENCH mesh_idle_connections_held {min(held['connections'], answered)}")
    print(f"BENCH mesh_bytes_per_idle_connection {grown / max(held['connections'], 1):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--idle", type=int, default=10000)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--side-loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--role", choices=["conductor", "backend", "mesh", "client"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--test", choices=["load", "latency", "idle"])
    parser.add_argument("--keepalive", action="store_true")
    parser.add_argument(
        "--haproxy", action="store_true", help="measure HAProxy in TCP mode too, for reference"
    )
    args = parser.parse_args()
    raise_open_files()
    if args.role in (None, "conductor"):
        conduct(args)
    elif args.role == "client":
        print(json.dumps(client(args)), flush=True)
    else:
        with asyncio.Runner(loop_factory=event_loop(args.loop)) as runner:
            runner.run(backend() if args.role == "backend" else mesh(args.port))


if __name__ == "__main__":
    main()
