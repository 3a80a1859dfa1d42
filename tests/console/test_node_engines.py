"""Naming node engines for usage: flags and a file, checked before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.__main__ import main, node_engines
from engine.client import TargetError


def test_flags_and_a_file_name_the_node_engines(tmp_path: Path) -> None:
    listed = tmp_path / "engines.json"
    listed.write_text(json.dumps({"a": "unix:///run/a.sock", "b": "unix:///run/b.sock"}))
    engines = node_engines(["b=tcp://127.0.0.1:2375", "c=unix:///run/c.sock"], str(listed))
    assert {name: client.url for name, client in engines.items()} == {
        "a": "unix:///run/a.sock",
        "b": "tcp://127.0.0.1:2375",
        "c": "unix:///run/c.sock",
    }


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("nonsense", "expected NAME=URL"),
        ("=unix:///x", "expected NAME=URL"),
        ("a=ssh://user@host", "ssh:// is not read"),
        ("a=ftp://host", "ftp"),
    ],
)
def test_bad_node_engines_are_refused(flag: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        node_engines([flag], None)


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"a": 3}'])
def test_a_bad_engines_file_is_refused(tmp_path: Path, content: str) -> None:
    listed = tmp_path / "engines.json"
    listed.write_text(content)
    with pytest.raises(ValueError, match="engines"):
        node_engines([], str(listed))


def test_the_command_line_says_what_is_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--host", "unix:///nonexistent.sock", "--node-engine", "oops"])
    assert exited.value.code == 2
    assert "--node-engine 'oops': expected NAME=URL" in capsys.readouterr().err
