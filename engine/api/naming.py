"""How tasks are named where people read them: ``<service>.<slot>``, or ``<service>.<node>``
for a global service's task (the docker CLI's names; containers add ``.<task id>``)."""

from __future__ import annotations

from engine.api.objects import Task

__all__ = ["task_name"]

SHORT_ID = 12  # characters of an ID shown where space is short, as docker's tables do


def task_name(service_name: str, task: Task, short: bool = False) -> str:
    if task.slot:
        return f"{service_name}.{task.slot}"
    return f"{service_name}.{task.node_id[:SHORT_ID] if short else task.node_id}"
