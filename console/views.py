"""The console's views: one table of their names, screens and ``:`` aliases, for the command
line, help, screenshots and the app's modes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from console.feed import LogStream
from console.screens.base import ClusterScreen
from console.screens.events import EventsScreen
from console.screens.logs import LogsScreen
from console.screens.metrics import MetricsScreen
from console.screens.networks import NetworksScreen
from console.screens.nodes import NodesScreen
from console.screens.overview import OverviewScreen
from console.screens.secrets import ConfigsScreen, SecretsScreen
from console.screens.services import ServicesScreen
from console.screens.stacks import StacksScreen
from console.screens.swarm import SwarmScreen
from console.screens.tasks import TasksScreen

__all__ = ["QUIT", "VIEWS", "View", "resolve_view"]

QUIT = ("q", "quit", "q!")  # what ``:`` takes to quit, as in k9s and vi


def _every_log() -> ClusterScreen:
    return LogsScreen(LogStream("services"), "every service")


@dataclass(frozen=True)
class View:
    name: str
    screen: Callable[[], ClusterScreen]
    aliases: tuple[str, ...]  # what ``:`` takes for it, its name first
    help: str


VIEWS = (
    View("overview", OverviewScreen, ("overview", "o", "ov", "home"), "cluster health at a glance"),
    View("nodes", NodesScreen, ("nodes", "node", "no"), "nodes, their state and figures"),
    View("services", ServicesScreen, ("services", "service", "svc", "s"), "services and replicas"),
    View("tasks", TasksScreen, ("tasks", "task", "t", "ps"), "every task"),
    View("stacks", StacksScreen, ("stacks", "stack", "st"), "applications: deploy, plan, remove"),
    View("networks", NetworksScreen, ("networks", "network", "net", "nw"), "networks and users"),
    View("secrets", SecretsScreen, ("secrets", "secret", "sec"), "secrets (never their data)"),
    View("configs", ConfigsScreen, ("configs", "config", "cfg"), "configs and their users"),
    View("logs", _every_log, ("logs", "log", "l"), "every service's logs, merged"),
    View("metrics", MetricsScreen, ("metrics", "metric", "m", "top"), "CPU and memory"),
    View("events", EventsScreen, ("events", "event", "ev", "e"), "the swarm's events"),
    View(
        "swarm",
        SwarmScreen,
        ("swarm", "security", "ca", "sw"),
        "the CA, root rotation, autolock, join commands",
    ),
)


def resolve_view(text: str) -> str | None:
    """The view ``text`` names (``quit`` for a quit), or None."""
    word = text.strip().lstrip(":").split(" ", 1)[0].lower()
    if word in QUIT:
        return "quit"
    return next((view.name for view in VIEWS if word in view.aliases), None)
