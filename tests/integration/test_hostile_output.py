"""Hostile container output through the console, in a real terminal (a pty).

Log lines, labels and error messages carry OSC titles, clipboard writes and hyperlinks, cursor
moves, screen clears, C1 controls and carriage returns. The bytes the console writes to the
terminal must carry none of them: only the console's own drawing and harmless colours.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.integration.conftest import ROOT, Engine
from tests.integration.test_docker_cli import converged

MARK = "EVIL"
HOSTILE = (
    f"\x1b]0;{MARK}-title\x07"
    f"\x1b]52;c;{MARK}clip\x07"
    f"\x1b]8;;http://{MARK}.example\x1b\\link\x1b]8;;\x1b\\"
    f"\x1b[2J\x1b[1;1H\x1b[K"
    f"\x9b31m\x9d0;{MARK}-c1\x9c"
    f"\x1bP{MARK}-dcs\x1b\\"
    f"secret\roverwritten"
    "\x1b[32mgreen is fine\x1b[0m"
)
ESCAPES = re.compile(
    rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)"
)


def run_console(engine: Engine, keys: list[tuple[float, bytes]], seconds: float) -> bytes:
    """The console in a 120x36 pty for ``seconds``, typing ``keys`` at their times."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
        "XDG_CONFIG_HOME": str(engine.data_dir / "config"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "console", "--host", engine.url],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    output = bytearray()
    start = time.monotonic()
    pending = list(keys)
    try:
        while time.monotonic() - start < seconds:
            while pending and time.monotonic() - start >= pending[0][0]:
                os.write(master, pending.pop(0)[1])
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    output += os.read(master, 65536)
                except OSError:
                    break
    finally:
        process.kill()
        process.wait()
        os.close(master)
    return bytes(output)


def test_hostile_output_never_reaches_the_terminal(engine: Engine, tmp_path: Path) -> None:
    engine.docker(
        "service",
        "create",
        "--detach",
        "--name",
        "aaa-hostile",
        "--container-label",
        f"swarmdeck.sim.say={HOSTILE}",
        "nginx:1.10",
    )
    engine.docker(
        "service",
        "create",
        "--detach",
        "--name",
        "aab-failing",
        "--restart-condition",
        "none",
        "--container-label",
        f"swarmdeck.sim.start-error={HOSTILE}",
        "busybox:1",
    )
    engine.docker("node", "update", "--label-add", f"note={HOSTILE}", "swarm-node-1")
    converged(engine, "aaa-hostile", 1)
    keys = [
        (2.0, b":"),
        (2.3, b"nodes\r"),  # a hostile node label
        (3.3, b"\x1b[B"),
        (3.6, b"L"),  # swarm-node-1's labels, to edit: the hostile one
        (4.3, b"\x1b"),
        (4.6, b"d"),  # swarm-node-1 described
        (5.3, b"\x1b"),
        (5.6, b"r"),  # drain swarm-node-1? The question names its tasks
        (6.2, b"n"),
        (6.5, b":"),
        (6.8, b"services\r"),
        (8.0, b"l"),  # logs of aaa-hostile: the hostile line
        (10.5, b"\x1b"),
        (11.0, b"\x1b[B"),
        (11.3, b"\r"),  # tasks of aab-failing: hostile error
    ]
    output = run_console(engine, keys, seconds=13.5)
    assert len(output) > 5000, "the console drew nothing"
    text = output.decode("utf-8", "replace")
    assert "aaa-hostile" in text and "green is fine" in text  # the views were shown
    assert "Labels of swarm-node-1" in text and "Drain swarm-node-1?" in text  # the dialogs too
    assert "␍overwritten" in text  # the carriage return, made visible
    for match in ESCAPES.finditer(output):
        sequence = match.group(0)
        assert MARK.encode() not in sequence, sequence
        assert not sequence.startswith(
            (b"\x1b]52", b"\x1b]8;", b"\x1bP", b"\x1b_", b"\x1b^", b"\x1bX")
        ), sequence
    assert not re.search(rb"\xc2[\x80-\x9f]", output)  # no C1 control, UTF-8 encoded
    assert b"\x1b]0;" + MARK.encode() not in output
