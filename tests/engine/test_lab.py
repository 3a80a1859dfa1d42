"""The lab refuses clearly, and changes nothing, where it cannot work; it reaps what it kills."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from engine.lab import Lab, LabError, main
from engine.lab import lab as lab_module
from engine.lab.host import running, wait_gone


def test_the_lab_needs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_module.os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="needs root"):
        Lab(tmp_path / "lab").up()
    assert not (tmp_path / "lab").exists()


def test_the_lab_needs_dockerd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_module.os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        lab_module.shutil, "which", lambda tool: None if tool == "dockerd" else tool
    )
    with pytest.raises(LabError, match=r"not found: dockerd \(apt-get install docker.io"):
        Lab(tmp_path / "lab").up()
    assert not (tmp_path / "lab").exists()


def test_a_second_lab_in_the_same_place_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lab_module, "check_host", lambda: None)
    (tmp_path / "lab").mkdir()
    state = tmp_path / "lab" / "lab.json"
    state.write_text('{"nodes": []}')
    with pytest.raises(LabError, match=r"already exists in .*swarmdeck lab down removes it"):
        Lab(tmp_path / "lab").up()
    assert state.read_text() == '{"nodes": []}'


@pytest.mark.parametrize("count", [0, 51])
def test_the_node_count_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    monkeypatch.setattr(lab_module, "check_host", lambda: None)
    with pytest.raises(LabError, match="between 1 and 50"):
        Lab(tmp_path / "lab").up(count)
    assert not (tmp_path / "lab").exists()


def test_without_a_lab_status_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="swarmdeck lab up makes one"):
        Lab(tmp_path / "none").status()


def test_the_cli_prints_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--dir", str(tmp_path / "none"), "status"])
    assert str(exited.value).startswith("swarmdeck lab: no lab in ")


@pytest.mark.parametrize(
    ("command", "refusal"),
    [("up", "is not empty"), ("down", "no lab in")],
    ids=["up-only-in-a-new-or-empty-folder", "down-without-a-lab"],
)
def test_a_folder_that_is_not_a_lab_is_left_alone(
    command: str, refusal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lab_module, "check_host", lambda: None)
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(LabError, match=refusal):
        getattr(Lab(tmp_path), command)()
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_a_killed_child_is_reaped_and_counts_as_gone() -> None:
    """A node's dockerd is the lab's child: killed, it stays a zombie in /proc until reaped,
    and waiting for it to leave /proc waited out the whole timeout."""
    child = subprocess.Popen(["sleep", "60"])
    assert running(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    wait_gone([child.pid], timeout=30)
    assert not Path(f"/proc/{child.pid}").exists()  # reaped, not a zombie
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)
    child.returncode = -signal.SIGKILL  # reaped here: Popen need not wait for it
