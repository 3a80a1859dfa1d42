"""The swarm view (``:swarm``): its CA and a root rotation's progress, autolock, the join
commands (tokens hidden until ``t``); rotate a join token or the CA (keys: ``console.actions``)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType

from console import actions
from console.actions import Request
from console.model import Snapshot
from console.render.swarm import swarm_text
from console.screens.base import ClusterScreen
from console.widgets.caption import Caption

__all__ = ["SwarmScreen"]


class SwarmScreen(ClusterScreen):
    VIEW = "swarm"
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW)

    def __init__(self) -> None:
        super().__init__()
        self._reveal = False

    def body(self) -> ComposeResult:
        panel = Caption(id="swarm-panel", classes="panel")
        panel.border_title = "swarm"
        yield panel

    def render_snapshot(self, snapshot: Snapshot) -> None:
        text = swarm_text(snapshot, self._reveal)
        self.query_one("#swarm-panel", Caption).show(self.pattern.lines(text))

    def action_tokens(self) -> None:
        self._reveal = not self._reveal
        self.render_snapshot(self.snapshot)

    def action_rotate_worker_token(self) -> None:
        self._rotate_token("worker")

    def action_rotate_manager_token(self) -> None:
        self._rotate_token("manager")

    def _rotate_token(self, role: str) -> None:
        self.confirm(
            f"Rotate the {role} join token?",
            f"A new {role} token: nodes already in the swarm stay, and docker swarm join with "
            "the old token is refused from now on.",
            lambda: self.act(Request(f"rotate_{role}_token", (), f"new {role} join token")),
        )

    def action_rotate_ca(self) -> None:
        self.confirm(
            "Rotate the swarm's root CA?",
            "A new root, cross-signed by the current one: every node gets a new certificate, "
            "then the new root replaces the old, and the join tokens change (they pin the "
            "root). Tasks keep running; it ends when the last node has renewed, so a node "
            "that is down holds it up.",
            lambda: self.act(Request("rotate_ca", (), "root rotation started")),
        )
