"""``python -m engine serve ...``: the engine as a daemon; ``python -m engine haproxy-config``:
the HAProxy backends ``serve --lb-haproxy`` keeps in step; ``python -m engine lab ...``: a real
Docker swarm on this host; ``python -m engine bundle`` and ``python -m engine stack deploy``:
Distributed Application Bundles. ``swarmdeck engine``, ``swarmdeck lab``, ``swarmdeck bundle``
and ``swarmdeck stack`` run these."""

from __future__ import annotations

import ctypes.util
import os
import sys

USAGE = (
    "usage: python -m engine {serve,haproxy-config,lab,bundle,stack} ...  "
    "(serve --help, lab --help, bundle --help)"
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["lab"]:
        from engine.lab import main as lab_main

        lab_main(argv[1:])
        return 0
    if argv[:1] in (["bundle"], ["stack"]):
        from engine.stacks.cli import main as stacks_main

        return stacks_main(argv)
    if argv[:1] == ["serve"] and not {"-h", "--help"} & set(argv):
        on_the_system_allocator(["-m", "engine", *argv])
    if argv[:1] in (["serve"], ["haproxy-config"], ["-h"], ["--help"]):
        from engine.cli import main as engine_main

        return engine_main(argv)
    print(USAGE, file=sys.stderr)
    return 2


def on_the_system_allocator(arguments: list[str]) -> None:
    """Starts this interpreter again with ``arguments`` (``-m engine serve ...``) on the C
    library's allocator, and on jemalloc where the system has it, unless this process is on it
    already (same PID: whoever started it still has it).

    With Python's own allocator, memory freed after a big removal stays held: its 1 MiB arenas
    are given back only when empty, and a few objects made meanwhile pin each (a service of
    100,000 replicas created and removed: 593 MB held after, against 64 MB before). The C
    library's gives freed pages back when ``engine.collector`` asks it to, but each time it
    walks its whole heap with every allocation waiting, 50-150 ms while a big removal frees
    memory. jemalloc (Debian's ``libjemalloc2``) gives pages back by itself, from a thread of
    its own, a little at a time.
    """
    if os.environ.get("PYTHONMALLOC") == "malloc" or not sys.platform.startswith("linux"):
        return
    environ = {**os.environ, "PYTHONMALLOC": "malloc"}
    jemalloc = ctypes.util.find_library("jemalloc")
    if jemalloc is not None:
        environ["LD_PRELOAD"] = " ".join(filter(None, [jemalloc, os.environ.get("LD_PRELOAD")]))
        environ.setdefault("MALLOC_CONF", "background_thread:true")
    os.execve(sys.executable, [sys.executable, *arguments], environ)


if __name__ == "__main__":
    sys.exit(main())
