"""Theme files for the console (TOML, one per theme) and their loader.

A theme names Textual's base colours and, under ``[variables]``, the state colours the views
use (``state-ok``, ``state-warn``, ``state-bad``, ``state-off``, ``state-busy``). Every theme must
give every state colour; the loader says which one is missing.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.theme import Theme

__all__ = ["DEFAULT_THEME", "STATE_VARIABLES", "ThemeError", "load_themes", "theme_colour"]

DEFAULT_THEME = "swarmdeck-dark"
STATE_VARIABLES = ("state-ok", "state-warn", "state-bad", "state-off", "state-busy")
_BASE = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
)


class ThemeError(ValueError):
    """A theme file is malformed or incomplete."""


def load_themes(directory: Path | None = None) -> list[Theme]:
    """Every ``*.toml`` theme in ``directory`` (default: the themes shipped here)."""
    folder = directory or Path(__file__).parent
    return [_load(path) for path in sorted(folder.glob("*.toml"))]


def _load(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ThemeError(f"{path.name}: {error}") from None
    missing = [key for key in ("name", "primary") if key not in data]
    variables = data.get("variables", {})
    missing += [f"variables.{name}" for name in STATE_VARIABLES if name not in variables]
    if missing:
        raise ThemeError(f"{path.name}: missing {', '.join(missing)}")
    colours = {key: data[key] for key in _BASE if key in data}
    return Theme(
        name=data["name"], dark=bool(data.get("dark", True)), variables=variables, **colours
    )


def theme_colour(theme: Theme, name: str) -> str:
    """A colour of ``theme`` by name: a state variable (``state-ok``) or a base colour."""
    value = theme.variables.get(name) or getattr(theme, name.replace("-", "_"), None)
    return str(value) if value else ""
