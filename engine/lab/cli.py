"""``swarmdeck lab up|status|kill|start|down``."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from engine.lab.host import LabError
from engine.lab.lab import DEFAULT_DIR, ENGINES, ENGINES_FILE, Lab

__all__ = ["main"]


def main(argv: list[str]) -> None:
    # `lab status | head` ends quietly, as ls does; the process's own handling comes back after
    # (a caller in the same process, a test, keeps its writes to closed sockets as errors).
    previous = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        _main(argv)
    finally:
        signal.signal(signal.SIGPIPE, previous)


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="swarmdeck lab", description="A real Docker swarm on this host."
    )
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"where the lab lives (default {DEFAULT_DIR})"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="make a swarm of real Docker Engines on this host")
    up.add_argument("--nodes", type=int, default=3, help="nodes, the first a manager (default 3)")
    up.add_argument(
        "--engine",
        choices=ENGINES,
        default="docker",
        help="what each node runs: dockerd (default), or swarmdeck engine serve joined over "
        "mutual TLS",
    )
    commands.add_parser("status", help="the DOCKER_HOST to use and each node's engine")
    commands.add_parser("down", help="remove everything the lab made")
    for verb, what in (("kill", "kill a node, as a power loss"), ("start", "start a node again")):
        commands.add_parser(verb, help=what).add_argument("node")
    args = parser.parse_args(argv)
    lab = Lab(args.dir)
    try:
        match args.command:
            case "up":
                lab.up(args.nodes, args.engine)
                _print_status(lab)
            case "status":
                _print_status(lab)
            case "down":
                lab.down()
                print(f"removed the lab in {lab.directory}")
            case "kill":
                lab.kill(args.node)
            case "start":
                lab.start(args.node)
    except LabError as error:
        sys.exit(f"swarmdeck lab: {error}")


def _print_status(lab: Lab) -> None:
    print(f"export DOCKER_HOST={lab.manager.url}")
    endpoints = lab.directory / ENGINES_FILE
    print(f"swarmdeck --host {lab.manager.url} --node-engines {endpoints}")
    if lab.engine == "docker":  # swarmdeck's engine with these engines as its nodes
        nodes = " ".join(f"--docker-node {node.name}={node.url}" for node in lab.nodes)
        print(
            f"swarmdeck engine serve --socket /tmp/swarmdeck.sock --data-dir /tmp/swarmdeck {nodes}"
        )
    for node, state in lab.status():
        print(f"  {node.name:<16} {node.address:<12} {node.url}  {state}")
