"""Compose files into bundles, as docker-compose bundle made them; and bundles read back, or
refused with the file, the service and the field named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.stacks import (
    BundleError,
    BundlePort,
    BundleService,
    bundle_json,
    compose_bundle,
    compose_images,
    load_bundle,
    load_compose,
    service_spec,
)

STACKS = Path(__file__).parents[2] / "integration" / "stacks"


def written(tmp_path: Path, text: str, name: str = "docker-compose.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_service_keeps_what_a_bundle_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAG", "1.25")
    monkeypatch.setenv("FROM_SHELL", "shell value")
    monkeypatch.delenv("UNSET", raising=False)
    (tmp_path / "web.env").write_text("# a comment\nFROM_FILE=file value\n")
    path = written(
        tmp_path,
        """
services:
  web:
    image: nginx:${TAG}
    entrypoint: /docker-entrypoint.sh
    command: nginx -g 'daemon off;'
    environment:
      - PLAIN=value
      - FROM_SHELL
      - UNSET
      - DEFAULTED=${UNSET:-fallback}
      - DOLLARS=$$HOME
    env_file: web.env
    labels: [tier=front]
    ports: ["8080:80", "443", "127.0.0.1:9000-9001:9000-9001/udp"]
    expose: ["3000"]
    user: nginx
    working_dir: /srv
    networks:
      front:
        aliases: [www]
  worker:
    image: example/worker@sha256:abc
    command: ["run", "--fast"]
    deploy:
      replicas: 3
""",
    )
    content = load_compose(path)
    assert compose_images(content) == ["example/worker@sha256:abc", "nginx:1.25"]
    bundle, warnings = compose_bundle(path, content, {"nginx:1.25": "nginx:1.25@sha256:f00"})
    assert bundle.services["web"] == BundleService(
        image="nginx:1.25@sha256:f00",
        command=["/docker-entrypoint.sh"],
        args=["nginx", "-g", "daemon off;"],
        env=[
            "DEFAULTED=fallback",
            "DOLLARS=$HOME",
            "FROM_FILE=file value",
            "FROM_SHELL=shell value",
            "PLAIN=value",
        ],
        labels={"tier": "front"},
        ports=[
            BundlePort(protocol="tcp", port=80),
            BundlePort(protocol="tcp", port=443),
            BundlePort(protocol="tcp", port=3000),
            BundlePort(protocol="udp", port=9000),
            BundlePort(protocol="udp", port=9001),
        ],
        working_dir="/srv",
        user="nginx",
        networks=["front"],
    )
    assert bundle.services["worker"] == BundleService(
        image="example/worker@sha256:abc", args=["run", "--fast"], networks=["default"]
    )
    where = f"{path}: services"
    assert warnings == [
        f"{where}.web.ports: published port 8080 left out: a bundle carries target ports, and "
        "the swarm publishes each on a port of its choosing",
        f"{where}.web.ports: published port 9000-9001 left out: a bundle carries target ports, "
        "and the swarm publishes each on a port of its choosing",
        f"{where}.web.networks.front: aliases and addresses left out",
        f"{where}.worker.deploy: a bundle cannot hold it; left out",
    ]


def test_a_bundle_is_written_and_read_back(tmp_path: Path) -> None:
    path = STACKS / "voting-app.yml"
    bundle, _ = compose_bundle(path, load_compose(path), {})
    dab = tmp_path / "vote.dab"
    dab.write_bytes(bundle_json(bundle))
    assert json.loads(dab.read_text())["Version"] == "0.1"
    assert load_bundle(dab) == bundle
    assert sorted(bundle.services) == ["db", "redis", "result", "visualizer", "vote", "worker"]
    assert bundle.services["worker"].networks == ["backend", "frontend"]


def test_a_bundle_service_becomes_a_stack_service() -> None:
    spec = service_spec(
        "app",
        "web",
        BundleService(
            image="nginx@sha256:f00",
            args=["nginx"],
            labels={"a": "b"},
            ports=[BundlePort(protocol="udp", port=53)],
        ),
    )
    assert spec.name == "app_web"
    assert spec.labels == {"a": "b", "com.docker.stack.namespace": "app"}
    template = spec.task_template
    assert template is not None and template.container_spec is not None
    assert template.container_spec.labels == {"com.docker.stack.namespace": "app"}
    assert template.container_spec.args == ["nginx"]
    assert [(n.target, n.aliases) for n in template.networks or ()] == [("app_default", ["web"])]
    assert spec.endpoint_spec is not None and spec.endpoint_spec.ports is not None
    assert [(p.target_port, p.protocol, p.published_port) for p in spec.endpoint_spec.ports] == [
        (53, "udp", None)
    ]


BAD_COMPOSE = [
    ("services: [a]\n", "not a compose file: it has no services"),
    ("services:\n  web: {build: .}\n", "services.web: it has a build section and no image"),
    ("services:\n  web: {command: x}\n", "services.web.image: a service needs an image"),
    ("services:\n  web: {image: x, command: {a: b}}\n", "services.web.command: expected a string"),
    ("services:\n  web: {image: x, ports: ['80:http']}\n", "services.web.ports: '80:http' is not"),
    ("services:\n  web: {image: x, env_file: nope.env}\n", "services.web.env_file: "),
    (
        "services:\n  web: {image: '${NOPE:?set NOPE first}'}\n",
        "services.web.image: set NOPE first",
    ),
    ("services: {web: [\n", "not YAML"),
]


@pytest.mark.parametrize(("text", "words"), BAD_COMPOSE)
def test_bad_compose_files_name_the_file_service_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, words: str
) -> None:
    monkeypatch.delenv("NOPE", raising=False)
    path = written(tmp_path, text)
    with pytest.raises(BundleError) as raised:
        compose_bundle(path, load_compose(path), {})
    assert str(raised.value).startswith(f"{path}: ")
    assert words in str(raised.value)


BAD_BUNDLES = [
    ("{", "not JSON"),
    ('{"Version": "0.1"}', "not a bundle: Object missing required field `Services`"),
    ('{"Version": "0.2", "Services": {}}', "bundle version '0.2' is not supported"),
    ('{"Version": "0.1", "Services": {"web": {"Image": ""}}}', "service web: no image"),
    (
        '{"Version": "0.1", "Services": {"web": {"Image": "x", "Ports": '
        '[{"Protocol": "tcp", "Port": 0}]}}}',
        "service web: port 0/tcp is not valid",
    ),
    (
        '{"Version": "0.1", "Services": {"web": {"Image": "x", "Replicas": 3}}}',
        "service web: Object contains unknown field `Replicas`",
    ),
]


@pytest.mark.parametrize(("text", "words"), BAD_BUNDLES)
def test_bad_bundles_are_refused(tmp_path: Path, text: str, words: str) -> None:
    path = written(tmp_path, text, "app.dab")
    with pytest.raises(BundleError) as raised:
        load_bundle(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert words in str(raised.value)
