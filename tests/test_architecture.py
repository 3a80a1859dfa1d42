"""The layering holds: import-linter's contracts, and every package says what it owns."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_package_has_a_docstring() -> None:
    missing = []
    for init in sorted((ROOT / "engine").rglob("__init__.py")) + sorted(
        (ROOT / "console").rglob("__init__.py")
    ):
        text = init.read_text().lstrip()
        if not text.startswith('"""'):
            missing.append(str(init.relative_to(ROOT)))
    assert missing == []


def test_the_engine_never_imports_the_console_or_ui_toolkits() -> None:
    offenders = []
    for source in (ROOT / "engine").rglob("*.py"):
        for line in source.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                top = words[1].split(".")[0]
                if top in {"console", "textual", "rich"}:
                    offenders.append(f"{source.relative_to(ROOT)}: {line.strip()}")
    assert offenders == []


CONSOLE_MAY_IMPORT = (
    "engine.client",
    "engine.api",
    "engine.errors",
    "engine.serve",
    "engine.embedded",
    "engine.stacks",  # compose files, plans and deploys: client-side, as the CLI runs them
)


def _imports(source: Path) -> list[str]:
    """The modules ``source`` imports, at any depth of its code."""
    tree = ast.parse(source.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
    return found


def test_the_console_imports_only_what_its_allow_list_names() -> None:
    offenders = [
        f"{source.relative_to(ROOT)}: {module}"
        for source in sorted((ROOT / "console").rglob("*.py"))
        for module in _imports(source)
        if module.split(".")[0] == "engine"
        and not any(
            module == allowed or module.startswith(allowed + ".") for allowed in CONSOLE_MAY_IMPORT
        )
    ]
    assert offenders == []


@pytest.mark.parametrize("package", ["console", "engine/httpapi"])
def test_no_import_cycle_inside(package: str) -> None:
    """Module A importing B while B imports A (at any depth) makes a cycle."""
    folder = ROOT / package
    prefix = package.replace("/", ".")
    graph: dict[str, set[str]] = {}
    for source in folder.rglob("*.py"):
        name = ".".join(source.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        graph[name] = {
            module
            for module in _imports(source)
            if (module.startswith(prefix + ".") or module == prefix) and module != name
        }
    cycles = []
    for start in graph:
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join((*path, nxt)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, (*path, nxt)))
    assert cycles == []


def test_only_the_feed_and_the_actions_await_the_client() -> None:
    awaiting = re.compile(r"await .*client\.|async for .* in .*client\.")
    found = sorted(
        str(source.relative_to(ROOT))
        for source in (ROOT / "console").rglob("*.py")
        if awaiting.search(source.read_text())
    )
    assert found == ["console/actions.py", "console/feed.py"]
