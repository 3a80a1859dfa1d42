"""SQLite persistence for the store: one row per object, written behind the event loop.

A commit is queued; a writer thread takes whatever is queued, writes it in one SQLite
transaction and waits for it to reach the disk (WAL with ``synchronous=FULL``), then takes the
next. The event loop never waits for the disk, and a burst of commits costs one sync, not one
each. What must survive a crash waits for it: ``saved`` (the API before it acknowledges a write,
a node before it hears of a task) returns once the commit it names is on disk. A crash loses
only commits nothing waited for, the newest ones, in order: the state read back is the state as
it was a moment before the crash.

A write that fails (a full or broken disk) stops the writer: what waits for it, and every later
commit, raises ``StateNotSaved``. The store then takes no more writes.

The writer lets go of what it wrote ``STEP`` objects at a time. It often holds the last reference to
versions the store has replaced since (a batch taken while 100,000 tasks come up holds 100,000
of them): freed in one go, they held the GIL, and with it the event loop, for 50-250 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from pathlib import Path

import msgspec

from engine.api.objects import Object
from engine.store.memory import KINDS

__all__ = ["DataDirInUse", "SqlitePersistence", "StateNotSaved"]

log = logging.getLogger(__name__)

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
STEP = 256  # rows written, and objects let go of, at a time: each step frees a few hundred


class DataDirInUse(OSError):
    """Another engine holds the data directory."""


class StateNotSaved(OSError):
    """The state could not be written to disk."""


Commit = tuple[int, list[Object], list[Object]]  # version, written, deleted
Waiter = tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class SqlitePersistence:
    """Keeps the store in ``<data_dir>/state.db``, the directory locked (``engine.lock`` holds
    the PID of the engine that uses it) and readable by its owner alone: it holds the join
    tokens and every spec.

    Args:
        data_dir: the data directory.
        behind: write behind the event loop, in a thread of its own; ``False`` writes each
            commit before ``commit`` returns, in step with the caller (a simulated clock, which
            moves when the event loop has nothing left to do, cannot see a thread at work).
    """

    def __init__(self, data_dir: Path | str, behind: bool = True) -> None:
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
        # Shared with the writer thread, under _changed.
        self._changed = threading.Condition()
        self._queued: list[Commit] = []
        self._last = self._saved = self._stored_version()  # the last commit queued; on disk
        self._waiters: list[Waiter] = []
        self._failure: BaseException | None = None
        self._closing = False
        self._writer: threading.Thread | None = None
        if behind:
            self._writer = threading.Thread(
                target=self._write_forever, name="state-writer", daemon=True
            )
            self._writer.start()

    def _stored_version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    def load(self) -> tuple[int, list[Object]]:
        objects: list[Object] = [
            self._decoders[kind].decode(data)
            for kind, data in self._db.execute("SELECT kind, data FROM objects")
        ]
        return self._saved, objects

    def commit(self, version: int, written: list[Object], deleted: list[Object]) -> None:
        """Queues a commit for the writer, or writes it at once when there is none.

        Raises:
            StateNotSaved: this write, or an earlier one, failed; nothing is written.
        """
        with self._changed:
            self._raise_if_failed()
            self._last = version
            if self._writer is not None:
                self._queued.append((version, written, deleted))
                self._changed.notify_all()
                return
        self._write_batch([(version, written, deleted)])
        self._raise_if_failed()

    async def saved(self, version: int) -> None:
        """Returns once the commit ``version`` (and every one before it) is on disk.

        Raises:
            StateNotSaved: writing it failed.
        """
        with self._changed:
            self._raise_if_failed()
            if self._saved >= version:
                return
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((version, loop, future))
        await future

    def flush(self) -> None:
        """Blocks until every commit queued so far is on disk.

        Raises:
            StateNotSaved: writing one failed.
        """
        with self._changed:
            self._changed.wait_for(lambda: self._saved >= self._last or self._failure is not None)
            self._raise_if_failed()

    def close(self) -> None:
        """Writes what is queued, then closes the database and lets the data directory go."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._writer is not None:
            self._writer.join()
        self._db.close()
        os.close(self._lock)  # and with it the lock

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise _not_saved(self._failure)

    # The writer thread.

    def _write_forever(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queued or self._closing)
                if not self._queued:
                    return  # closing, and everything is written
                batch, self._queued = self._queued, []
            if not self._write_batch(batch):
                return

    def _write_batch(self, batch: list[Commit]) -> bool:
        """Writes ``batch`` and settles its waiters; whether it could."""
        try:
            self._write(batch)
        except Exception as error:
            log.critical("the state could not be saved; no more writes are taken: %s", error)
            self._settle(self._saved, error)
            return False
        self._settle(batch[-1][0], None)
        for _version, written, deleted in batch:
            _let_go(written)
            _let_go(deleted)
        return True

    def _write(self, batch: list[Commit]) -> None:
        """Writes the commits of ``batch`` in one transaction: each object as the last of them
        left it, STEP rows at a time."""
        rows: dict[tuple[str, str], Object | None] = {}
        for _version, written, deleted in batch:
            for obj in deleted:
                rows[KINDS[type(obj)], obj.id] = None
            for obj in written:
                rows[KINDS[type(obj)], obj.id] = obj
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            while rows:
                step = [rows.popitem() for _ in range(min(STEP, len(rows)))]
                db.executemany(
                    "INSERT OR REPLACE INTO objects (kind, id, data) VALUES (?, ?, ?)",
                    [(kind, i, self._encoder.encode(obj)) for (kind, i), obj in step if obj],
                )
                db.executemany(
                    "DELETE FROM objects WHERE kind = ? AND id = ?",
                    [key for key, obj in step if obj is None],
                )
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)", (batch[-1][0],)
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _settle(self, saved: int, failure: BaseException | None) -> None:
        """Records what is on disk (or the failure) and wakes whoever waits for it."""
        with self._changed:
            self._saved = saved
            self._failure = failure
            if failure is None:
                ready = [w for w in self._waiters if w[0] <= saved]
                self._waiters = [w for w in self._waiters if w[0] > saved]
            else:
                ready, self._waiters = self._waiters, []
            self._changed.notify_all()
        error = None if failure is None else _not_saved(failure)
        for _version, loop, future in ready:
            with contextlib.suppress(RuntimeError):  # its loop has closed: nobody waits
                loop.call_soon_threadsafe(_settle_future, future, error)


def _let_go(objects: list[Object]) -> None:
    """Empties ``objects`` STEP at a time: between steps, the GIL can go to the event loop."""
    while objects:
        del objects[-STEP:]


def _not_saved(failure: BaseException) -> StateNotSaved:
    return StateNotSaved(f"the state could not be saved: {failure}")


def _settle_future(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return  # its waiter was cancelled
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


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
