"""A line of the events view for each swarm event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from console.sanitize import sanitize_field

__all__ = ["event_line"]


def event_line(event: dict[str, Any]) -> str:
    """``15:02:51  service update  web  (image.new=nginx:1.11, ...)``; a task's name as docker
    gives it in logs, with its node: ``flaky-worker.1@swarm-node-2``."""
    moment = datetime.fromtimestamp(event.get("timeNano", 0) / 1e9).strftime("%H:%M:%S")
    actor = event.get("Actor", {})
    attributes = dict(actor.get("Attributes", {}))
    name = attributes.pop("name", actor.get("ID", "")[:12])
    if event.get("Type") == "task" and (node := attributes.pop("node", "")):
        name = f"{name}@{node}"
    changes = ", ".join(f"{k}={v}" for k, v in sorted(attributes.items()))
    text = f"{moment}  {event.get('Type', '')} {event.get('Action', '')}  {name}"
    return sanitize_field(text + (f"  ({changes})" if changes else ""), 400)
