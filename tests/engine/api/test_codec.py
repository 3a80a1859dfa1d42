"""API values convert to and from the Engine API's JSON without loss.

``dockerd/`` holds what a real Docker Engine 20.10.24 (API 1.41) answered for a swarm with a
replicated service (constraints, preferences, reservations, limits, a health check, a restart
policy, an update config, a published port, updated once) and a global one.
``spec_examples.json`` holds the examples of the v1.41 swagger spec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.api import codec
from engine.api.codec import decode, encode
from engine.api.objects import Cluster, Node, Service, Task
from engine.api.specs import NodeSpec, ServiceMode, ServiceSpec
from engine.api.types import Availability, NodeRole, TaskState
from engine.errors import InvalidArgument
from engine.httpapi.routes import BODIES

HERE = Path(__file__).parent
EXAMPLES = json.loads((HERE / "spec_examples.json").read_text())


def _without_nulls(value: Any) -> Any:
    """JSON with explicit nulls dropped: a null and a missing field mean the same in the API."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _round_trip(data: Any, kind: Any) -> Any:
    return json.loads(encode(decode(json.dumps(data), kind)))


@pytest.mark.parametrize(
    ("fixture", "kind"),
    [
        ("services.json", list[Service]),
        ("nodes.json", list[Node]),
        ("tasks.json", list[Task]),
        ("swarm.json", Cluster),
    ],
)
def test_real_dockerd_answers_round_trip_exactly(fixture: str, kind: Any) -> None:
    original = json.loads((HERE / "dockerd" / fixture).read_text())
    assert _round_trip(original, kind) == _without_nulls(original)


@pytest.mark.parametrize(
    ("example", "kind"),
    [
        ("Service", Service),
        ("Task", Task),
        ("Task list", list[Task]),
        ("ServiceSpec (create body)", ServiceSpec),
        ("ServiceSpec (update body)", ServiceSpec),
        ("NodeSpec", NodeSpec),
    ],
)
def test_swagger_examples_round_trip(example: str, kind: Any) -> None:
    original = EXAMPLES[example]
    assert _round_trip(original, kind) == _without_nulls(original)


def test_fields_read_as_values() -> None:
    services = decode((HERE / "dockerd" / "services.json").read_bytes(), list[Service])
    web = next(s for s in services if s.spec.name == "web")
    template = web.spec.task_template
    assert template is not None and template.container_spec is not None
    assert template.container_spec.healthcheck is not None
    assert template.container_spec.healthcheck.interval == 5_000_000_000
    assert template.resources.reservations.nano_cpus == 100_000_000  # type: ignore[union-attr]
    assert web.previous_spec is not None and web.update_status is not None
    nodes = decode((HERE / "dockerd" / "nodes.json").read_bytes(), list[Node])
    assert nodes[0].spec.role == NodeRole.MANAGER
    assert nodes[0].manager_status is not None and nodes[0].manager_status.leader
    tasks = decode((HERE / "dockerd" / "tasks.json").read_bytes(), list[Task])
    assert {t.desired_state for t in tasks} >= {TaskState.RUNNING}


def test_task_states_order_as_swarmkit() -> None:
    ordered = [
        TaskState.NEW,
        TaskState.PENDING,
        TaskState.ASSIGNED,
        TaskState.ACCEPTED,
        TaskState.PREPARING,
        TaskState.READY,
        TaskState.STARTING,
        TaskState.RUNNING,
        TaskState.COMPLETE,
        TaskState.SHUTDOWN,
        TaskState.FAILED,
        TaskState.REJECTED,
        TaskState.REMOVE,
        TaskState.ORPHANED,
    ]
    assert sorted(reversed(ordered)) == ordered
    assert TaskState.RUNNING.rank == 512


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "malformed JSON"),
        (
            b'{"Name": 3}',
            "json: cannot unmarshal number into Go struct field ServiceSpec.Name of type string",
        ),
        (
            b'{"Mode": {"Replicated": {"Replicas": -1}}}',
            "json: cannot unmarshal number -1 into Go struct field "
            "ReplicatedService.Mode.Replicated.Replicas of type uint64",
        ),
        (
            b'{"TaskTemplate": {"RestartPolicy": {"Condition": "maybe"}}}',
            'invalid RestartCondition: "maybe"',
        ),
        (b'{"UpdateConfig": {"Order": "sideways"}}', "unrecognized update order sideways"),
        (
            b'{"RollbackConfig": {"FailureAction": "explode"}}',
            "unrecognized update failure action explode",
        ),
        (
            b'{"UpdateConfig": {"Delay": "5s"}}',
            "json: cannot unmarshal string into Go struct field "
            "UpdateConfig.UpdateConfig.Delay of type time.Duration",
        ),
        (
            b'{"TaskTemplate": {"ContainerSpec": {"TTY": "yes"}}}',
            "json: cannot unmarshal string into Go struct field "
            "ContainerSpec.TaskTemplate.ContainerSpec.TTY of type bool",
        ),
        (
            b'{"Labels": {"a": "b", "c": 1}}',
            "json: cannot unmarshal number into Go struct field ServiceSpec.Labels of type string",
        ),
    ],
)
def test_bad_json_is_an_invalid_argument_in_the_daemons_words(body: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        decode(body, ServiceSpec)
    assert message in raised.value.public_text()


def test_a_node_spec_is_read_as_moby_reads_it() -> None:
    """Role and availability in any case; another value in the converter's words."""
    spec = decode(b'{"Role": "MANAGER", "Availability": "Drain"}', NodeSpec)
    assert (spec.role, spec.availability) == (NodeRole.MANAGER, Availability.DRAIN)
    for body, message in (
        (b'{"Role": "boss"}', 'invalid Role: "boss"'),
        (b'{"Availability": "sleep"}', 'invalid Availability: "sleep"'),
    ):
        with pytest.raises(InvalidArgument) as raised:
            decode(body, NodeSpec)
        assert raised.value.public_text() == message


def test_a_mode_the_daemon_does_not_know_is_left_out() -> None:
    """Go's decoder skips a key no field has: no mode is left, which is one replicated task."""
    assert decode(b'{"Mode": {"Sometimes": {}}}', ServiceSpec).mode == ServiceMode()


def test_keys_match_case_insensitively_as_in_go() -> None:
    spec = decode(
        b'{"name": "web", "MODE": {"replicated": {"replicas": 2}},'
        b' "taskTemplate": {"containerspec": {"image": "nginx", "Labels": {"Keep": "Case"}}}}',
        ServiceSpec,
    )
    assert spec.name == "web"
    assert spec.mode is not None and spec.mode.replicated is not None
    assert spec.mode.replicated.replicas == 2
    assert spec.task_template.container_spec.image == "nginx"  # type: ignore[union-attr]
    assert spec.task_template.container_spec.labels == {"Keep": "Case"}  # type: ignore[union-attr]


def test_what_a_body_needs_is_built_before_the_first_request() -> None:
    """``prepare`` builds the description of every struct inside the routes' bodies, so the
    first request that sends a full service spec builds nothing more in its turn."""
    codec.prepare(*BODIES)
    built = (codec._type_info.cache_info().currsize, codec._fields.cache_info().currsize)
    for service in json.loads((HERE / "dockerd" / "services.json").read_text()):
        decode(json.dumps(service["Spec"]), ServiceSpec)
    for node in json.loads((HERE / "dockerd" / "nodes.json").read_text()):
        decode(json.dumps(node["Spec"]), NodeSpec)
    assert (codec._type_info.cache_info().currsize, codec._fields.cache_info().currsize) == built
