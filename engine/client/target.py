"""Which Docker endpoint to talk to: ``--host``, ``--context``, ``DOCKER_HOST``,
``DOCKER_CONTEXT``, the current docker context unless "default", else the embedded cluster."""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Target", "TargetError", "resolve_target"]


class TargetError(Exception):
    """The named target cannot be used (unknown context, missing TLS files, bad URL)."""


@dataclass(frozen=True)
class Target:
    """An endpoint; ``url`` is None for the embedded demo cluster."""

    url: str | None
    source: str  # what chose it: "--host", "--context NAME", "DOCKER_HOST", ...
    tls: ssl.SSLContext | None = None

    @property
    def embedded(self) -> bool:
        return self.url is None

    @property
    def label(self) -> str:
        return "embedded demo cluster" if self.url is None else self.url


def resolve_target(
    host: str | None = None,
    context: str | None = None,
    environ: dict[str, str] | None = None,
    config_dir: Path | None = None,
) -> Target:
    """The first of ``--host``, ``--context``, DOCKER_HOST, DOCKER_CONTEXT, current context."""
    env = dict(os.environ if environ is None else environ)
    config = config_dir or Path(env.get("DOCKER_CONFIG", Path.home() / ".docker"))
    if host:
        return _with_tls(Target(_check_url(host), "--host"), env)
    if context:
        return _from_context(context, config, f"--context {context}")
    if env.get("DOCKER_HOST"):
        return _with_tls(Target(_check_url(env["DOCKER_HOST"]), "DOCKER_HOST"), env)
    if env.get("DOCKER_CONTEXT"):
        name = env["DOCKER_CONTEXT"]
        return _from_context(name, config, f"DOCKER_CONTEXT={name}")
    current = _current_context(config)
    if current and current != "default":
        return _from_context(current, config, f"current context {current}")
    return Target(None, "no DOCKER_HOST or context")


def _check_url(url: str) -> str:
    if not url.startswith(("unix://", "tcp://", "http://", "https://", "ssh://")):
        raise TargetError(f"unsupported host {url!r}: use unix://, tcp:// or ssh://")
    return url


def _with_tls(target: Target, env: dict[str, str]) -> Target:
    if not (target.url or "").startswith("tcp://") or env.get("DOCKER_TLS_VERIFY") in (None, ""):
        return target
    cert_path = Path(env.get("DOCKER_CERT_PATH", Path.home() / ".docker"))
    return Target(target.url, target.source, _tls_context(cert_path))


def _tls_context(cert_path: Path) -> ssl.SSLContext:
    """A context that trusts only ``ca.pem`` and presents ``cert.pem`` with ``key.pem``.

    Raises:
        TargetError: a file is missing, unreadable, or not what it should be.
    """
    files = {name: cert_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    missing = [str(path) for path in files.values() if not path.exists()]
    if missing:
        raise TargetError(f"TLS files missing: {', '.join(missing)}")
    try:
        context = ssl.create_default_context(cafile=str(files["ca"]))
    except OSError as error:  # ssl.SSLError is one
        raise TargetError(_unusable(cert_path, "ca.pem", error)) from None
    try:
        context.load_cert_chain(str(files["cert"]), str(files["key"]))
    except OSError as error:
        raise TargetError(_unusable(cert_path, "cert.pem and key.pem", error)) from None
    return context


def _unusable(cert_path: Path, which: str, error: OSError) -> str:
    reason = re.sub(r"\s*\(_ssl\.c:\d+\)$", "", error.strerror or str(error))
    return f"cannot use the TLS files in {cert_path}: {which}: {reason}"


def _current_context(config: Path) -> str | None:
    try:
        return json.loads((config / "config.json").read_text()).get("currentContext")
    except (OSError, ValueError):
        return None


def _from_context(name: str, config: Path, source: str) -> Target:
    """Reads a docker context from its meta.json (and its TLS files)."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta_file = config / "contexts" / "meta" / digest / "meta.json"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError):
        raise TargetError(f"context {name!r} not found") from None
    endpoint = meta.get("Endpoints", {}).get("docker", {})
    host = endpoint.get("Host")
    if not host:
        raise TargetError(f"context {name!r} has no docker endpoint")
    tls_dir = config / "contexts" / "tls" / digest / "docker"
    tls = _tls_context(tls_dir) if tls_dir.exists() else None
    return Target(_check_url(host), source, tls)
