"""Any object as the describe view shows it: the API's JSON as YAML."""

from __future__ import annotations

from typing import Any

import yaml

from console.sanitize import sanitize
from engine.api.codec import to_builtins

__all__ = ["describe_text"]


def describe_text(obj: Any) -> str:
    """The object (an API value, or builtins) as the API gives it, in YAML; strings a
    container controls are sanitized."""
    text = yaml.safe_dump(to_builtins(obj), sort_keys=False, allow_unicode=True, width=100)
    return sanitize(text)
