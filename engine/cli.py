"""``python -m engine serve`` (or ``swarmdeck engine serve``): the engine as a daemon that serves
the Docker Engine API.

    swarmdeck engine serve --socket /tmp/swarmdeck.sock --data-dir ~/.local/share/swarmdeck
    swarmdeck engine serve ... --docker-node swarm-master=unix:///run/docker.sock ...

Then ``DOCKER_HOST=unix:///tmp/swarmdeck.sock docker node ls`` drives it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from engine.collector import keep_collections_short
from engine.embedded import EmbeddedCluster
from engine.manager import defaults
from engine.serve import served

__all__ = ["main"]

log = logging.getLogger("swarmdeck.engine")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="swarmdeck engine", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run a manager with simulated nodes and serve the Engine API on a socket"
    )
    serve.add_argument("--socket", required=True, type=Path, help="unix socket to serve on")
    serve.add_argument(
        "--data-dir", required=True, type=Path, help="where the cluster state is kept"
    )
    serve.add_argument(
        "--nodes", type=_positive_int, default=3, help="nodes of a new cluster (default 3)"
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
    serve.add_argument("--seed", type=int, default=None, help="repeat a simulation exactly")
    serve.add_argument("--verbose", action="store_true", help="log debug messages")
    return parser


def _docker_node(text: str) -> tuple[str, str]:
    name, _, url = text.partition("=")
    if not name or not url.startswith(("unix://", "tcp://", "http://")):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME=URL with a unix://, tcp:// or http:// URL"
        )
    return name, url


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


async def serve(args: argparse.Namespace) -> None:
    names = [name for name, _ in args.docker_node]
    if len(set(names)) != len(names):
        raise ValueError(f"--docker-node names a node twice: {', '.join(names)}")
    cluster = EmbeddedCluster(
        nodes=args.nodes,
        data_dir=args.data_dir,
        seed=args.seed,
        heartbeat_period=args.heartbeat,
        docker_nodes=dict(args.docker_node),
    )
    stop = asyncio.Event()  # set from the start: a stop asked for while starting is kept
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with served(cluster, args.socket):
        log.info(
            "serving the Docker Engine API on unix://%s (data in %s)", args.socket, args.data_dir
        )
        collector = asyncio.create_task(keep_collections_short())
        await stop.wait()
        log.info("stopping")
        collector.cancel()
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(serve(args))
    except (OSError, ValueError) as error:
        log.error("%s", error)
        return 1
    return 0
