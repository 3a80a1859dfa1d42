"""Secrets and configs as the Engine API shows them (API 1.25 and 1.30): their specs, the
references a container spec makes to them, and the files those references become in a task's
container.

A secret's ``data`` is kept in its spec, as SwarmKit keeps it, so the store can persist it; the
API never shows it (``public_secret``). A config's data is shown, as dockerd shows it. In a
request the data is base64 text (``SecretCreateRequest``), read with ``decode_data``.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from dataclasses import dataclass
from typing import Literal

from engine.api.base import Json, Struct
from engine.api.networks import Driver

__all__ = [
    "CONFIGS_PATH",
    "MAX_CONFIG_SIZE",
    "MAX_SECRET_SIZE",
    "SECRETS_PATH",
    "ConfigReference",
    "ConfigSpec",
    "DataRequest",
    "FileTarget",
    "SecretReference",
    "SecretSpec",
    "TaskFile",
    "decode_data",
    "task_files",
]

MAX_SECRET_SIZE = 500 * 1024  # bytes; SwarmKit's MaxSecretSize (api/validation/secrets.go)
MAX_CONFIG_SIZE = 1000 * 1024  # bytes; SwarmKit's MaxConfigSize (controlapi/config.go)
SECRETS_PATH = (
    "/run/secrets"  # where a relative secret target goes (moby's containerSecretMountPath)
)
CONFIGS_PATH = "/"  # where a relative config target goes (moby's containerConfigMountPath)
_BASE64 = re.compile(rb"[A-Za-z0-9+/=\r\n]*")


class SecretSpec(Struct, frozen=True):
    name: str | None = None
    labels: dict[str, str] | None = None
    data: bytes | None = None
    driver: Driver | None = None
    templating: Driver | None = None


class ConfigSpec(Struct, frozen=True):
    name: str | None = None
    labels: dict[str, str] | None = None
    data: bytes | None = None
    templating: Driver | None = None


class DataRequest(Struct, frozen=True):
    """``POST /secrets/create`` and ``/configs/create``, and their updates: a spec whose data
    is base64 text, read as dockerd's JSON decoder reads a ``[]byte``."""

    name: str | None = None
    labels: dict[str, str] | None = None
    data: str | None = None
    driver: Driver | None = None
    templating: Driver | None = None


class FileTarget(Struct, frozen=True):
    """Where a reference puts its file in the container: a name (relative to the secrets' or
    configs' folder) or an absolute path, its owner (decimal text, as the API has it) and
    mode."""

    name: str | None = None
    uid: str | None = None
    gid: str | None = None
    mode: int | None = None


class SecretReference(Struct, frozen=True):
    file: FileTarget | None = None
    secret_id: str | None = None
    secret_name: str | None = None


class ConfigReference(Struct, frozen=True):
    file: FileTarget | None = None
    runtime: Json = None  # a config used by the runtime (a credential spec): no file
    config_id: str | None = None
    config_name: str | None = None


def decode_data(text: str | None) -> bytes | None:
    """The data of a request, as Go's ``base64.StdEncoding`` reads it.

    Raises:
        ValueError: with Go's words ("illegal base64 data at input byte N").
    """
    if text is None:
        return None
    raw = text.encode()
    valid = _BASE64.match(raw)
    bad = valid.end() if valid else 0
    if bad < len(raw):
        raise ValueError(f"illegal base64 data at input byte {bad}")
    try:
        return base64.b64decode(raw.replace(b"\r", b"").replace(b"\n", b""), validate=True)
    except binascii.Error:
        stripped = len(raw.rstrip(b"="))
        raise ValueError(f"illegal base64 data at input byte {stripped - stripped % 4}") from None


@dataclass(frozen=True, slots=True)
class TaskFile:
    """A file a task's container has while it runs: a secret's or a config's, at ``path``."""

    kind: Literal["secret", "config"]
    source_id: str
    source_name: str
    path: str
    uid: int
    gid: int
    mode: int


def task_files(
    secrets: list[SecretReference] | None, configs: list[ConfigReference] | None
) -> list[TaskFile]:
    """The files a container spec's references make, where moby mounts them: a relative
    secret target under /run/secrets, a relative config target under /, an absolute one where
    it says. References without a file (a runtime config) make none."""
    files = []
    for secret in secrets or ():
        if secret.file is not None:
            files.append(_file("secret", secret.secret_id, secret.secret_name, secret.file))
    for config in configs or ():
        if config.file is not None:
            files.append(_file("config", config.config_id, config.config_name, config.file))
    return files


def _file(
    kind: Literal["secret", "config"], source_id: str | None, name: str | None, file: FileTarget
) -> TaskFile:
    target = file.name or ""
    folder = SECRETS_PATH if kind == "secret" else CONFIGS_PATH
    path = target if target.startswith("/") else posixpath.join(folder, target)
    return TaskFile(
        kind=kind,
        source_id=source_id or "",
        source_name=name or "",
        path=posixpath.normpath(path),
        uid=int(file.uid or 0),
        gid=int(file.gid or 0),
        mode=0o444 if file.mode is None else file.mode,
    )
