"""A compose file read into a bundle, as ``docker-compose bundle`` made one (compose's
``bundle.py``): each service's image, pinned by the digest given for it where one is known;
``entrypoint`` as the bundle's ``Command`` and ``command`` as its ``Args``; environment (from
``environment`` and ``env_file``), labels, user and working directory; the target ports of
``ports`` and ``expose``; and its networks (``default`` when it names none).

Variables are substituted as compose does (``$VAR``, ``${VAR}``, ``${VAR:-default}``,
``${VAR-default}``, ``${VAR:?error}``, ``$$``). What a bundle cannot carry (deploy settings,
volumes, secrets, published port numbers...) is left out with a warning naming it. A file that
is not a compose file, or a service without an image, is an error naming the file, the service
and the field.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from engine.stacks.bundle import (
    BUNDLE_VERSION,
    DEFAULT_NETWORK,
    Bundle,
    BundleError,
    BundlePort,
    BundleService,
)

__all__ = ["compose_bundle", "compose_images", "load_compose"]

BUNDLE_KEYS = {"image", "command", "entrypoint", "environment", "env_file", "labels", "ports"}
BUNDLE_KEYS |= {"expose", "networks", "user", "working_dir"}
IGNORED_KEYS = {"build", "depends_on", "container_name"}  # meaningless in a swarm, as compose had
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)
_PORT = re.compile(
    r"^(?:(?:\[?[0-9a-fA-F.:]+\]?):)??(?:(?P<published>[0-9]+(?:-[0-9]+)?):)?"
    r"(?P<target>[0-9]+(?:-[0-9]+)?)(?:/(?P<protocol>tcp|udp|sctp))?$"
)


def load_compose(path: Path) -> dict[str, Any]:
    """The compose file's content, its variables substituted.

    Raises:
        BundleError: it cannot be read, is not YAML, or has no services.
    """
    try:
        text = path.read_text()
    except OSError as error:
        raise BundleError(f"{path}: cannot read the compose file: {error.strerror}") from None
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise BundleError(f"{path}: not YAML: {error}") from None
    if not isinstance(content, dict) or not isinstance(content.get("services"), dict):
        raise BundleError(f"{path}: not a compose file: it has no services")
    return _substituted(content, path, "")


def compose_images(content: Mapping[str, Any]) -> list[str]:
    """The images the compose file's services run, each once, in name order."""
    services = content.get("services") or {}
    return sorted(
        {str(s["image"]) for s in services.values() if isinstance(s, dict) and "image" in s}
    )


def compose_bundle(
    path: Path, content: Mapping[str, Any], digests: Mapping[str, str]
) -> tuple[Bundle, list[str]]:
    """The bundle of the compose file ``path`` holds (``content``, as ``load_compose`` read it),
    and warnings about what it leaves out. ``digests`` pins images: ``nginx:1.25`` to
    ``nginx@sha256:...``; an image not in it stays as named, with a warning.

    Raises:
        BundleError: a service that a bundle cannot hold (no image, a field of the wrong kind).
    """
    warnings: list[str] = []
    services: dict[str, BundleService] = {}
    for name, service in sorted((content.get("services") or {}).items()):
        where = f"{path}: services.{name}"
        if not isinstance(service, dict):
            raise BundleError(f"{where}: expected a mapping")
        services[str(name)] = _service(where, path.parent, service, digests, warnings)
    return Bundle(version=BUNDLE_VERSION, services=services), warnings


def _service(
    where: str,
    folder: Path,
    service: dict[str, Any],
    digests: Mapping[str, str],
    warnings: list[str],
) -> BundleService:
    image = service.get("image")
    if not image:
        if "build" in service:
            raise BundleError(
                f"{where}: it has a build section and no image: build and push it, and name it "
                "in image"
            )
        raise BundleError(f"{where}.image: a service needs an image")
    if not isinstance(image, str):
        raise BundleError(f"{where}.image: expected a string")
    for key in sorted(set(service) - BUNDLE_KEYS - IGNORED_KEYS):
        warnings.append(f"{where}.{key}: a bundle cannot hold it; left out")
    pinned = digests.get(image)
    if pinned is None and "@" not in image:
        warnings.append(f"{where}.image: no digest known for {image}; the bundle names it as is")
    env = _env_files(where, folder, service.get("env_file")) | _mapping(
        where, "environment", service.get("environment"), from_shell=True
    )
    return BundleService(
        image=pinned or image,
        command=_words(where, "entrypoint", service.get("entrypoint")),
        args=_words(where, "command", service.get("command")),
        env=[f"{key}={value}" for key, value in sorted(env.items())] or None,
        labels=_mapping(where, "labels", service.get("labels")) or None,
        ports=_ports(where, service, warnings) or None,
        working_dir=_text(where, "working_dir", service.get("working_dir")),
        user=_text(where, "user", service.get("user")),
        networks=_networks(where, service.get("networks"), warnings),
    )


def _words(where: str, key: str, value: Any) -> list[str] | None:
    """A command: a list as it is, a string split as a shell would."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as error:
            raise BundleError(f"{where}.{key}: {error}") from None
    if isinstance(value, list):
        return [_scalar(where, key, item) for item in value]
    raise BundleError(f"{where}.{key}: expected a string or a list")


def _text(where: str, key: str, value: Any) -> str | None:
    return None if value is None else _scalar(where, key, value)


def _scalar(where: str, key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise BundleError(f"{where}.{key}: expected a string, not {type(value).__name__}")


def _mapping(where: str, key: str, value: Any, from_shell: bool = False) -> dict[str, str]:
    """``environment`` or ``labels``: a mapping, or a list of ``KEY=VALUE``; a key with no value
    takes the shell's (``environment``), and is left out when the shell has none, as compose
    left it out of a bundle."""
    if value is None:
        return {}
    pairs: list[tuple[str, Any]]
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = []
        for item in value:
            text = _scalar(where, key, item)
            name, sep, given = text.partition("=")
            pairs.append((name, given if sep else None))
    else:
        raise BundleError(f"{where}.{key}: expected a mapping or a list")
    result = {}
    for name, given in pairs:
        if given is None:
            if not from_shell:
                result[str(name)] = ""
            elif str(name) in os.environ:
                result[str(name)] = os.environ[str(name)]
            continue
        result[str(name)] = _scalar(where, f"{key}.{name}", given)
    return result


def _env_files(where: str, folder: Path, value: Any) -> dict[str, str]:
    """The variables of ``env_file`` (one file or a list), relative to the compose file."""
    if value is None:
        return {}
    files = [value] if isinstance(value, str) else value
    if not isinstance(files, list):
        raise BundleError(f"{where}.env_file: expected a string or a list")
    env = {}
    for name in files:
        path = folder / _scalar(where, "env_file", name)
        try:
            lines = path.read_text().splitlines()
        except OSError as error:
            raise BundleError(f"{where}.env_file: {path}: {error.strerror}") from None
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, given = line.partition("=")
                env[key.strip()] = given
    return env


def _ports(where: str, service: dict[str, Any], warnings: list[str]) -> list[BundlePort]:
    """The target ports of ``ports`` and ``expose``, each once, in order; a published number
    is left to the swarm, with a warning."""
    found: list[BundlePort] = []
    for key in ("ports", "expose"):
        value = service.get(key) or []
        if not isinstance(value, list):
            raise BundleError(f"{where}.{key}: expected a list")
        for item in value:
            if isinstance(item, dict):
                if "target" not in item:
                    raise BundleError(f"{where}.{key}: a port needs a target")
                targets = [int(item["target"])]
                protocol = str(item.get("protocol") or "tcp")
                published = item.get("published")
            else:
                match = _PORT.match(_scalar(where, key, item))
                if match is None:
                    raise BundleError(f"{where}.{key}: {item!r} is not a port")
                low, _, high = match["target"].partition("-")
                targets = list(range(int(low), int(high or low) + 1))
                protocol = match["protocol"] or "tcp"
                published = match["published"]
            if published:
                warnings.append(
                    f"{where}.{key}: published port {published} left out: a bundle carries "
                    "target ports, and the swarm publishes each on a port of its choosing"
                )
            for target in targets:
                port = BundlePort(protocol=protocol, port=target)
                if port not in found:
                    found.append(port)
    return sorted(found, key=lambda port: (port.port, port.protocol))


def _networks(where: str, value: Any, warnings: list[str]) -> list[str]:
    if value is None:
        return [DEFAULT_NETWORK]
    if isinstance(value, list):
        return sorted(_scalar(where, "networks", item) for item in value)
    if isinstance(value, dict):
        for name, settings in value.items():
            if settings:
                warnings.append(f"{where}.networks.{name}: aliases and addresses left out")
        return sorted(str(name) for name in value)
    raise BundleError(f"{where}.networks: expected a list or a mapping")


def _substituted(value: Any, path: Path, at: str) -> Any:
    """``value`` with compose's variables substituted in every string."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda match: _variable(match, path, at), value)
    if isinstance(value, list):
        return [_substituted(item, path, at) for item in value]
    if isinstance(value, dict):
        return {
            key: _substituted(item, path, f"{at}.{key}".lstrip(".")) for key, item in value.items()
        }
    return value


def _variable(match: re.Match[str], path: Path, at: str) -> str:
    if match["escaped"]:
        return "$"
    name = match["plain"] or match["braced"]
    op, arg = match["op"], match["arg"] or ""
    value = os.environ.get(name)
    empty = value is None or (value == "" and op is not None and op.startswith(":"))
    if op is None or not empty:
        return value or ""
    if op.endswith("?"):
        raise BundleError(f"{path}: {at}: {arg or f'variable {name} is not set'}")
    return arg
