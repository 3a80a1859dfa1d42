"""``python -m engine serve ...``: the engine as a daemon; ``python -m engine lab ...``: a real
Docker swarm on this host. ``swarmdeck engine`` and ``swarmdeck lab`` run these."""

from __future__ import annotations

import os
import sys

USAGE = "usage: python -m engine {serve,lab} ...  (serve --help, lab --help)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["lab"]:
        from engine.lab import main as lab_main

        lab_main(argv[1:])
        return 0
    if argv[:1] == ["serve"] and not {"-h", "--help"} & set(argv):
        _on_the_system_allocator(argv)
    if argv[:1] == ["serve"] or argv[:1] in (["-h"], ["--help"]):
        from engine.cli import main as engine_main

        return engine_main(argv)
    print(USAGE, file=sys.stderr)
    return 2


def _on_the_system_allocator(argv: list[str]) -> None:
    """Starts ``python -m engine`` again with ``argv`` on the C library's allocator, unless this
    process is on it already (same PID: whoever started it still has it).

    With Python's own allocator, memory freed after a big removal stays held: its 1 MiB arenas
    are given back only when empty, and a few objects made meanwhile pin each (a service of
    10,000 replicas created and removed: 25 MB live in 87 MB of arenas). The C library's gives
    freed pages back when ``engine.collector`` asks it to.
    """
    if os.environ.get("PYTHONMALLOC") == "malloc" or not sys.platform.startswith("linux"):
        return
    command = [sys.executable, "-m", "engine", *argv]
    os.execve(sys.executable, command, {**os.environ, "PYTHONMALLOC": "malloc"})


if __name__ == "__main__":
    sys.exit(main())
