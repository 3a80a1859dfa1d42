"""The layering holds: import-linter's contracts, and every package says what it owns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
