"""SQLite persistence for the store: one row per object, one SQLite transaction per commit.

WAL with ``synchronous=FULL``: a commit returns only after its WAL frames are on disk, so an
acknowledged write survives a crash of the process and of the machine.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec

from engine.api.objects import Object
from engine.store.memory import KINDS

__all__ = ["SqlitePersistence"]

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


class SqlitePersistence:
    """Keeps the store in ``<data_dir>/state.db``."""

    def __init__(self, data_dir: Path | str) -> None:
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "state.db"
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
