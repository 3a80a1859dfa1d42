"""Secrets and configs through the real docker CLI: create, ls with filters, inspect, rm, services
that mount them (``--secret``, ``--config``, ``--secret-add/rm``, ``--config-add/rm``), removal
refused while in use, events; and a secret's data in no answer, event, log line or file."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Engine, start_engine, wait_until
from tests.integration.test_api_errors import call

SECRET = b"s3cr3t-hunter2-do-not-show"
CONFIG = b"worker_processes 4;\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = start_engine(tmp_path_factory.mktemp("secrets"))
    yield engine
    assert engine.stop() == 0


def create(engine: Engine, what: str, name: str, data: bytes, *args: str) -> str:
    """``docker secret create`` (or config) with the data on standard input; the new ID."""
    result = subprocess.run(
        ["docker", what, "create", *args, name, "-"],
        input=data,
        env=engine.env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout.decode().strip()


def api(engine: Engine, method: str, path: str, body: object = None) -> tuple[int, object]:
    status, answer, _ = asyncio.run(call(engine, method, path, body))
    return status, answer


def test_secrets_and_configs_are_made_listed_found_and_removed(served: Engine) -> None:
    secret_id = create(served, "secret", "db_password", SECRET, "--label", "tier=db")
    other_id = create(served, "secret", "api-key", b"k", "--label", "tier=api")
    config_id = create(served, "config", "nginx.conf", CONFIG)
    assert served.docker("secret", "ls", "--format", "{{.Name}}").split() == [
        "api-key",
        "db_password",
    ]
    for filters, names in (
        (["label=tier=db"], ["db_password"]),
        (["label=tier"], ["api-key", "db_password"]),
        (["name=db"], ["db_password"]),
        (["id=" + other_id[:6]], ["api-key"]),
    ):
        args = [arg for f in filters for arg in ("--filter", f)]
        assert served.docker("secret", "ls", *args, "--format", "{{.Name}}").split() == names
    for reference in ("db_password", secret_id, secret_id[:7]):
        found = served.docker_json("secret", "inspect", reference)[0]
        assert found["ID"] == secret_id
        assert found["Spec"] == {"Name": "db_password", "Labels": {"tier": "db"}}
    pretty = served.docker("config", "inspect", "--pretty", "nginx.conf")
    assert CONFIG.decode().strip() in pretty  # a config's data is shown, as dockerd shows it
    assert served.docker_json("config", "inspect", config_id)[0]["Spec"]["Data"] == (
        base64.b64encode(CONFIG).decode()
    )
    again = subprocess.run(
        ["docker", "secret", "create", "db_password", "-"],
        input=b"x",
        env=served.env,
        capture_output=True,
        timeout=60,
    )
    assert again.returncode != 0
    assert b"rpc error: code = AlreadyExists desc = secret db_password already exists" in (
        again.stderr
    )
    missing = served.docker("secret", "inspect", "nope", check=False)
    assert "No such secret: nope" in missing or "secret nope not found" in missing
    served.docker("secret", "rm", "api-key")
    served.docker("config", "rm", config_id)
    assert served.docker("secret", "ls", "--format", "{{.Name}}").split() == ["db_password"]
    assert served.docker("config", "ls", "-q") == ""
    served.docker("secret", "rm", "db_password")


def test_updates_change_labels_only(served: Engine) -> None:
    create(served, "secret", "rotating", SECRET, "--label", "a=b")
    version = served.docker_json("secret", "inspect", "rotating")[0]["Version"]["Index"]
    status, answer = api(
        served,
        "POST",
        f"/v1.41/secrets/rotating/update?version={version}",
        {"Name": "rotating", "Data": base64.b64encode(b"new").decode()},
    )
    assert (status, answer) == (
        400,
        {"message": "rpc error: code = InvalidArgument desc = only updates to Labels are allowed"},
    )
    status, answer = api(served, "POST", "/v1.41/secrets/rotating/update", {"Name": "rotating"})
    assert (status, answer) == (400, {"message": "invalid secret version"})
    status, _ = api(
        served,
        "POST",
        f"/v1.41/secrets/rotating/update?version={version}",
        {"Name": "rotating", "Labels": {"c": "d"}},
    )
    assert status == 200
    assert served.docker_json("secret", "inspect", "rotating")[0]["Spec"]["Labels"] == {"c": "d"}
    status, answer = api(
        served, "POST", f"/v1.41/secrets/rotating/update?version={version}", {"Name": "rotating"}
    )
    assert (status, answer) == (
        500,
        {"message": "rpc error: code = Unknown desc = update out of sequence"},
    )
    served.docker("secret", "rm", "rotating")


def test_services_mount_them_and_hold_them(served: Engine) -> None:
    secret_id = create(served, "secret", "db_password", SECRET)
    config_id = create(served, "config", "nginx.conf", CONFIG)
    served.docker(
        "service", "create", "--detach", "--name", "db", "--mode", "global",
        "--secret", "db_password",
        "--secret", "source=db_password,target=copy,uid=70,gid=71,mode=0400",
        "--config", "source=nginx.conf,target=/etc/nginx/nginx.conf,mode=0440",
        "nginx:1.10",
    )  # fmt: skip
    spec = served.docker_json("service", "inspect", "db")[0]["Spec"]["TaskTemplate"]
    container = spec["ContainerSpec"]
    assert sorted(container["Secrets"], key=lambda ref: ref["File"]["Name"]) == [
        {
            "File": {"Name": "copy", "UID": "70", "GID": "71", "Mode": 0o400},
            "SecretID": secret_id,
            "SecretName": "db_password",
        },
        {
            "File": {"Name": "db_password", "UID": "0", "GID": "0", "Mode": 0o444},
            "SecretID": secret_id,
            "SecretName": "db_password",
        },
    ]
    assert container["Configs"] == [
        {
            "File": {"Name": "/etc/nginx/nginx.conf", "UID": "0", "GID": "0", "Mode": 0o440},
            "ConfigID": config_id,
            "ConfigName": "nginx.conf",
        }
    ]
    # Each running container has the files, where docker puts them.
    wait_until(lambda: served.docker("ps", "-q").strip(), 60, "a running container here")
    status, listed = api(served, "GET", "/v1.41/containers/json")
    assert status == 200 and isinstance(listed, list)
    mounts = {(m["Destination"], m["RW"]) for m in listed[0]["Mounts"]}
    assert mounts == {
        ("/run/secrets/db_password", False),
        ("/run/secrets/copy", False),
        ("/etc/nginx/nginx.conf", False),
    }

    for what, name in (("secret", "db_password"), ("config", "nginx.conf")):
        refused = served.docker(what, "rm", name, check=False)
        assert (
            f"rpc error: code = InvalidArgument desc = {what} '{name}' is in use by the "
            "following service: db"
        ) in refused
    served.docker(
        "service", "update", "--detach", "--secret-rm", "db_password",
        "--config-rm", "nginx.conf", "db",
    )  # fmt: skip
    container = served.docker_json("service", "inspect", "db")[0]["Spec"]["TaskTemplate"][
        "ContainerSpec"
    ]
    assert "Secrets" not in container and "Configs" not in container
    served.docker(
        "service", "update", "--detach", "--secret-add", "db_password",
        "--config-add", "source=nginx.conf,target=/etc/app.conf", "db",
    )  # fmt: skip
    names = served.docker(
        "service", "inspect", "db", "--format", "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}"
        "{{.SecretName}}:{{.File.Name}} {{end}}{{range .Spec.TaskTemplate.ContainerSpec.Configs}}"
        "{{.ConfigName}}:{{.File.Name}} {{end}}",
    ).split()  # fmt: skip
    assert names == ["db_password:db_password", "nginx.conf:/etc/app.conf"]
    served.docker("service", "update", "--detach", "--config-rm", "nginx.conf", "db")
    served.docker("config", "rm", "nginx.conf")  # no longer in use
    served.docker("service", "rm", "db")
    served.docker("secret", "rm", "db_password")


def test_events_name_secrets_and_configs(served: Engine) -> None:
    since = str(int(time.time()) - 1)
    secret_id = create(served, "secret", "evented", b"e")
    config_id = create(served, "config", "evented", b"e")
    served.docker("secret", "rm", "evented")
    served.docker("config", "rm", "evented")
    lines = served.docker(
        "events", "--since", since, "--until", str(int(time.time()) + 2), "--filter", "type=secret",
        "--filter", "type=config", "--format", "{{.Type}} {{.Action}} {{.Actor.ID}} "
        "{{.Actor.Attributes.name}}",
    ).splitlines()  # fmt: skip
    assert [line for line in lines if line.split()[2] in (secret_id, config_id)] == [
        f"secret create {secret_id} evented",
        f"config create {config_id} evented",
        f"secret remove {secret_id} evented",
        f"config remove {config_id} evented",
    ]


def test_a_secret_is_never_shown_logged_or_written_in_the_clear(served: Engine) -> None:
    secret_id = create(served, "secret", "hidden", SECRET, "--label", "x=y")
    served.docker(
        "service", "create", "--detach", "--name", "uses", "--replicas", "2",
        "--secret", "hidden", "nginx:1.10",
    )  # fmt: skip
    wait_until(
        lambda: served.docker("service", "ls", "--format", "{{.Replicas}}").strip() == "2/2",
        60,
        "both tasks running",
    )
    needles = [SECRET, base64.b64encode(SECRET)]
    answers = []
    for path in (
        "/v1.41/secrets",
        f"/v1.41/secrets/{secret_id}",
        "/v1.41/secrets/hidden",
        "/v1.41/services",
        "/v1.41/services/uses",
        "/v1.41/tasks",
        "/v1.41/containers/json?all=1",
        "/v1.41/info",
    ):
        status, answer = api(served, "GET", path)
        assert status == 200, path
        answers.append(json.dumps(answer).encode())
    answers.append(
        served.docker(
            "events",
            "--since",
            "5m",
            "--until",
            str(int(time.time()) + 2),
            "--format",
            "{{json .}}",
        ).encode()
    )
    answers.append(served.docker("secret", "inspect", "--pretty", "hidden").encode())
    for needle in needles:
        assert not [answer for answer in answers if needle in answer]
    served.docker("service", "rm", "uses")
    served.docker("secret", "rm", "hidden")
    log = Path(served.data_dir).parent / "engine.log"
    served_files = [log, *Path(served.data_dir).rglob("*")]
    for needle in needles:
        assert [p.name for p in served_files if p.is_file() and needle in p.read_bytes()] == []
