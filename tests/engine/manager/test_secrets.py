"""Secrets and configs in the control API: SwarmKit's and dockerd's checks and words (compared
with what Docker 20.10.24 answered), and nothing written when a request is refused."""

from __future__ import annotations

import base64
import time

import pytest
from msgspec.structs import replace

from engine.api.networks import Driver
from engine.api.secrets import ConfigReference, DataRequest, FileTarget, SecretReference
from engine.api.specs import ContainerSpec, ServiceSpec, TaskSpec
from engine.clock import SystemClock
from engine.errors import AlreadyExists, EngineError, InvalidArgument, NotFound, SequenceConflict
from engine.ids import IdGenerator
from engine.manager.controlapi import ControlAPI
from engine.manager.secrets import CONFIGS, SECRETS
from engine.store import MemoryStore
from tests.conftest import make_spec


@pytest.fixture
def control() -> ControlAPI:
    return ControlAPI(MemoryStore(time.time), SystemClock(), IdGenerator(3))


def data(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def with_refs(
    name: str,
    secrets: list[SecretReference] | None = None,
    configs: list[ConfigReference] | None = None,
) -> ServiceSpec:
    spec = make_spec(name)
    template = spec.task_template or TaskSpec()
    container = replace(
        template.container_spec or ContainerSpec(), secrets=secrets, configs=configs
    )
    return replace(spec, task_template=replace(template, container_spec=container))


def secret_ref(obj_id: str, name: str, target: str | None = "x") -> SecretReference:
    file = FileTarget(name=target, uid="0", gid="0", mode=0o444) if target is not None else None
    return SecretReference(file=file, secret_id=obj_id, secret_name=name)


BAD_CREATES = [
    (DataRequest(data=data("x")), "rpc error: code = InvalidArgument desc = name must be provided"),
    (
        DataRequest(name="s 2", data=data("x")),
        "rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] "
        "characters allowed, and the start and end character must be [a-zA-Z0-9]",
    ),
    (DataRequest(name="a" * 65, data=data("x")), "invalid name, only 64"),
    (
        DataRequest(name="s2"),
        "rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less "
        "than 512000 bytes",
    ),
    (DataRequest(name="s2", data="!!"), "illegal base64 data at input byte 0"),
    (DataRequest(name="s2", data="aGVsbG8"), "illegal base64 data at input byte 4"),
    (DataRequest(name="s2", data="aGVsbG8=x"), "illegal base64 data at input byte 8"),
    (
        DataRequest(name="s2", data=data("x" * 512_000)),
        "secret data must be larger than 0 and less than 512000 bytes",
    ),
    (
        DataRequest(name="s2", data=data("x"), driver=Driver(name="vault")),
        'rpc error: code = Unknown desc = plugin "vault" not found',
    ),
]


@pytest.mark.parametrize(("asked", "words"), BAD_CREATES)
def test_bad_secrets_are_refused_with_docker_words(
    control: ControlAPI, asked: DataRequest, words: str
) -> None:
    with pytest.raises(EngineError) as raised:
        control.create_item(SECRETS, asked)
    assert words in raised.value.public_text()
    assert control.list_items(SECRETS) == []


def test_configs_may_be_twice_as_big(control: ControlAPI) -> None:
    control.create_item(CONFIGS, DataRequest(name="big", data=data("x" * 600_000)))
    with pytest.raises(InvalidArgument, match="less than 1024000 bytes"):
        control.create_item(CONFIGS, DataRequest(name="bigger", data=data("x" * 1_024_000)))


def test_names_are_unique_and_found_by_id_name_or_prefix(control: ControlAPI) -> None:
    made = control.create_item(SECRETS, DataRequest(name="s1", labels={"a": "b"}, data=data("v")))
    with pytest.raises(AlreadyExists) as raised:
        control.create_item(SECRETS, DataRequest(name="s1", data=data("w")))
    assert raised.value.public_text() == (
        "rpc error: code = AlreadyExists desc = secret s1 already exists"
    )
    control.create_item(CONFIGS, DataRequest(name="s1", data=data("w")))  # a config may
    for reference in (made.id, "s1", made.id[:5]):
        assert control.get_item(SECRETS, reference).id == made.id
    with pytest.raises(NotFound) as missing:
        control.get_item(SECRETS, "nope")
    assert missing.value.public_text() == "secret nope not found"


def test_updates_change_labels_only(control: ControlAPI) -> None:
    made = control.create_item(CONFIGS, DataRequest(name="c1", labels={"a": "b"}, data=data("v")))
    version = made.version.index
    for asked in (
        DataRequest(name="c1", data=data("other")),
        DataRequest(name="c9"),
    ):
        with pytest.raises(InvalidArgument) as raised:
            control.update_item(CONFIGS, "c1", version, asked)
        assert raised.value.public_text() == (
            "rpc error: code = InvalidArgument desc = only updates to Labels are allowed"
        )
    with pytest.raises(SequenceConflict):
        control.update_item(CONFIGS, "c1", version - 1, DataRequest(name="c1"))
    changed = control.update_item(
        CONFIGS, made.id, version, DataRequest(name="c1", labels={"c": "d"}, data=data("v"))
    )
    assert changed.spec.labels == {"c": "d"}
    assert changed.spec.data == b"v"
    assert changed.version.index > version


def test_a_secret_in_use_is_not_removed(control: ControlAPI) -> None:
    made = control.create_item(SECRETS, DataRequest(name="s1", data=data("v")))
    for name in ("web", "api"):
        control.create_service(with_refs(name, secrets=[secret_ref(made.id, "s1")]))
    with pytest.raises(InvalidArgument) as raised:
        control.remove_item(SECRETS, "s1")
    assert raised.value.public_text() == (
        "rpc error: code = InvalidArgument desc = secret 's1' is in use by the following "
        "services: api, web"
    )
    control.remove_service("api")
    with pytest.raises(InvalidArgument, match=r"by the following service: web$"):
        control.remove_item(SECRETS, made.id)
    control.remove_service("web")
    control.remove_item(SECRETS, made.id[:6])
    assert control.list_items(SECRETS) == []


def test_service_references_must_be_whole_and_name_what_exists(control: ControlAPI) -> None:
    secret = control.create_item(SECRETS, DataRequest(name="s1", data=data("v")))
    config = control.create_item(CONFIGS, DataRequest(name="c1", data=data("v")))
    cases = [
        (dict(secrets=[secret_ref("nope", "s1")]), "secret not found: s1"),
        (dict(secrets=[secret_ref(secret.id, "zz")]), "secret not found: zz"),
        (
            dict(
                configs=[
                    ConfigReference(file=FileTarget(name="x"), config_id="a", config_name="c1"),
                    ConfigReference(file=FileTarget(name="y"), config_id="b", config_name="c9"),
                ]
            ),
            "configs not found: c1, c9",
        ),
        (
            dict(secrets=[secret_ref(secret.id, "s1"), secret_ref(secret.id, "s1")]),
            "secret references 's1' and 's1' have a conflicting target: 'x'",
        ),
        (
            dict(secrets=[secret_ref(secret.id, "s1", None)]),
            "malformed secret reference, no target provided",
        ),
        (
            dict(secrets=[secret_ref(secret.id, "s1", "")]),
            "malformed file secret reference, invalid target file name provided",
        ),
        (dict(secrets=[secret_ref("", "s1")]), "malformed secret reference"),
        (
            dict(configs=[ConfigReference(config_id=config.id, config_name="c1")]),
            "invalid Config: either File or Runtime should be set",
        ),
    ]
    for number, (references, words) in enumerate(cases):
        with pytest.raises(InvalidArgument) as raised:
            control.create_service(with_refs(f"svc{number}", **references))  # type: ignore[arg-type]
        assert raised.value.message == words
    assert control.list_services() == []
    service = control.create_service(
        with_refs(
            "ok",
            secrets=[secret_ref(secret.id, "s1")],
            configs=[
                ConfigReference(
                    file=FileTarget(name="/etc/app.conf"), config_id=config.id, config_name="c1"
                )
            ],
        )
    )
    with pytest.raises(InvalidArgument, match="secret not found: gone"):
        control.update_service(
            "ok", service.version.index, with_refs("ok", secrets=[secret_ref("x", "gone")])
        )
