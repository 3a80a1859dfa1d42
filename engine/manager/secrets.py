"""Secrets and configs: what SwarmKit's controlapi (secret.go, config.go) and dockerd check, with
their words, and the references a service's container spec makes to them.

The two kinds behave alike; ``SECRETS`` and ``CONFIGS`` say where they differ (the word, the
largest data, the object's class). A secret's data is never put in an error or a log line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from msgspec.structs import replace

from engine.api.objects import Config, Secret
from engine.api.secrets import (
    MAX_CONFIG_SIZE,
    MAX_SECRET_SIZE,
    ConfigSpec,
    DataRequest,
    SecretSpec,
    decode_data,
)
from engine.api.specs import ContainerSpec, ServiceSpec
from engine.errors import EngineError, InvalidArgument, SequenceConflict, the_one
from engine.store import ReadTx, by, find_services

__all__ = [
    "CONFIGS",
    "SECRETS",
    "Kind",
    "KindT",
    "check_references",
    "check_removable",
    "check_update",
    "new_spec",
    "resolve",
    "validate_references",
]

KindT = TypeVar("KindT", Secret, Config)

# SwarmKit's isValidConfigOrSecretName, at most 64 characters.
_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")
_DIGITS = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class Kind(Generic[KindT]):
    """Secrets, or configs."""

    word: str
    kind: type[KindT]
    max_size: int

    def make(self, obj_id: str, spec: SecretSpec | ConfigSpec) -> KindT:
        """A new object of this kind; ``spec`` is one ``new_spec`` made for it."""
        return self.kind(id=obj_id, spec=spec)  # type: ignore[arg-type]


SECRETS: Kind[Secret] = Kind("secret", Secret, MAX_SECRET_SIZE)
CONFIGS: Kind[Config] = Kind("config", Config, MAX_CONFIG_SIZE)


def new_spec(kind: Kind[KindT], request: DataRequest) -> SecretSpec | ConfigSpec:
    """The spec of a new secret or config, checked as dockerd and SwarmKit check it.

    Raises:
        InvalidArgument: bad base64 (dockerd's words), a bad name or size (SwarmKit's).
        EngineError: a secret driver, which this engine has none of ("plugin not found").
    """
    data = _data(request)
    _check_name(request.name or "")
    if kind is SECRETS and request.driver is not None and request.driver.name:
        raise EngineError(f'plugin "{request.driver.name}" not found')
    if request.templating is not None and request.templating.name:
        raise InvalidArgument(
            f"templating ({request.templating.name}) is not supported: this engine writes "
            f"a {kind.word}'s data as it is"
        )
    if data is None or not 0 < len(data) < kind.max_size:
        raise InvalidArgument(
            f"{kind.word} data must be larger than 0 and less than {kind.max_size} bytes"
        )
    labels = request.labels or {}
    if kind is SECRETS:
        return SecretSpec(name=request.name, labels=labels, data=data)
    return ConfigSpec(name=request.name, labels=labels, data=data)


def check_update(
    kind: Kind[KindT], current: KindT, version: int, request: DataRequest
) -> SecretSpec | ConfigSpec:
    """The spec after an update, which may change labels only (SwarmKit's Update*: the name
    and data are checked before the version).

    Raises:
        InvalidArgument: "only updates to Labels are allowed".
        SequenceConflict: ``version`` is not the object's.
    """
    data = _data(request)
    if (request.name or "") != current.name or (data is not None and data != current.spec.data):
        raise InvalidArgument("only updates to Labels are allowed")
    if current.version.index != version:
        raise SequenceConflict()
    return replace(current.spec, labels=request.labels or {})


def _data(request: DataRequest) -> bytes | None:
    try:
        return decode_data(request.data)
    except ValueError as error:
        raise InvalidArgument(str(error), rpc=False) from None


def _check_name(name: str) -> None:
    if not name:
        raise InvalidArgument("name must be provided")
    if len(name) > 64 or not _NAME.match(name):
        raise InvalidArgument(
            "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end "
            "character must be [a-zA-Z0-9]"
        )


def resolve(tx: ReadTx, kind: Kind[KindT], reference: str) -> KindT:
    """A secret or config by full ID, then name, then unique ID prefix, as dockerd finds one.

    Raises:
        NotFound: "secret X not found" (dockerd's words, 404).
    """
    found = tx.get(kind.kind, reference) if reference else None
    if found is not None:
        return found
    selectors = [by.name(reference), by.id_prefix(reference)] if reference else [by.name("")]
    return the_one(kind.word, reference, (tx.find(kind.kind, selector) for selector in selectors))


def check_removable(tx: ReadTx, kind: Kind[KindT], obj: KindT) -> None:
    """Raises InvalidArgument, with SwarmKit's words, while a service refers to ``obj``."""
    users = sorted(
        service.spec.name or ""
        for service in find_services(tx, by.all())
        if any(obj_id == obj.id for obj_id, _ in _references(service.spec, kind))
    )
    if users:
        noun = "service" if len(users) == 1 else "services"
        raise InvalidArgument(
            f"{kind.word} '{obj.name}' is in use by the following {noun}: {', '.join(users)}"
        )


def check_references(tx: ReadTx, spec: ServiceSpec) -> None:
    """Raises InvalidArgument for references to secrets or configs that are not there, or
    whose name is not the one given (SwarmKit's checkSecretExistence, checkConfigExistence)."""
    kinds: tuple[Kind[Secret] | Kind[Config], ...] = (SECRETS, CONFIGS)
    for kind in kinds:
        missing = []
        for obj_id, name in _references(spec, kind):
            found = tx.get(kind.kind, obj_id)
            if found is None or found.name != name:
                missing.append(name)
        if len(missing) == 1:
            raise InvalidArgument(f"{kind.word} not found: {missing[0]}")
        if missing:
            raise InvalidArgument(f"{kind.word}s not found: {', '.join(missing)}")


def validate_references(container: ContainerSpec) -> None:
    """SwarmKit's validateSecretRefsSpec and validateConfigRefsSpec (and dockerd's check that a
    config reference has a target), before anything is looked up."""
    for config in container.configs or ():
        if config.file is None and config.runtime is None:
            raise InvalidArgument("invalid Config: either File or Runtime should be set", rpc=False)
    secrets = [
        (s.secret_id, s.secret_name, s.file, s.file is not None) for s in container.secrets or ()
    ]
    configs = [
        (c.config_id, c.config_name, c.file, c.file is not None or c.runtime is not None)
        for c in container.configs or ()
    ]
    for word, references in (("secret", secrets), ("config", configs)):
        targets: dict[str, str] = {}
        for obj_id, name, file, has_target in references:
            if not obj_id or not name:
                raise InvalidArgument(f"malformed {word} reference")
            if not has_target:
                raise InvalidArgument(f"malformed {word} reference, no target provided")
            if file is None:
                continue
            target = file.name or ""
            if not target:
                raise InvalidArgument(
                    f"malformed file {word} reference, invalid target file name provided"
                )
            for owner, value in (("UID", file.uid), ("GID", file.gid)):
                if value and not _DIGITS.match(value):
                    raise InvalidArgument(
                        f"malformed file {word} reference, {owner} {value!r} is not a number"
                    )
            if target in targets:
                raise InvalidArgument(
                    f"{word} references '{targets[target]}' and '{name}' have a conflicting "
                    f"target: '{target}'"
                )
            targets[target] = name


def _references(spec: ServiceSpec, kind: Kind[Secret] | Kind[Config]) -> list[tuple[str, str]]:
    """The (ID, name) of each secret, or config, the service's container spec refers to."""
    template = spec.task_template
    container = template.container_spec if template else None
    if container is None:
        return []
    if kind is SECRETS:
        return [(r.secret_id or "", r.secret_name or "") for r in container.secrets or ()]
    return [(r.config_id or "", r.config_name or "") for r in container.configs or ()]
