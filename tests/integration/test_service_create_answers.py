"""``POST /services/create`` answers as a Docker 20.10 swarm manager does, refusal by refusal.

``dockerd/service_create_answers.json`` holds what dockerd 20.10.24 answered for each of these
specs (status, and the message of a refusal): moby's converter's words (``invalid
RestartCondition: "sometimes"``), Go's JSON decoder's, SwarmKit's, and the specs they all let
through, which must not be refused here either. ``tests/docker`` asks a live swarm the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Engine
from tests.integration.test_api_differences import call

ANSWERS = json.loads(
    (Path(__file__).parents[1] / "engine/api/dockerd/service_create_answers.json").read_text()
)
# Where the engine answers otherwise on purpose: what it answers instead, and why.
DIFFERENT = {
    # dockerd answers 500 (gRPC code Unknown) for a constraint it cannot parse: a client's
    # mistake is a 400 here, with the same words.
    "constraint no op": (
        400,
        "rpc error: code = InvalidArgument desc = constraint expected one operator from ==, !=",
    ),
    "constraint bad key": (400, "rpc error: code = InvalidArgument desc = key 'fo o' is invalid"),
    "constraint empty value": (400, "rpc error: code = InvalidArgument desc = value '' is invalid"),
    # dockerd answers 500 for a network that does not exist: it is the 404 of every other
    # reference to something that is not there.
    "network unknown": (404, "network nope not found"),
    # The engine holds every task in memory: one service asks for at most 100,000.
    "replicas huge": (
        400,
        "rpc error: code = InvalidArgument desc = Number of replicas must be at most 100000",
    ),
    # A swarm creates these and never allocates their ports (its Endpoint stays empty, and the
    # docker CLI refuses them before asking): a port the mesh could never open is refused.
    "target port 0": (
        400,
        "rpc error: code = InvalidArgument desc = EndpointSpec: "
        "target port must be between 1 and 65535",
    ),
    "target port big": (
        400,
        "rpc error: code = InvalidArgument desc = EndpointSpec: "
        "target port must be between 1 and 65535",
    ),
    "published big": (
        400,
        "rpc error: code = InvalidArgument desc = EndpointSpec: "
        "published port must be at most 65535",
    ),
}


def expected(answer: dict[str, Any]) -> tuple[int, str | None]:
    return DIFFERENT.get(answer["case"], (answer["status"], answer["message"]))


@pytest.mark.parametrize("answer", ANSWERS, ids=[answer["case"] for answer in ANSWERS])
async def test_a_spec_is_refused_or_created_as_dockerd_does(
    engine: Engine, answer: dict[str, Any]
) -> None:
    status, body = await call(engine, "POST", "/services/create", answer["spec"])
    if status == 201:
        await call(engine, "DELETE", f"/services/{body['ID']}")
        assert (status, None) == expected(answer)
        return
    assert (status, body["message"]) == expected(answer)
    assert (await call(engine, "GET", "/services"))[1] == []  # a refusal changes nothing


def test_every_difference_is_one_dockerd_was_asked() -> None:
    assert set(DIFFERENT) <= {answer["case"] for answer in ANSWERS}
