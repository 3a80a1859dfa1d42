"""Editing a service's or a node's spec in the user's editor (``e``, as ``kubectl edit``).

The spec is written as YAML to a file the editor opens (``$VISUAL``, ``$EDITOR``, else ``vi``),
with the console suspended while the editor runs; what is saved is read back into a spec, and
the difference between the two specs is shown before anything is applied. The change is then
written on the version that was edited (``console.actions.edit``): an object that changed in the
meantime refuses it, and nothing is lost but the edit.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml
from textual.app import App

from console.forms import FormError, plain_error
from engine.api.codec import from_builtins, to_builtins
from engine.api.objects import Node, Service
from engine.api.specs import NodeSpec, ServiceSpec
from engine.errors import EngineError

__all__ = ["Spec", "edit_text", "editor_command", "read_spec", "spec_diff", "spec_yaml"]

Spec = ServiceSpec | NodeSpec


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)


def spec_yaml(obj: Service | Node, name: str) -> str:
    """What the editor opens: a comment saying what is edited and how, then the spec."""
    kind = "service" if isinstance(obj, Service) else "node"
    header = (
        f"# The spec of the {kind} {name} (ID {obj.id[:12]}, version {obj.version.index}).\n"
        "# Save and quit to see the difference before it is applied; it applies only if\n"
        f"# the {kind} is still at this version. Save an empty file to cancel.\n"
    )
    return header + _dump(to_builtins(obj.spec))


def read_spec(text: str, kind: type[Spec]) -> Spec | None:
    """The spec the edited ``text`` holds; None when it is empty (cancelled).

    Raises:
        FormError: the text is not YAML, not a spec, or names a field a spec does not have.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise FormError({"spec": f"{where}not YAML: {problem}"}) from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise FormError({"spec": "the file must hold the spec's fields, as key: value lines"})
    try:
        spec = from_builtins(data, kind)
    except EngineError as error:
        raise FormError({"spec": plain_error(str(error))}) from None
    unknown = _unknown(data, to_builtins(spec))
    if unknown:
        raise FormError({"spec": f"not a field of a {_KINDS[kind]} spec: {', '.join(unknown)}"})
    return spec


_KINDS: dict[type[Spec], str] = {ServiceSpec: "service", NodeSpec: "node"}


def _unknown(given: Any, kept: Any, path: str = "") -> list[str]:
    """The fields of ``given`` (with a value) that ``kept`` (the spec read from it) lost: names
    the spec does not have, as a typo makes them."""
    if isinstance(given, dict) and isinstance(kept, dict):
        known = {str(key).lower(): value for key, value in kept.items()}
        lost = []
        for key, value in given.items():
            where = f"{path}.{key}" if path else str(key)
            if str(key).lower() not in known:
                if value is not None and value != {} and value != []:
                    lost.append(where)
            else:
                lost += _unknown(value, known[str(key).lower()], where)
        return lost
    if isinstance(given, list) and isinstance(kept, list):
        return [
            found
            for index, (item, kept_item) in enumerate(zip(given, kept, strict=False))
            for found in _unknown(item, kept_item, f"{path}[{index}]")
        ]
    return []


def spec_diff(before: Spec, after: Spec) -> str:
    """The difference between two specs, as ``diff -u`` shows YAML (``-`` before, ``+``
    after); "" when they are the same."""
    old = _dump(to_builtins(before)).splitlines()
    new = _dump(to_builtins(after)).splitlines()
    lines = difflib.unified_diff(old, new, "running", "edited", lineterm="", n=2)
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))


def editor_command() -> list[str]:
    """The user's editor: ``$VISUAL``, ``$EDITOR`` (with its arguments), else ``vi``."""
    for variable in ("VISUAL", "EDITOR"):
        command = os.environ.get(variable, "").strip()
        if command:
            return shlex.split(command)
    return ["vi"]


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


async def edit_text(app: App[object], text: str, name: str) -> str:
    """Opens ``text`` in the user's editor, with the console suspended while it runs; what
    was saved.

    Raises:
        OSError: the editor cannot be run, or failed (its exit status).
    """
    with tempfile.TemporaryDirectory(prefix="swarmdeck-edit-") as folder:
        path = Path(folder) / f"{_UNSAFE.sub('_', name) or 'spec'}.yaml"
        path.write_text(text, encoding="utf-8")
        command = [*editor_command(), str(path)]
        driver = app._driver  # Textual's own test for ``suspend``
        if driver is not None and driver.can_suspend:
            with app.suspend():
                status = subprocess.run(command, check=False).returncode
        else:  # no terminal to hand over (headless): the editor runs on its own
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            status = await process.wait()
        if status != 0:
            raise OSError(f"{command[0]} exited with status {status}: nothing changed")
        return path.read_text(encoding="utf-8")
