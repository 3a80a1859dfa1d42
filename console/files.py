"""Where the console keeps what it remembers (config) and what it saves (tables, logs).

The config (the palette's theme) is ``$XDG_CONFIG_HOME/swarmdeck/config.json``; saved files go
to ``$XDG_DATA_HOME/swarmdeck`` (``~/.local/share/swarmdeck``), never the current folder, which
may be a checkout.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

__all__ = ["config_path", "data_dir", "save_text"]


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "swarmdeck" / "config.json"


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "swarmdeck"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def save_text(what: str, suffix: str, text: str, folder: Path | None = None) -> Path:
    """Writes ``text`` to a new file named after ``what`` and the time, in ``folder`` (the
    data folder by default, made if need be); its path. Raises OSError."""
    folder = folder or data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = _UNSAFE.sub("_", what).strip("_") or "view"
    stem = f"swarmdeck-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for count in range(1, 1000):
        path = folder / (f"{stem}{suffix}" if count == 1 else f"{stem}-{count}{suffix}")
        try:
            with path.open("x", encoding="utf-8") as out:
                out.write(text)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{folder}: too many files named {stem}")
