"""Any object as the describe view shows it: the API's JSON as YAML."""

from __future__ import annotations

import yaml

from console.sanitize import sanitize
from engine.api.codec import to_builtins
from engine.api.objects import Object

__all__ = ["describe_text"]


def describe_text(obj: Object) -> str:
    """The object as the API gives it, in YAML; strings a container controls are sanitized."""
    text = yaml.safe_dump(to_builtins(obj), sort_keys=False, allow_unicode=True, width=100)
    return sanitize(text)
