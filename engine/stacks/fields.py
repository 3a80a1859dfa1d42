"""Reading the values of a compose file, each checked where it stands: a mapping's keys, text,
booleans, whole numbers, Go durations, choices, CPUs, sizes and lists; an error names the file
and the field's path (``services.web.deploy.replicas``).

The helpers of ``engine.stacks.compose`` (commands, environment, labels, env files) are called
with the file's name, so that theirs do too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from engine.api.durations import parse_duration
from engine.stacks.bundle import BundleError
from engine.stacks.compose import _PORT as PORT
from engine.stacks.compose import _env_files, _mapping, _scalar, _words

__all__ = ["MEMORY_UNITS", "PORT", "FieldReader", "kind_of"]

MEMORY_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}  # compose's


class FieldReader:
    """Reads the values of the compose file ``path``; ``warnings`` gathers what it leaves out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.warnings: list[str] = []

    def fail(self, at: str, message: str) -> NoReturn:
        raise BundleError(f"{self.path}: {at}: {message}")

    def keys(
        self, at: str, value: Any, known: set[str], unused: set[str] | None = None
    ) -> dict[str, Any]:
        """``value``, a mapping whose keys are all ``known`` (or ``unused``: left out, with a
        warning, or extensions: ``x-``)."""
        if not isinstance(value, dict):
            self.fail(at, f"expected a mapping, not {kind_of(value)}")
        for key in value:
            name = str(key)
            if name.startswith("x-"):
                continue
            if name in (unused or ()):
                self.warnings.append(f"{self.path}: {at}.{name}: not used by a swarm; ignored")
            elif name not in known:
                self.fail(f"{at}.{name}", "unknown key")
        return value

    def mapping(self, at: str, key: str, value: Any, from_shell: bool = False) -> dict[str, str]:
        return _mapping(f"{self.path}: {at}", key, value, from_shell)

    def words(self, at: str, key: str, value: Any) -> list[str] | None:
        return _words(f"{self.path}: {at}", key, value)

    def scalar(self, at: str, key: str, value: Any) -> str:
        return _scalar(f"{self.path}: {at}", key, value)

    def env_files(self, at: str, value: Any) -> dict[str, str]:
        return _env_files(f"{self.path}: {at}", self.path.parent, value)

    def text(self, at: str, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fail(at, f"expected a string, not {kind_of(value)}")
        return str(value)

    def boolean(self, at: str, value: Any) -> bool | None:
        if value is not None and not isinstance(value, bool):
            self.fail(at, f"expected a boolean, not {kind_of(value)}")
        return value

    def integer(self, at: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, str) and value.isdigit():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(at, f"expected a whole number, not {value!r}")
        return value

    def duration(self, at: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.fail(at, f"expected a duration such as 10s or 1m30s, not {kind_of(value)}")
        try:
            return parse_duration(str(value)) if isinstance(value, str) else value * 10**9
        except ValueError:
            self.fail(at, f"{value!r} is not a duration (such as 10s or 1m30s)")

    def choice(self, at: str, given: dict[str, Any], kind: Any) -> Any:
        value = given.get(at.rsplit(".", 1)[1])
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in kind)
            self.fail(at, f"{value!r} is not one of {allowed}")

    def cpus(self, at: str, value: Any) -> int | None:
        if value is None:
            return None
        try:
            return round(float(value) * 1e9)
        except (TypeError, ValueError):
            self.fail(at, f"{value!r} is not a number of CPUs")

    def memory(self, at: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip().lower().removesuffix("b") or "x"
        unit = text[-1] if text[-1] in MEMORY_UNITS else "b"
        number = text[:-1] if unit != "b" or text[-1] == "b" else text
        try:
            return round(float(number) * MEMORY_UNITS[unit])
        except ValueError:
            self.fail(at, f"{value!r} is not a size (such as 512M or 1G)")

    def list_of(self, at: str, value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(at, f"expected a list, not {kind_of(value)}")
        return value


def kind_of(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)
