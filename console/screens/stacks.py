"""The stacks view: each stack's services, replicas, networks, secrets and configs; enter shows
its services (and their enter, their tasks), y what it holds as YAML, c deploys a compose file
or bundle, ctrl+d removes a stack (every marked one) with all it has (keys:
``console.actions``).

A deploy reads and checks the whole file before anything else (``engine.stacks.load_stack``):
a bad one keeps the form open, its error naming the file, the service and the field, and
nothing is asked of the cluster. The plan (``engine.stacks.plan_deploy``, the one the CLI
prints) is set against the latest poll and shown before anything is done; on a yes the deploy
is made only if the swarm still plans the same, and the stack's services show the rollout.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.binding import BindingType

from console import actions
from console.actions import Request
from console.forms import FormError
from console.model import Snapshot
from console.render.resources import STACK_COLUMNS, stack_rows
from console.render.rows import Row
from console.screens.describe import DescribeScreen
from console.screens.resource import ResourceScreen
from console.screens.services import ServicesScreen
from engine.stacks import (
    BundleError,
    Current,
    Stack,
    StackError,
    bundle_stack,
    load_bundle,
    load_stack,
    plan_deploy,
    plan_removal,
)

__all__ = ["StacksScreen", "current_of"]

BUNDLE_SUFFIX = ".dab"  # a Distributed Application Bundle; anything else is read as compose


def current_of(snapshot: Snapshot) -> Current:
    """What the swarm has, as the latest poll saw it, for a plan."""
    return Current(snapshot.services, snapshot.networks, snapshot.secrets, snapshot.configs)


def read_stack(values: dict[str, str]) -> Stack:
    """The stack the form names, its file checked whole.

    Raises:
        FormError: no name, no file, or a file that is not valid (its error names the file, the
            service and the field).
    """
    name, typed = values.get("stack", ""), values.get("file", "")
    errors = {}
    if not name:
        errors["stack"] = "a stack needs a name"
    elif not name.replace("-", "").replace("_", "").isalnum():
        errors["stack"] = "letters, digits, - and _ only"
    if not typed:
        errors["file"] = "which file?"
    if errors:
        raise FormError(errors)
    path = Path(typed).expanduser()
    try:
        if path.suffix == BUNDLE_SUFFIX:
            return bundle_stack(load_bundle(path), name)
        return load_stack(path, name)
    except BundleError as error:
        raise FormError({"file": str(error)}) from None


class StacksScreen(ResourceScreen):
    VIEW = "stacks"
    COLUMNS = STACK_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW, COLUMNS)

    def rows(self, snapshot: Snapshot) -> list[Row]:
        return stack_rows(snapshot)

    def status(self) -> str:
        count = len(self.snapshot.stacks)
        return f"{count} stack{'' if count == 1 else 's'} · " + super().status()

    def on_resource_table_selected(self) -> None:
        self.action_stack_services()

    def action_stack_services(self) -> None:
        if (name := self.selected_key()) is not None:
            self.open(ServicesScreen(stack=name))

    def action_describe(self) -> None:
        name = self.selected_key()
        parts = self.snapshot.stacks.get(name or "")
        if name is None or parts is None:
            return
        held = {
            "Name": name,
            "Services": [s.spec.name for s in parts.services],
            "Networks": [n.name for n in parts.networks],
            "Secrets": [s.name for s in parts.secrets],
            "Configs": [c.name for c in parts.configs],
        }
        self.open(DescribeScreen(held, name))

    def action_deploy(self) -> None:
        def deploy(values: dict[str, str]) -> None:
            stack = read_stack(values)
            try:
                plan = plan_deploy(stack, current_of(self.snapshot), prune=True)
            except StackError as error:
                raise FormError({"file": str(error)}) from None
            name = stack.namespace
            warned = (w.removeprefix(f"{stack.source}: ") for w in stack.warnings)
            details = [*plan.lines(), *(f"warning: {w}" for w in warned)]

            def go() -> None:
                self.act(Request("deploy", (stack, plan), f"stack {name}: deployed"))
                self.open(ServicesScreen(stack=name))  # the rollout, as it happens

            self.confirm(f"Deploy stack {name}?", "\n".join(details), go, diff=True)

        fields = [
            ("file", "compose file or .dab (path)", ""),
            ("stack", "stack name", self.selected_key() or ""),  # the selected one, to redeploy
        ]
        self.ask(
            "Deploy a stack",
            fields,
            deploy,
            "The whole file is checked first; then its plan is shown: what is created, "
            "updated (the fields that change) and removed. Nothing is done before a yes.",
        )

    def action_remove(self) -> None:
        names = [key for key in self.targets() if key in self.snapshot.stacks]
        if not names:
            return
        current = current_of(self.snapshot)
        plans = [plan_removal(name, current) for name in names]
        lines = [line for plan in plans for line in plan.lines()]
        self.confirm(
            f"Remove stack {', '.join(names)}?",
            "\n".join(lines),
            lambda: self.act(
                *(
                    Request(
                        "remove",
                        (plan.namespace, "stack", plan),
                        f"stack {plan.namespace}: removed",
                    )
                    for plan in plans
                )
            ),
            diff=True,
        )
