"""``swarmdeck bundle`` and ``swarmdeck stack deploy``: Distributed Application Bundles, which
the docker CLI no longer makes or deploys (20.10 dropped them), and compose files deployed with
their plan shown first.

    swarmdeck bundle docker-compose.yml -o app.dab
    swarmdeck stack deploy --bundle-file app.dab app
    swarmdeck stack deploy -c docker-compose.yml --prune app

A compose file is checked whole before the first API call; the plan (what is created, updated,
removed) is printed, then carried out (``engine.stacks.plan``, as the console's deploy does).

Both talk to the engine named by ``--host``, ``--context``, DOCKER_HOST or the docker context,
else to the local Docker Engine (``unix:///var/run/docker.sock``), as the docker CLI does:
``bundle`` asks it for the digest of each image (through its registry), ``stack deploy``
deploys there, our engine or a Docker swarm alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from engine.client import ClientError, EngineClient, TargetError, open_client, resolve_target
from engine.stacks.bundle import BundleError, bundle_json, load_bundle
from engine.stacks.compose import compose_bundle, compose_images, load_compose
from engine.stacks.deploy import bundle_stack
from engine.stacks.plan import StackError, deploy_stack, plan_deploy, read_current
from engine.stacks.stackfile import load_stack

__all__ = ["main"]

LOCAL_ENGINE = "unix:///var/run/docker.sock"  # the docker CLI's default


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swarmdeck", description="Distributed Application Bundles: make one, deploy one."
    )
    parser.add_argument("--host", help="Docker endpoint: unix://PATH, tcp://HOST:PORT, ssh://...")
    parser.add_argument("--context", help="a docker context to use")
    commands = parser.add_subparsers(dest="command", required=True)
    bundle = commands.add_parser(
        "bundle", help="make a .dab from a compose file (images pinned by digest where known)"
    )
    bundle.add_argument("file", type=Path, help="the compose file")
    bundle.add_argument("-o", "--output", type=Path, help="the bundle (default: NAME.dab)")
    stack = commands.add_parser("stack", help="deploy a stack from a bundle or compose file")
    verbs = stack.add_subparsers(dest="verb", required=True)
    deploy = verbs.add_parser("deploy", help="create or update a stack from a .dab or compose")
    source = deploy.add_mutually_exclusive_group(required=True)
    source.add_argument("--bundle-file", type=Path, help="the .dab to deploy")
    source.add_argument("-c", "--compose-file", type=Path, help="the compose file to deploy")
    deploy.add_argument(
        "--prune", action="store_true", help="remove the stack's services the file does not have"
    )
    deploy.add_argument("namespace", metavar="STACK", help="the stack's name")
    return parser


def _client(args: argparse.Namespace) -> contextlib.AbstractAsyncContextManager[EngineClient]:
    target = resolve_target(args.host, args.context)
    return open_client(target.url or LOCAL_ENGINE, target.tls)


async def _bundle(args: argparse.Namespace) -> int:
    content = load_compose(args.file)
    images = [image for image in compose_images(content) if "@" not in image]
    digests = {}
    try:
        async with _client(args) as client:  # each asks a registry: all at once
            pinned = await asyncio.gather(*map(client.image_digest, images))
        digests = {image: d for image, d in zip(images, pinned, strict=True) if d is not None}
    except (ClientError, TargetError) as error:
        print(f"swarmdeck: no image digests ({error})", file=sys.stderr)
    bundle, warnings = compose_bundle(args.file, content, digests)
    for warning in warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    output = args.output or args.file.with_name(f"{args.file.parent.resolve().name}.dab")
    output.write_bytes(bundle_json(bundle))
    print(f"Wrote bundle to {output}")
    return 0


async def _deploy(args: argparse.Namespace) -> int:
    if args.bundle_file is not None:
        stack = bundle_stack(load_bundle(args.bundle_file), args.namespace)
    else:
        stack = load_stack(args.compose_file, args.namespace)
    for warning in stack.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    async with _client(args) as client:
        plan = plan_deploy(stack, await read_current(client), args.prune)
        print("\n".join(plan.lines()))
        for line in await deploy_stack(client, stack, args.prune, expected=plan):
            print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run = _bundle if args.command == "bundle" else _deploy
    try:
        return asyncio.run(run(args))
    except (BundleError, StackError, ClientError, TargetError, OSError) as error:
        print(f"swarmdeck: {error}", file=sys.stderr)
        return 1
