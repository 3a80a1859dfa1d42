"""SQLite persistence for the store: one row per object, one SQLite transaction per commit.

WAL with ``synchronous=FULL``: a commit returns only after its WAL frames are on disk, so an
acknowledged write survives a crash of the process and of the machine.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

import msgspec

from engine.api.objects import Object
from engine.store.memory import KINDS

__all__ = ["DataDirInUse", "SqlitePersistence"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
_TYPES = {name: kind for kind, name in KINDS.items()}
DIRECTORY_MODE = 0o700  # the owner's alone: the state holds join tokens and every spec
FILE_MODE = 0o600


class DataDirInUse(OSError):
    """Another engine holds the data directory."""


class SqlitePersistence:
    """Keeps the store in ``<data_dir>/state.db``, the directory locked (``engine.lock`` holds
    the PID of the engine that uses it) and readable by its owner alone: it holds the join
    tokens and every spec."""

    def __init__(self, data_dir: Path | str) -> None:
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
        os.chmod(directory, DIRECTORY_MODE)
        self._lock = _lock(directory / "engine.lock")
        self.path = directory / "state.db"
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, FILE_MODE))
        os.chmod(self.path, FILE_MODE)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._encoder = msgspec.json.Encoder()
        self._decoders = {name: msgspec.json.Decoder(kind) for name, kind in _TYPES.items()}

    def load(self) -> tuple[int, list[Object]]:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        version = row[0] if row else 0
        objects: list[Object] = [
            self._decoders[kind].decode(data)
            for kind, data in self._db.execute("SELECT kind, data FROM objects")
        ]
        return version, objects

    def commit(self, version: int, written: list[Object], deleted: list[Object]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if written:
                db.executemany(
                    "INSERT OR REPLACE INTO objects (kind, id, data) VALUES (?, ?, ?)",
                    [(KINDS[type(obj)], obj.id, self._encoder.encode(obj)) for obj in written],
                )
            if deleted:
                db.executemany(
                    "DELETE FROM objects WHERE kind = ? AND id = ?",
                    [(KINDS[type(obj)], obj.id) for obj in deleted],
                )
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)", (version,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
        os.close(self._lock)  # and with it the lock


def _lock(path: Path) -> int:
    """Holds ``path`` locked while this process keeps the descriptor it returns, with this
    process's PID in it. Raises DataDirInUse, naming the holder, when another one has it."""
    lock = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(lock, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(lock)
        raise DataDirInUse(
            f"{path.parent} is in use by another engine (PID {holder}); stop it first"
        ) from None
    os.ftruncate(lock, 0)
    os.pwrite(lock, f"{os.getpid()}\n".encode(), 0)
    return lock
