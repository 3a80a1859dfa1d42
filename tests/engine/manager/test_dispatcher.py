"""What the dispatcher sends a node: a task when the manager changes it (assigned, a new desired
state), never the node's own status reports back, as SwarmKit's assignment set does."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.agent.agent import Agent
from engine.api.dispatch import Assignments
from engine.api.types import TaskState
from tests.conftest import Sim, make_spec


async def test_a_node_hears_of_its_task_when_the_manager_changes_it_not_its_own_reports(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard: Counter[tuple[str, TaskState]] = Counter()
    apply = Agent._apply

    async def listening(agent: Agent, change: Assignments) -> None:
        for task in change.tasks:
            heard[(task.id, task.desired_state)] += 1
        await apply(agent, change)

    monkeypatch.setattr(Agent, "_apply", listening)
    sim.control.create_service(make_spec(replicas=1))
    await sim.converge("web", 1)
    [task] = sim.tasks("web")
    assert task.status.state == TaskState.RUNNING  # it went through six reported states
    assert heard == {(task.id, TaskState.RUNNING): 1}  # heard of once: when assigned
    sim.scale("web", 0)
    await sim.until(
        lambda: not sim.tasks("web") or sim.tasks("web")[0].status.state == TaskState.SHUTDOWN,
        what="the task stopped",
    )
    assert heard[(task.id, TaskState.REMOVE)] == 1  # and once when told to go
