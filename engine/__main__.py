"""``python -m engine serve ...``: the engine as a daemon; ``python -m engine lab ...``: a real
Docker swarm on this host. ``swarmdeck engine`` and ``swarmdeck lab`` run these."""

from __future__ import annotations

import sys

USAGE = "usage: python -m engine {serve,lab} ...  (serve --help, lab --help)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["lab"]:
        from engine.lab import main as lab_main

        lab_main(argv[1:])
        return 0
    if argv[:1] == ["serve"] or argv[:1] in (["-h"], ["--help"]):
        from engine.cli import main as engine_main

        return engine_main(argv)
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
