"""What the lab needs of the host, and the host's processes and namespaces it works with."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Literal

__all__ = [
    "BUSYBOX",
    "DAEMONS",
    "TOOLS",
    "LabError",
    "check_host",
    "daemon_tree",
    "is_static",
    "netns_list",
    "run",
    "running",
    "wait_gone",
]

BUSYBOX = Path("/bin/busybox")
TOOLS = ("dockerd", "ip", "nsenter", "unshare")
DAEMONS = ("dockerd", "containerd")  # a node's own processes (containerd-shim* included)


class LabError(Exception):
    """The lab cannot do what was asked; the message says why and what to do."""


def check_host() -> None:
    """Raises LabError saying what this host lacks for a lab, if anything."""
    if sys.platform != "linux":
        raise LabError("the lab needs Linux (network namespaces)")
    if os.geteuid() != 0:
        raise LabError("the lab needs root: it makes network namespaces and runs dockerd")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise LabError(
            f"not found: {', '.join(missing)} (apt-get install docker.io iproute2 util-linux)"
        )
    if not is_static(BUSYBOX):
        raise LabError(
            f"{BUSYBOX} is missing or not statically linked: the lab's images are made of it "
            "(apt-get install busybox-static)"
        )


def is_static(path: Path) -> bool:
    """Whether ``path`` is an ELF executable that needs no dynamic loader (no PT_INTERP)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit ELF only
        return False
    order: Literal["little", "big"] = "little" if data[5] == 1 else "big"
    table = int.from_bytes(data[32:40], order)
    size, count = int.from_bytes(data[54:56], order), int.from_bytes(data[56:58], order)
    interpreter = 3
    return all(
        int.from_bytes(data[table + i * size : table + i * size + 4], order) != interpreter
        for i in range(count)
    )


def run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LabError(f"{' '.join(command)}: {result.stderr.strip() or result.returncode}")


def netns_list() -> set[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return {line.split()[0] for line in listing.stdout.splitlines() if line.strip()}


def daemon_tree(marker: bytes, programs: tuple[str, ...] = DAEMONS) -> list[int]:
    """The processes of ``programs`` (by name: dockerd and containerd, shims included, by
    default) whose command line holds ``marker``, and every process under them, from one read
    of /proc."""
    roots, children = [], defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            pid, cmdline = int(entry.name), (entry / "cmdline").read_bytes()
            # The parent is the field after the parenthesised command name.
            children[int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])].append(pid)
            program = Path(cmdline.split(b"\0", 1)[0].decode(errors="replace")).name
            if marker in cmdline and program.startswith(programs):
                roots.append(pid)
    found, todo = set(roots), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return sorted(found)


def wait_gone(pids: list[int], timeout: float) -> None:
    """Until every process of ``pids`` has ended, or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while any(map(running, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)


def running(pid: int) -> bool:
    """Whether ``pid`` is still there. One that ended is reaped here when it is this process's
    child (a node's dockerd is, to the process that started it: it would stay a zombie until
    then); another's is there until its parent reaps it (a dockerd refuses to start while the
    PID in its pid file is)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state != "Z":
        return True
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # another's
    return reaped != pid
