"""A served engine gives memory back: it runs on the C library's allocator (jemalloc where the
system has it), under the PID it was started with, and asks it to return freed pages."""

from __future__ import annotations

import ctypes.util
import sys
from pathlib import Path

import pytest

from engine import collector
from tests.integration.conftest import start_engine

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")


def test_a_served_engine_runs_on_the_system_allocator_under_its_first_pid(tmp_path: Path) -> None:
    engine = start_engine(tmp_path)
    try:
        environ = Path(f"/proc/{engine.process.pid}/environ").read_bytes().split(b"\0")
        assert b"PYTHONMALLOC=malloc" in environ
        jemalloc = ctypes.util.find_library("jemalloc")  # CI installs it (libjemalloc2)
        if jemalloc is not None:
            assert f"LD_PRELOAD={jemalloc}".encode() in environ
            maps = Path(f"/proc/{engine.process.pid}/maps").read_text()
            assert jemalloc in maps  # loaded, not only named
        assert engine.docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip() == "active"
    finally:
        assert engine.stop() == 0


def test_freed_memory_is_given_back_to_the_system() -> None:
    assert collector.give_back_memory()
