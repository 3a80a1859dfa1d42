"""``python -m engine serve`` (or ``swarmdeck engine serve``): the engine as a daemon that serves
the Docker Engine API.

    swarmdeck engine serve --socket /tmp/node.sock --data-dir ~/.local/share/swarmdeck
    swarmdeck engine serve ... --executor docker --docker-host unix:///run/docker.sock
    swarmdeck engine serve ... --nodes 3
    swarmdeck engine serve ... --docker-node swarm-master=unix:///run/docker.sock ...

The first two are one node each, as a dockerd: outside any swarm until ``docker swarm init`` or
``docker swarm join`` through the socket. ``--nodes`` serves a whole swarm of simulated nodes in
one process, ``--docker-node`` one whose nodes are Docker Engines. Then
``DOCKER_HOST=unix:///tmp/node.sock docker info`` drives it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import platform
import resource
import signal
import sys
from pathlib import Path

from engine.ca import CAError
from engine.collector import keep_collections_short
from engine.embedded import NODE_ADDRESSES, EmbeddedCluster
from engine.httpapi.server import TcpListen
from engine.manager import defaults
from engine.mesh.lb import HAProxyUpdater, WebhookNotifier, haproxy_config
from engine.node.daemon import Executor, NodeDaemon
from engine.serve import served

__all__ = ["main"]

log = logging.getLogger("swarmdeck.engine")

ENGINE_SCHEMES = ("unix://", "tcp://", "http://")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="swarmdeck engine", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run a node (or a whole swarm) and serve the Engine API on a socket"
    )
    serve.add_argument("--socket", required=True, type=Path, help="unix socket to serve on")
    serve.add_argument(
        "--data-dir", required=True, type=Path, help="where the cluster state is kept"
    )
    serve.add_argument(
        "--nodes",
        type=_positive_int,
        default=None,
        help="serve a whole swarm of this many simulated nodes in this process",
    )
    serve.add_argument(
        "--executor",
        choices=("sim", "docker"),
        default="sim",
        help="what runs this node's tasks: simulated containers (default) or a Docker Engine's",
    )
    serve.add_argument(
        "--docker-host",
        type=_engine_url,
        metavar="URL",
        help="the Docker Engine of --executor docker",
    )
    serve.add_argument(
        "--hostname", default=None, help="the node's hostname (default: this machine's)"
    )
    serve.add_argument(
        "--heartbeat",
        type=_positive_float,
        default=defaults.HEARTBEAT_PERIOD,
        help="seconds between node heartbeats (default 5)",
    )
    serve.add_argument(
        "--docker-node",
        action="append",
        default=[],
        type=_docker_node,
        metavar="NAME=URL",
        help="a node that is a Docker Engine (unix:// or tcp://): tasks run as real containers "
        "on it; repeat for each node, the first is the manager (replaces --nodes)",
    )
    serve.add_argument(
        "--host",
        type=_tcp_address,
        metavar="tcp://HOST:PORT",
        help="serve the API over TCP too, with mutual TLS (--tlsverify and its files)",
    )
    serve.add_argument(
        "--tlsverify", action="store_true", help="require a client certificate --tlscacert signed"
    )
    serve.add_argument("--tlscacert", type=Path, help="the CA that signs client certificates")
    serve.add_argument("--tlscert", type=Path, help="the server's certificate")
    serve.add_argument("--tlskey", type=Path, help="the server's key")
    serve.add_argument(
        "--node-addresses",
        metavar="PREFIX",
        help=f"simulated node N answers on PREFIX.N (default {NODE_ADDRESSES}, on this host)",
    )
    serve.add_argument(
        "--lb-webhook",
        metavar="URL",
        action="append",
        default=[],
        help="POST a service's endpoints to URL whenever they change (repeat for more)",
    )
    serve.add_argument(
        "--lb-haproxy",
        metavar="SOCKET",
        action="append",
        default=[],
        help="keep HAProxy's swarm_<port>_<proto> backends in step through its runtime API "
        "(an admin stats socket; engine haproxy-config prints the backends to include)",
    )
    serve.add_argument("--seed", type=int, default=None, help="repeat a simulation exactly")
    serve.add_argument("--verbose", action="store_true", help="log debug messages")
    config = commands.add_parser(
        "haproxy-config", help="print the haproxy.cfg part that --lb-haproxy keeps in step"
    )
    config.add_argument("ports", metavar="PORT", type=int, nargs="+", help="published TCP ports")
    config.add_argument("--bind", default="", help="the address HAProxy listens on (all)")
    config.add_argument("--mode", choices=("tcp", "http"), default="tcp")
    return parser


def _docker_node(text: str) -> tuple[str, str]:
    name, _, url = text.partition("=")
    if not name or not url.startswith(ENGINE_SCHEMES):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME=URL with a unix://, tcp:// or http:// URL"
        )
    return name, url


def _engine_url(text: str) -> str:
    if not text.startswith(ENGINE_SCHEMES):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a unix://, tcp:// or http:// URL")
    return text


def _tcp_address(text: str) -> tuple[str, int]:
    host, _, port = text.removeprefix("tcp://").rpartition(":")
    if not text.startswith("tcp://") or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: expected tcp://HOST:PORT")
    return host.strip("[]"), int(port)


def _tcp_listen(args: argparse.Namespace) -> TcpListen | None:
    """Where to serve over TCP, if asked: only with mutual TLS, whose three files are given."""
    files = (args.tlscacert, args.tlscert, args.tlskey)
    if args.host is None:
        if args.tlsverify or any(files):
            raise ValueError("--tlsverify and its files are for --host tcp://HOST:PORT")
        return None
    if not args.tlsverify or not all(files):
        raise ValueError(
            "--host tcp:// needs --tlsverify, --tlscacert, --tlscert and --tlskey: "
            "the API over TCP is served with mutual TLS only"
        )
    host, port = args.host
    return TcpListen(host, port, args.tlscacert, args.tlscert, args.tlskey)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _backend(args: argparse.Namespace) -> EmbeddedCluster | NodeDaemon:
    """A whole swarm in this process (``--nodes``, ``--docker-node``), or one node."""
    if args.nodes is not None or args.docker_node:
        if args.executor != "sim" or args.docker_host or args.hostname:
            raise ValueError(
                "--executor, --docker-host and --hostname are for one node: "
                "leave out --nodes and --docker-node"
            )
        names = [name for name, _ in args.docker_node]
        if len(set(names)) != len(names):
            raise ValueError(f"--docker-node names a node twice: {', '.join(names)}")
        return EmbeddedCluster(
            nodes=args.nodes or 3,
            data_dir=args.data_dir,
            seed=args.seed,
            heartbeat_period=args.heartbeat,
            docker_nodes=dict(args.docker_node),
            node_addresses=args.node_addresses or NODE_ADDRESSES,
            mesh=True,
            balancers=[WebhookNotifier(url) for url in args.lb_webhook]
            + [HAProxyUpdater(socket) for socket in args.lb_haproxy],
        )
    if args.node_addresses is not None or args.lb_webhook or args.lb_haproxy:
        raise ValueError(
            "--node-addresses, --lb-webhook and --lb-haproxy are for a swarm of --nodes"
        )
    if (args.executor == "docker") != (args.docker_host is not None):
        raise ValueError("--executor docker and --docker-host go together")
    return NodeDaemon(
        args.data_dir,
        args.hostname or platform.node(),
        Executor(docker=args.docker_host),
        heartbeat_period=args.heartbeat,
        seed=args.seed,
    )


async def serve(args: argparse.Namespace) -> int:
    """Serves until SIGTERM or SIGINT (0), or until a component fails (1: the state in memory
    can no longer be trusted to reach the disk, so the engine stops rather than go on)."""
    tcp = _tcp_listen(args)
    backend = _backend(args)
    stop = asyncio.Event()  # set from the start: a stop asked for while starting is kept
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with served(backend, args.socket, tcp):
        log.info(
            "serving the Docker Engine API on unix://%s (data in %s)", args.socket, args.data_dir
        )
        if tcp is not None:
            log.info("and on tcp://%s:%d, with mutual TLS", tcp.host, tcp.port)
        collector = asyncio.create_task(keep_collections_short())
        stopped = asyncio.ensure_future(stop.wait())
        failed = asyncio.ensure_future(backend.failure.wait())
        await asyncio.wait((stopped, failed), return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        failed.cancel()
        collector.cancel()
        if backend.failure.error is not None:
            log.error("stopping: the engine failed: %s", backend.failure.error)
        else:
            log.info("stopping")
    log.info("stopped")
    return 1 if backend.failure.error is not None else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "haproxy-config":
        try:
            print(haproxy_config(args.ports, bind_address=args.bind, mode=args.mode), end="")
        except ValueError as error:
            print(f"swarmdeck engine haproxy-config: {error}", file=sys.stderr)
            return 2
        return 0
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    _raise_open_files_limit()
    try:
        return asyncio.run(serve(args))
    except (OSError, ValueError, CAError) as error:  # ssl.SSLError is an OSError
        log.error("%s", error)
        return 1


def _raise_open_files_limit() -> None:
    """As many open files as the system lets this process have: a manager keeps a connection
    per node, and a thousand nodes are past the usual soft limit of 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):  # a hard limit the kernel will not take
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
