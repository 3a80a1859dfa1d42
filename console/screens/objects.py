"""A table of named swarm objects that services use (networks, secrets, configs): y shows one
as YAML, ctrl+d removes the marked (or selected) ones, once it says which; one a service still
uses is refused first, naming the services, as the swarm would refuse it."""

from __future__ import annotations

from typing import ClassVar

from console.actions import Request
from console.model import Snapshot
from console.screens.describe import DescribeScreen
from console.screens.resource import ResourceScreen

__all__ = ["ObjectsScreen"]


class ObjectsScreen(ResourceScreen):
    KINDS: ClassVar[str] = ""  # the snapshot's field of them: "networks", "secrets", "configs"

    @property
    def kind(self) -> str:
        """One of them, as ``actions.remove`` takes it: "network", "secret" or "config"."""
        return self.KINDS.removesuffix("s")

    def objects(self, snapshot: Snapshot) -> dict[str, tuple[str, object]]:
        """Each object of the view by ID: its name, and itself."""
        return {obj.id: (obj.name, obj) for obj in getattr(snapshot, self.KINDS)}

    def refusal(self, key: str, name: str) -> str | None:
        """Why the object ``key`` (``name``) cannot be removed; None when it can."""
        users = self.snapshot.users.get(key)
        if users:
            return f"{name} is used by {', '.join(users)}: remove it from them first"
        return None

    def action_describe(self) -> None:
        found = self.objects(self.snapshot).get(self.selected_key() or "")
        if found is not None:
            self.open(DescribeScreen(found[1], found[0]))

    def action_remove(self) -> None:
        found = self.objects(self.snapshot)
        keys = [key for key in self.targets() if key in found]
        refused = [why for key in keys if (why := self.refusal(key, found[key][0])) is not None]
        if refused:
            self.notify("\n".join(refused), title="refused", severity="error", timeout=8)
            return
        if not keys:
            return
        names = [found[key][0] for key in keys]
        self.confirm(
            f"Remove {self.kind} {', '.join(names)}?",
            "\n".join(f"- remove {self.kind} {name}: no service uses it" for name in names),
            lambda: self.act(
                *(
                    Request("remove", (key, self.kind), f"{self.kind} {found[key][0]}: removed")
                    for key in keys
                )
            ),
            diff=True,
        )
