"""Answers where the engine once differed from dockerd (Engine 20.10, API 1.41): a body not
declared JSON, a ``version`` beyond uint64, an image beyond the reference grammar, a duration
beyond int64, and ``insertDefaults``. Every refused request changes nothing."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp

from tests.integration.conftest import Engine

SPEC = {
    "Name": "differ",
    "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1.10"}},
    "Mode": {"Replicated": {"Replicas": 1}},
}
HUGE = 2**70  # beyond both int64 and uint64


async def call(
    engine: Engine,
    method: str,
    path: str,
    body: object = None,
    content_type: str | None = "application/json",
) -> tuple[int, Any]:
    """One request; ``content_type=None`` sends no Content-Type header at all."""
    connector = aiohttp.UnixConnector(path=str(engine.socket))
    async with aiohttp.ClientSession(connector=connector) as session:
        data = json.dumps(body).encode() if body is not None else None
        async with session.request(
            method,
            f"http://docker{path}",
            data=data,
            headers={"Content-Type": content_type} if content_type else {},
            skip_auto_headers=() if content_type else ("Content-Type",),
        ) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None


async def service(engine: Engine, name: str) -> dict[str, Any]:
    status, found = await call(engine, "GET", f"/services/{name}")
    assert status == 200, found
    return found  # type: ignore[no-any-return]


async def created(engine: Engine, spec: dict[str, Any]) -> dict[str, Any]:
    status, body = await call(engine, "POST", "/services/create", spec)
    assert status == 201, body
    return await service(engine, spec["Name"])


async def test_a_body_not_declared_json_is_refused_as_dockerd_checks_for_json(
    engine: Engine,
) -> None:
    spec = {**SPEC, "Name": "plain"}
    status, body = await call(engine, "POST", "/services/create", spec, "text/plain")
    assert (status, body) == (
        400,
        {"message": "unsupported Content-Type header (text/plain): must be 'application/json'"},
    )
    status, body = await call(engine, "POST", "/services/create", spec, "text/plain; charset=utf-8")
    assert (status, body["message"]) == (
        400,
        "unsupported Content-Type header (text/plain; charset=utf-8): must be 'application/json'",
    )
    status, body = await call(engine, "POST", "/services/create", spec, "application/json/x")
    assert (status, body["message"]) == (
        400,
        "malformed Content-Type header (application/json/x): "
        "mime: unexpected content after media subtype",
    )
    assert (await call(engine, "GET", "/services/plain"))[0] == 404

    before = await created(engine, spec | {"Name": "declared"})
    status, _ = await call(
        engine, "POST", "/services/create", spec | {"Name": "bare"}, content_type=None
    )
    assert status == 201  # no Content-Type at all is still accepted
    status, _ = await call(
        engine,
        "POST",
        "/services/create",
        spec | {"Name": "utf8"},
        "Application/JSON; charset=utf-8",
    )
    assert status == 201

    update = f"/services/declared/update?version={before['Version']['Index']}"
    changed = spec | {"Name": "declared", "Labels": {"changed": "yes"}}
    status, body = await call(engine, "POST", update, changed, "text/plain")
    assert (status, body["message"]) == (
        400,
        "unsupported Content-Type header (text/plain): must be 'application/json'",
    )
    assert await service(engine, "declared") == before


async def test_node_and_swarm_bodies_not_declared_json_are_refused(engine: Engine) -> None:
    unsupported = {
        "message": "unsupported Content-Type header (text/plain): must be 'application/json'"
    }
    _, nodes = await call(engine, "GET", "/nodes")
    node = nodes[0]
    path = f"/nodes/{node['ID']}/update?version={node['Version']['Index']}"
    labelled = node["Spec"] | {"Labels": {"changed": "yes"}}
    assert await call(engine, "POST", path, labelled, "text/plain") == (400, unsupported)
    assert (await call(engine, "GET", f"/nodes/{node['ID']}"))[1] == node

    _, swarm = await call(engine, "GET", "/swarm")
    path = f"/swarm/update?version={swarm['Version']['Index']}"
    assert await call(engine, "POST", path, swarm["Spec"], "text/plain") == (400, unsupported)
    assert (await call(engine, "GET", "/swarm"))[1] == swarm

    assert await call(engine, "POST", "/swarm/init", {}, "text/plain") == (400, unsupported)
    assert await call(engine, "POST", "/swarm/unlock", {}, "text/plain") == (400, unsupported)
    status, body = await call(engine, "POST", "/swarm/init", {"ListenAddr": "0.0.0.0:2377"})
    assert status == 503 and "already part of a swarm" in body["message"]


async def test_a_version_beyond_uint64_is_refused_as_strconv_parseuint_does(
    engine: Engine,
) -> None:
    before = await created(engine, SPEC | {"Name": "versioned"})
    spec = before["Spec"] | {"Labels": {"changed": "yes"}}
    status, body = await call(engine, "POST", f"/services/versioned/update?version={HUGE}", spec)
    assert (status, body["message"]) == (
        400,
        f"invalid service version '{HUGE}': "
        f'strconv.ParseUint: parsing "{HUGE}": value out of range',
    )
    status, body = await call(engine, "POST", "/services/versioned/update?version=-1", spec)
    assert (status, body["message"]) == (
        400,
        "invalid service version '-1': strconv.ParseUint: parsing \"-1\": invalid syntax",
    )
    # The largest uint64 is a version, only not this service's.
    status, body = await call(
        engine, "POST", f"/services/versioned/update?version={2**64 - 1}", spec
    )
    assert (status, body["message"]) == (
        500,
        "rpc error: code = Unknown desc = update out of sequence",
    )
    assert await service(engine, "versioned") == before

    _, nodes = await call(engine, "GET", "/nodes")
    node = nodes[0]
    status, body = await call(
        engine, "POST", f"/nodes/{node['ID']}/update?version={HUGE}", node["Spec"]
    )
    assert (status, body["message"]) == (
        400,
        f"invalid node version '{HUGE}': strconv.ParseUint: parsing \"{HUGE}\": value out of range",
    )
    _, swarm = await call(engine, "GET", "/swarm")
    status, body = await call(engine, "POST", f"/swarm/update?version={HUGE}", swarm["Spec"])
    assert (status, body["message"]) == (
        400,
        f"invalid swarm version '{HUGE}': "
        f'strconv.ParseUint: parsing "{HUGE}": value out of range',
    )
    assert (await call(engine, "GET", f"/nodes/{node['ID']}"))[1] == node
    assert (await call(engine, "GET", "/swarm"))[1] == swarm


def _with_image(spec: dict[str, Any], image: str) -> dict[str, Any]:
    template = spec["TaskTemplate"]
    container = template["ContainerSpec"] | {"Image": image}
    return spec | {"TaskTemplate": template | {"ContainerSpec": container}}


async def test_an_image_beyond_the_reference_grammar_is_refused_as_swarmkit_does(
    engine: Engine,
) -> None:
    # 255 characters is the limit of the normalized name, docker.io/library/ included (18).
    for image in ("a" * 100_000, "a" * 238):
        status, body = await call(
            engine, "POST", "/services/create", _with_image(SPEC | {"Name": "long"}, image)
        )
        assert (status, body["message"]) == (
            400,
            f'rpc error: code = InvalidArgument desc = ContainerSpec: "{image}" '
            "is not a valid repository/tag",
        )
        assert (await call(engine, "GET", "/services/long"))[0] == 404
    before = await created(engine, _with_image(SPEC | {"Name": "long"}, "a" * 237 + ":1"))

    update = f"/services/long/update?version={before['Version']['Index']}"
    status, body = await call(engine, "POST", update, _with_image(before["Spec"], image))
    assert status == 400 and body["message"].endswith("is not a valid repository/tag")
    assert await service(engine, "long") == before


async def test_a_stop_grace_period_beyond_int64_is_refused_as_go_json_does(
    engine: Engine,
) -> None:
    refused = (
        f"json: cannot unmarshal number {HUGE} into Go struct field "
        "ContainerSpec.TaskTemplate.ContainerSpec.StopGracePeriod of type time.Duration"
    )
    spec = SPEC | {"Name": "graceful"}
    spec["TaskTemplate"] = {"ContainerSpec": {"Image": "nginx:1.10", "StopGracePeriod": HUGE}}
    status, body = await call(engine, "POST", "/services/create", spec)
    assert (status, body) == (400, {"message": refused})
    assert (await call(engine, "GET", "/services/graceful"))[0] == 404

    before = await created(engine, SPEC | {"Name": "graceful"})
    update = f"/services/graceful/update?version={before['Version']['Index']}"
    status, body = await call(engine, "POST", update, spec)
    assert (status, body) == (400, {"message": refused})
    assert await service(engine, "graceful") == before


DEFAULT_UPDATE = {
    "Parallelism": 1,
    "FailureAction": "pause",
    "Monitor": 5_000_000_000,
    "MaxFailureRatio": 0,
    "Order": "stop-first",
}


async def test_insert_defaults_shows_what_swarmkit_fills_in(engine: Engine) -> None:
    before = await created(engine, SPEC | {"Name": "defaulted"})
    assert "RestartPolicy" not in before["Spec"]["TaskTemplate"]
    status, shown = await call(engine, "GET", "/services/defaulted?insertDefaults=true")
    assert status == 200
    spec = shown["Spec"]
    assert spec["TaskTemplate"] == {
        "ContainerSpec": {
            "Image": "nginx:1.10",
            "StopGracePeriod": 10_000_000_000,
            "DNSConfig": {},
        },
        "Resources": {},
        "RestartPolicy": {"Condition": "any", "Delay": 5_000_000_000, "MaxAttempts": 0},
        "Placement": {},
        "ForceUpdate": 0,
        "Runtime": "container",
    }
    assert spec["UpdateConfig"] == DEFAULT_UPDATE
    assert spec["RollbackConfig"] == DEFAULT_UPDATE
    assert spec["EndpointSpec"] == {"Mode": "vip"}
    assert shown["Version"] == before["Version"]
    assert (await call(engine, "GET", "/services/defaulted?insertDefaults=0"))[1] == before
    assert await service(engine, "defaulted") == before  # showing defaults stores nothing

    status, body = await call(engine, "GET", "/services/defaulted?insertDefaults=yes")
    assert (status, body["message"]) == (
        400,
        'invalid value for insertDefaults: yes: strconv.ParseBool: parsing "yes": invalid syntax',
    )


async def test_insert_defaults_keeps_what_the_spec_says(engine: Engine) -> None:
    spec = SPEC | {
        "Name": "partial",
        "TaskTemplate": {
            "ContainerSpec": {"Image": "nginx:1.10", "StopGracePeriod": 0},
            "RestartPolicy": {"Condition": "on-failure", "Window": 10_000_000_000},
        },
        "UpdateConfig": {"Parallelism": 2, "Monitor": 0, "Order": "start-first"},
    }
    before = await created(engine, spec)
    _, shown = await call(engine, "GET", "/services/partial?insertDefaults=1")
    template = shown["Spec"]["TaskTemplate"]
    assert template["ContainerSpec"]["StopGracePeriod"] == 0
    assert template["RestartPolicy"] == {
        "Condition": "on-failure",
        "Delay": 5_000_000_000,
        "MaxAttempts": 0,
        "Window": 10_000_000_000,
    }
    # moby sends SwarmKit no Monitor for 0, so the default shows.
    assert shown["Spec"]["UpdateConfig"] == DEFAULT_UPDATE | {
        "Parallelism": 2,
        "Order": "start-first",
    }
    assert shown["Spec"]["RollbackConfig"] == DEFAULT_UPDATE

    update = f"/services/partial/update?version={before['Version']['Index']}"
    status, _ = await call(engine, "POST", update, before["Spec"] | {"Labels": {"v": "2"}})
    assert status == 200
    _, shown = await call(engine, "GET", "/services/partial?insertDefaults=true")
    assert shown["PreviousSpec"] == before["Spec"]  # only the current spec is interpolated


def test_docker_service_inspect_shows_the_defaults(engine: Engine) -> None:
    engine.docker("service", "create", "--detach", "--name", "shown", "nginx:1.10")
    stored = asyncio.run(service(engine, "shown"))["Spec"]
    assert "RestartPolicy" not in stored["TaskTemplate"] and "UpdateConfig" not in stored
    restart = engine.docker_json(
        "service", "inspect", "--format", "{{json .Spec.TaskTemplate.RestartPolicy}}", "shown"
    )
    assert restart == {"Condition": "any", "Delay": 5_000_000_000, "MaxAttempts": 0}
    pretty = engine.docker("service", "inspect", "--pretty", "shown")
    assert re.search(r"^RollbackConfig:$", pretty, re.M)
    assert len(re.findall(r"^ Monitoring Period: 5s$", pretty, re.M)) == 2
    assert re.search(r"^ Rollback order:\s+stop-first$", pretty, re.M)
    assert re.search(r"^Endpoint Mode:\s+vip$", pretty, re.M)


async def test_update_options_are_read_as_dockerd_reads_them(engine: Engine) -> None:
    """``rollback=none`` is a plain update; an option dockerd does not know is refused in its
    words (dockerd answers 500; a client's mistake is a 400 here) and changes nothing."""
    before = await created(engine, SPEC | {"Name": "optioned"})
    update = f"/services/optioned/update?version={before['Version']['Index']}"
    scaled = before["Spec"] | {"Mode": {"Replicated": {"Replicas": 2}}}
    for option, message in (
        ("registryAuthFrom=nope", "unsupported registryAuthFrom value"),
        ("rollback=sideways", "unrecognized rollback option sideways"),
    ):
        status, body = await call(engine, "POST", f"{update}&{option}", scaled)
        assert (status, body) == (400, {"message": message})
        assert await service(engine, "optioned") == before
    for option in ("rollback=none&registryAuthFrom=spec", "registryAuthFrom=previous-spec"):
        version = (await service(engine, "optioned"))["Version"]["Index"]
        path = f"/services/optioned/update?version={version}&{option}"
        assert (await call(engine, "POST", path, scaled))[0] == 200
    assert (await service(engine, "optioned"))["Spec"]["Mode"] == scaled["Mode"]


SWARM_REFUSALS = [  # what dockerd 20.10.24 answered to each change of its swarm's spec
    (
        {"Dispatcher": {"HeartbeatPeriod": -1}},
        "rpc error: code = InvalidArgument desc = "
        "heartbeat time period cannot be a negative duration",
    ),
    (
        {"CAConfig": {"ExternalCAs": [{"Protocol": "nope", "URL": "https://x"}]}},
        'invalid protocol: "nope"',
    ),
    (
        {"Raft": {"SnapshotInterval": "x"}},
        "json: cannot unmarshal string into Go struct field RaftConfig.Raft.SnapshotInterval "
        "of type uint64",
    ),
    (
        {"EncryptionConfig": {"AutoLockManagers": "yes"}},
        "json: cannot unmarshal string into Go struct field "
        "EncryptionConfig.EncryptionConfig.AutoLockManagers of type bool",
    ),
    ({"Name": "other"}, 'swarm spec must be named "default"'),
]


async def test_swarm_spec_changes_are_refused_in_dockerds_words(engine: Engine) -> None:
    status, before = await call(engine, "GET", "/swarm")
    assert status == 200
    for change, message in SWARM_REFUSALS:
        spec = before["Spec"] | {
            key: (before["Spec"].get(key) or {}) | value if isinstance(value, dict) else value
            for key, value in change.items()
        }
        path = f"/swarm/update?version={before['Version']['Index']}"
        assert await call(engine, "POST", path, spec) == (400, {"message": message})
        assert (await call(engine, "GET", "/swarm"))[1] == before
