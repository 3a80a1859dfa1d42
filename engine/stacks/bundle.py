"""Distributed Application Bundles (``.dab``): Docker 1.12's JSON file of an application's
services, as ``docker-compose bundle`` wrote it and ``docker deploy`` read it
(``api/client/bundlefile/bundlefile.go``).

    bundle = load_bundle(Path("app.dab"))
    Path("app.dab").write_bytes(bundle_json(bundle))

A bundle holds, per service, the image (pinned by digest, where known), the entrypoint
(``Command``) and command (``Args``), environment, labels, working directory, user, the target
ports it exposes (a published port is chosen by the swarm) and the networks it joins.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from engine.api.base import Struct

__all__ = [
    "BUNDLE_VERSION",
    "DEFAULT_NETWORK",
    "Bundle",
    "BundleError",
    "BundlePort",
    "BundleService",
    "bundle_json",
    "load_bundle",
]

BUNDLE_VERSION = "0.1"  # what docker-compose bundle wrote, and docker deploy read
DEFAULT_NETWORK = "default"  # the network of services that name none, as compose has it


class BundleError(ValueError):
    """A bundle or compose file that cannot be read; the message names the file and where."""


class BundlePort(Struct, frozen=True):
    protocol: str
    port: int


class BundleService(Struct, frozen=True, forbid_unknown_fields=True):
    image: str
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[str] | None = None
    labels: dict[str, str] | None = None
    ports: list[BundlePort] | None = None
    working_dir: str | None = None
    user: str | None = None
    networks: list[str] | None = None


class Bundle(Struct, frozen=True, forbid_unknown_fields=True):
    version: str
    services: dict[str, BundleService]


class _Raw(Struct, frozen=True, forbid_unknown_fields=True):
    """A bundle before its services are read, each on its own, so an error names it."""

    version: str
    services: dict[str, msgspec.Raw]


_decoder = msgspec.json.Decoder(_Raw)
_service_decoder = msgspec.json.Decoder(BundleService)


def load_bundle(path: Path) -> Bundle:
    """The bundle in ``path``.

    Raises:
        BundleError: the file cannot be read, is not JSON, or not a bundle (the message names
            the file, the service and the field).
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BundleError(f"{path}: cannot read the bundle: {error.strerror}") from None
    try:
        raw = _decoder.decode(data)
    except msgspec.ValidationError as error:
        raise BundleError(f"{path}: not a bundle: {error}") from None
    except msgspec.DecodeError as error:
        raise BundleError(f"{path}: not JSON: {error}") from None
    services = {}
    for name, text in raw.services.items():
        try:
            services[name] = _service_decoder.decode(text)
        except msgspec.ValidationError as error:
            raise BundleError(f"{path}: not a bundle: service {name}: {error}") from None
    bundle = Bundle(version=raw.version, services=services)
    if bundle.version != BUNDLE_VERSION:
        raise BundleError(
            f"{path}: bundle version {bundle.version!r} is not supported (only {BUNDLE_VERSION})"
        )
    for name, service in bundle.services.items():
        if not service.image:
            raise BundleError(f"{path}: service {name}: no image")
        for port in service.ports or ():
            if port.protocol not in ("tcp", "udp", "sctp") or not 0 < port.port < 65536:
                raise BundleError(
                    f"{path}: service {name}: port {port.port}/{port.protocol} is not valid"
                )
    return bundle


def bundle_json(bundle: Bundle) -> bytes:
    """The bundle as its file holds it: indented JSON, services in name order."""
    return json.dumps(msgspec.to_builtins(bundle), indent=4, sort_keys=True).encode() + b"\n"
