"""``swarmdeck``: the console. ``swarmdeck engine ...`` runs the engine; ``swarmdeck screenshots``
writes an SVG of every view."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from engine.client import (
    EngineClient,
    Target,
    TargetError,
    UsageReader,
    open_client,
    read_engine_files,
    resolve_target,
)
from themes import DEFAULT_THEME, load_themes

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    themes = [theme.name for theme in load_themes()]
    parser = argparse.ArgumentParser(
        prog="swarmdeck",
        description="An operations console for Docker swarm clusters. With no target it runs "
        "an embedded demo cluster.",
        epilog="swarmdeck engine serve --help: run the engine as a daemon. "
        "swarmdeck screenshots --out DIR: write an SVG of every view. "
        "swarmdeck lab up: a real Docker swarm on this host (Linux, root). "
        "swarmdeck bundle FILE.yml -o APP.dab, swarmdeck stack deploy --bundle-file APP.dab "
        "NAME: Distributed Application Bundles.",
    )
    parser.add_argument(
        "--host", help="Docker endpoint: unix://PATH, tcp://HOST:PORT or ssh://USER@HOST"
    )
    parser.add_argument("--context", help="a docker context to use")
    parser.add_argument("--read-only", action="store_true", help="hide every action")
    parser.add_argument(
        "--theme",
        choices=themes,
        help=f"colour theme for this run (default: the one last chosen in the command palette, "
        f"else {DEFAULT_THEME})",
    )
    parser.add_argument(
        "--save-dir",
        type=Path,
        metavar="DIR",
        help="where ctrl+s saves tables, events and logs (default: $XDG_DATA_HOME/swarmdeck, "
        "~/.local/share/swarmdeck)",
    )
    parser.add_argument(
        "--node-engine",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="a node's own Docker Engine (URL or docker context name), for its containers' "
        "CPU and memory; repeat for each node",
    )
    parser.add_argument(
        "--node-engines",
        metavar="FILE",
        help="a JSON object of node hostnames and engine URLs (swarmdeck lab writes one)",
    )
    parser.add_argument(
        "--metrics-url", help="a Prometheus or cAdvisor endpoint with container metrics"
    )
    parser.add_argument("--nodes", type=int, default=3, help="nodes of the embedded cluster")
    parser.add_argument("--seed", type=int, default=None, help="seed of the embedded cluster")
    return parser


@contextlib.asynccontextmanager
async def _demo(socket: Path, nodes: int, seed: int | None) -> AsyncIterator[None]:
    """The embedded demo cluster, served on ``socket`` while the block runs; the engine is
    loaded only then, once the console has drawn its first frame."""
    from engine.serve import serve_demo

    # The engine runs in this process, and the terminal is the console's: what the engine logs
    # (a port of the mesh another program holds) must not be written across the screen.
    logging.getLogger("engine").addHandler(logging.NullHandler())
    async with serve_demo(socket, nodes, seed):
        yield


async def _console(args: argparse.Namespace, target: Target) -> int:
    """Runs the console; its exit status (not 0 when it ended on an error)."""
    from console.app import SwarmdeckApp

    async with contextlib.AsyncExitStack() as stack:
        serving = None
        url = target.url
        if url is None:  # the embedded cluster, started once the first frame is on screen
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="swarmdeck-"))
            socket = Path(workdir) / "engine.sock"
            url, serving = f"unix://{socket}", _demo(socket, args.nodes, args.seed)
        client = await stack.enter_async_context(open_client(url, target.tls))
        usage = UsageReader(client, args.engines, args.metrics_url)
        stack.push_async_callback(usage.close)
        app = SwarmdeckApp(
            client,
            target.label,
            read_only=args.read_only,
            theme=args.theme,
            usage=usage,
            serving=serving,
            save_dir=args.save_dir,
        )
        # A closed terminal (SIGHUP) ends the console as q does: the embedded cluster stops
        # and its files go, rather than the process dying where it stands.
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, app.exit)
        # What is loaded by now (modules, classes: most of the objects there are) lives as
        # long as the console; kept out of collections, a full one no longer stalls a frame.
        gc.freeze()
        await app.run_async()
    return app.return_code or 0


def node_engines(named: list[str], path: str | None) -> dict[str, EngineClient]:
    """Clients of the node engines named by ``--node-engines`` and ``--node-engine``."""
    given = read_engine_files(path) if path else {}
    for item in named:
        name, sep, where = item.partition("=")
        if not sep or not name or not where:
            raise TargetError(f"--node-engine {item!r}: expected NAME=URL or NAME=CONTEXT")
        given[name] = where
    engines = {}
    for name, where in given.items():
        node = resolve_target(host=where) if "://" in where else resolve_target(context=where)
        if node.url is None or node.url.startswith("ssh://"):
            raise TargetError(f"node engine {name}: use unix:// or tcp:// (ssh:// is not read)")
        engines[name] = EngineClient(node.url, node.tls)
    return engines


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    # The engine's own commands, in a process of their own.
    if argv[:1] in (["engine"], ["lab"], ["bundle"], ["stack"]):
        engine_argv = argv[1:] if argv[0] == "engine" else argv
        os.execv(sys.executable, [sys.executable, "-m", "engine", *engine_argv])
    if argv[:1] == ["screenshots"]:
        from console.screenshots import main as screenshots_main

        sys.exit(screenshots_main(argv[1:]))
    parser = _parser()
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    try:
        target = resolve_target(args.host, args.context)
        args.engines = node_engines(args.node_engine, args.node_engines)
    except (TargetError, ValueError) as error:
        parser.error(str(error))
    try:
        sys.exit(asyncio.run(_console(args, target)))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
