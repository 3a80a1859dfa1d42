"""``swarmdeck``: the console. ``--once`` prints the embedded cluster's state and exits."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections import Counter

from engine.api.types import TaskState
from engine.demo import DEMO_SERVICES
from engine.embedded import EmbeddedCluster

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swarmdeck", description="An operations console for Docker swarm clusters."
    )
    parser.add_argument("--nodes", type=int, default=3, help="nodes of the embedded cluster")
    parser.add_argument("--seed", type=int, default=None, help="seed of the simulation")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between refreshes (default 2)"
    )
    parser.add_argument(
        "--once", action="store_true", help="print the state once the demo has converged"
    )
    return parser


def render(cluster: EmbeddedCluster) -> str:
    """The cluster's nodes and services as plain text, like docker node ls / service ls."""
    control = cluster.control
    tasks = control.list_tasks()
    nodes = sorted(control.list_nodes(), key=lambda node: node.description.hostname or "")
    hostnames = {node.id: node.description.hostname for node in nodes if node.description}
    running_on = Counter(t.node_id for t in tasks if t.status.state == TaskState.RUNNING)
    lines = [f"{'HOSTNAME':<16}{'STATUS':<10}{'AVAILABILITY':<14}{'MANAGER':<10}TASKS"]
    for node in nodes:
        manager = node.manager_status
        role = "Leader" if manager and manager.leader else ("Reachable" if manager else "")
        lines.append(
            f"{hostnames.get(node.id, node.id):<16}{node.status.state.value.capitalize():<10}"
            f"{(node.spec.availability.value if node.spec.availability else '').capitalize():<14}"
            f"{role:<10}{running_on[node.id]}"
        )
    lines.append("")
    lines.append(f"{'NAME':<16}{'MODE':<12}{'REPLICAS':<10}IMAGE")
    for service in sorted(control.list_services(), key=lambda s: s.spec.name or ""):
        own = [t for t in tasks if t.service_id == service.id]
        running = sum(1 for t in own if t.status.state == TaskState.RUNNING)
        mode = service.spec.mode
        if mode is not None and mode.global_ is not None:
            wanted, kind = sum(1 for t in own if t.desired_state <= TaskState.RUNNING), "global"
        else:
            replicated = mode.replicated if mode else None
            wanted, kind = (replicated.replicas or 0) if replicated else 1, "replicated"
        image = service.spec.task_template.container_spec.image  # type: ignore[union-attr]
        lines.append(f"{service.spec.name:<16}{kind:<12}{f'{running}/{wanted}':<10}{image}")
    return "\n".join(lines)


async def _show(args: argparse.Namespace) -> None:
    async with EmbeddedCluster(nodes=args.nodes, seed=args.seed) as cluster:
        for spec in DEMO_SERVICES:
            cluster.control.create_service(spec)
        if args.once:
            await asyncio.sleep(6)
            print(render(cluster))
            return
        while True:
            sys.stdout.write("\x1b[H\x1b[2J" + render(cluster) + "\n\n(ctrl-c quits)\n")
            sys.stdout.flush()
            await asyncio.sleep(args.interval)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["engine"]:
        from engine.cli import main as engine_main

        sys.exit(engine_main(argv[1:]))
    args = _parser().parse_args(argv)
    if args.nodes < 1:
        _parser().error("--nodes must be at least 1")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_show(args))


if __name__ == "__main__":
    main()
