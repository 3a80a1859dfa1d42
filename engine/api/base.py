"""The base of every API value: a frozen msgspec Struct whose JSON names are the API's."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

__all__ = ["Json", "Struct", "UInt", "api_name"]

# Words the API spells in capitals: ``node_id`` is ``NodeID``, ``nano_cpus`` is ``NanoCPUs``.
_ACRONYMS = {
    "id": "ID",
    "ids": "IDs",
    "cpus": "CPUs",
    "cpu": "CPU",
    "tty": "TTY",
    "dns": "DNS",
    "ip": "IP",
    "ips": "IPs",
    "ipam": "IPAM",
    "ipv6": "IPv6",
    "os": "OS",
    "pid": "PID",
    "tls": "TLS",
    "ca": "CA",
    "url": "URL",
    "api": "API",
    "uid": "UID",
    "gid": "GID",
}


def api_name(field: str) -> str:
    """The API's JSON name of a Python field name (``virtual_ips`` -> ``VirtualIPs``)."""
    return "".join(_ACRONYMS.get(word, word.capitalize()) for word in field.split("_"))


class Struct(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, rename=api_name, gc=False
):
    """An API value. Fields left at their default are left out of the JSON, as Go's omitempty.

    Values are immutable trees, never cycles, so the garbage collector need not track them:
    a cluster holds hundreds of thousands, and tracking them made every full collection a pause.
    """


UInt = Annotated[int, msgspec.Meta(ge=0)]
Json = Any  # a part of the API the engine carries along without reading it
