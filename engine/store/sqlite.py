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

Under autolock every row is sealed (AES-GCM, with a key derived from the swarm's data key, bound
to the row's kind and ID): a locked manager's state cannot be read from its disk, and nothing of it
(join tokens, specs, secrets) is written in the clear. ``reseal`` seals the rows, or opens
them, when autolock is turned on or off, then purges what they were from the file and its log.

Secrets are never written in the clear, autolock or not: without it their rows are sealed with
a key of their own, kept beside the state in ``secrets.key`` (readable by its owner alone, as a
node's private keys are without autolock; SwarmKit keeps its raft data key in the clear in the
node's key file likewise). A copy of ``state.db`` alone holds no secret. Under autolock their
rows are sealed with the swarm's key like every other, and that file is deleted.

The writer lets go of what it wrote, and of the GIL, every ``STEP`` objects it handles. It often
holds the last reference to versions the store has replaced since (a batch taken while 100,000
tasks come up holds 100,000 of them): freed in one go, they held the GIL, and with it the event
loop, for 50-250 ms. And the event loop lets go of the GIL at each of its system calls
(``select``, every socket read and write); a thread that takes it then keeps it until Python's
switch interval (5 ms) has passed, unless it lets go of it itself. A writer that never did made
each of those calls cost the loop up to 5 ms while it worked through a big batch: turns of a few
callbacks took 17-67 ms, of which 1-17 ms at work. Letting go bounds that cost without removing
it: the thread that lets go of the GIL often takes it back before the one waiting for it wakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.api.objects import Object
from engine.store.memory import KINDS

__all__ = ["DataDirInUse", "SqlitePersistence", "StateNotSaved", "StateSealed"]

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
SEALED = b"\x00sealed1"  # how a sealed row begins (a row in the clear is JSON)
AT_REST = b"\x00atrest1"  # how a row sealed with the secrets' own key begins
SECRET_KINDS = frozenset({"secret"})  # rows never written in the clear
SECRETS_KEY = "secrets.key"
_NONCE = 12


class DataDirInUse(OSError):
    """Another engine holds the data directory."""


class StateNotSaved(OSError):
    """The state could not be written to disk."""


class StateSealed(ValueError):
    """The state is sealed, and the key to open it is not this one, or not given."""


Commit = tuple[int, list[Object], list[Object]]  # version, written, deleted
Waiter = tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


@dataclass
class Job:
    """Work on the whole file that the writer does between two commits, and its waiter."""

    run: Callable[[], None]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


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
        self._db.execute("PRAGMA secure_delete=ON")  # what a row held does not outlive it
        self._db.executescript(_SCHEMA)
        self._encoder = msgspec.json.Encoder()
        self._decoders = {name: msgspec.json.Decoder(kind) for name, kind in _TYPES.items()}
        self._sealed = bool(self._meta("sealed"))
        self._aead: AESGCM | None = None  # what seals and opens rows, once the key is given
        self._rest = _AtRest(directory / SECRETS_KEY)
        if self._sealed:
            self._rest.drop()  # left by a crash just after autolock was turned on
        # Shared with the writer thread, under _changed.
        self._changed = threading.Condition()
        self._queued: list[Commit | Job] = []
        self._last = self._saved = self._meta("version")  # the last commit queued; on disk
        self._waiters: list[Waiter] = []
        self._failure: BaseException | None = None
        self._closing = False
        self._writer: threading.Thread | None = None
        if behind:
            self._writer = threading.Thread(
                target=self._write_forever, name="state-writer", daemon=True
            )
            self._writer.start()

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    @property
    def sealed(self) -> bool:
        """Whether the rows on disk are sealed (autolock)."""
        return self._sealed

    @property
    def readable(self) -> bool:
        """Whether ``load`` can read the state: a sealed one, once its key is given."""
        return not self._sealed or self._aead is not None

    def open(self, key: bytes) -> None:
        """Gives the data key of a sealed state, before ``load``.

        Raises:
            StateSealed: the rows are sealed with another key.
        """
        aead = _aead(key)
        row = self._db.execute(
            "SELECT kind, id, data FROM objects WHERE substr(data, 1, ?) = ? LIMIT 1",
            (len(SEALED), SEALED),
        ).fetchone()
        if row is not None:
            _open(aead, None, *row)
        self._aead = aead

    def load(self) -> tuple[int, list[Object]]:
        """The version and objects on disk.

        Raises:
            StateSealed: the state is sealed and its key was not given.
        """
        if not self.readable:
            raise StateSealed("the state is sealed: unlock the swarm to read it")
        rest = self._rest.aead()  # looked for once, not on disk for every row
        objects: list[Object] = [
            self._decoders[kind].decode(_open(self._aead, rest, kind, i, data))
            for kind, i, data in self._db.execute("SELECT kind, id, data FROM objects")
        ]
        return self._saved, objects

    async def reseal(self, key: bytes | None) -> None:
        """Seals every row with ``key`` (the swarm's data key), or, without one, writes them all
        in the clear; then purges what they were from the file and its log.

        Raises:
            StateNotSaved: it could not be done; the writer stops, as for a commit.
        """
        await self._in_writer(functools.partial(self._reseal, _aead(key) if key else None))

    async def forget(self) -> None:
        """Deletes every row, sealed or not, and purges them: a node that leaves its swarm."""
        await self._in_writer(self._forget)

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

    async def _in_writer(self, run: Callable[[], None]) -> None:
        """Runs ``run`` in the writer, after every commit queued before it."""
        loop = asyncio.get_running_loop()
        job = Job(run, loop, loop.create_future())
        with self._changed:
            self._raise_if_failed()
            if self._writer is not None:
                self._queued.append(job)
                self._changed.notify_all()
        if self._writer is None:
            self._do(job)
        await job.future

    def _write_forever(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queued or self._closing)
                if not self._queued:
                    return  # closing, and everything is written
                batch, self._queued = self._queued, []
            if not self._write_all(batch):
                return
            # Not kept while waiting for the next: the shells of thousands of commits, spread
            # over the heap, would keep its pages from being given back.
            del batch

    def _write_all(self, batch: list[Commit | Job]) -> bool:
        """Writes the commits of ``batch`` and does its jobs, in order; whether it could."""
        commits: list[Commit] = []
        for item in batch:
            if not isinstance(item, Job):
                commits.append(item)
                continue
            if commits and not self._write_batch(commits):
                return False
            commits = []
            if not self._do(item):
                return False
        return not commits or self._write_batch(commits)

    def _do(self, job: Job) -> bool:
        """Does ``job`` and settles its waiter; whether it could. A job that fails stops the
        writer, as a commit that fails does."""
        try:
            job.run()
        except Exception as error:
            log.critical("the state could not be saved; no more writes are taken: %s", error)
            self._settle(self._saved, error)
            _settle_soon(job.loop, job.future, _not_saved(error))
            return False
        _settle_soon(job.loop, job.future, None)
        return True

    def _write_batch(self, batch: list[Commit]) -> bool:
        """Writes ``batch`` and settles its waiters; whether it could."""
        try:
            self._write(batch)
        except Exception as error:
            log.critical("the state could not be saved; no more writes are taken: %s", error)
            self._settle(self._saved, error)
            return False
        self._settle(batch[-1][0], None)
        _let_go(batch)
        return True

    def _write(self, batch: list[Commit]) -> None:
        """Writes the commits of ``batch`` in one transaction: each object as the last of them
        left it, STEP rows at a time."""
        rows: dict[tuple[str, str], Object | None] = {}
        breaths = _Breaths()
        for _version, written, deleted in batch:
            for obj in deleted:
                rows[KINDS[type(obj)], obj.id] = None
            for obj in written:
                rows[KINDS[type(obj)], obj.id] = obj
            breaths.handled(len(deleted) + len(written))
        with self._transaction() as db:
            while rows:
                breaths.handled(STEP)
                step = [rows.popitem() for _ in range(min(STEP, len(rows)))]
                db.executemany(
                    "INSERT OR REPLACE INTO objects (kind, id, data) VALUES (?, ?, ?)",
                    [(kind, i, self._row(kind, i, obj)) for (kind, i), obj in step if obj],
                )
                db.executemany(
                    "DELETE FROM objects WHERE kind = ? AND id = ?",
                    [key for key, obj in step if obj is None],
                )
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)", (batch[-1][0],)
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction of the writer: committed if the block ends, rolled back if it raises."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _row(self, kind: str, i: str, obj: Object) -> bytes:
        return self._sealed_row(self._aead, kind, i, self._encoder.encode(obj))

    def _sealed_row(self, aead: AESGCM | None, kind: str, i: str, data: bytes) -> bytes:
        """The row's data as it is written: sealed with the swarm's key under autolock, a
        secret's with the secrets' key otherwise, the rest in the clear."""
        if aead is not None:
            return _seal(aead, SEALED, kind, i, data)
        if kind in SECRET_KINDS:
            return _seal(self._rest.sealer(), AT_REST, kind, i, data)
        return data

    def _reseal(self, aead: AESGCM | None) -> None:
        rest = self._rest.aead()
        with self._rewriting(aead) as db:
            every = db.execute("SELECT kind, id, data FROM objects").fetchall()
            db.executemany(
                "UPDATE objects SET data = ? WHERE kind = ? AND id = ?",
                (
                    (
                        self._sealed_row(aead, kind, i, _open(self._aead, rest, kind, i, data)),
                        kind,
                        i,
                    )
                    for kind, i, data in every
                ),
            )
        if aead is not None:
            self._rest.drop()

    def _forget(self) -> None:
        with self._rewriting(None) as db:
            db.execute("DELETE FROM objects")
        self._rest.drop()

    @contextlib.contextmanager
    def _rewriting(self, aead: AESGCM | None) -> Iterator[sqlite3.Connection]:
        """A transaction that leaves every row sealed by ``aead`` (in the clear without it);
        once it commits, the file is rewritten and its log emptied, so that nothing of what the
        rows were is left in either."""
        with self._transaction() as db:
            yield db
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('sealed', ?)", (aead is not None,)
            )
        self._aead, self._sealed = aead, aead is not None
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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
            _settle_soon(loop, future, error)


def _aead(key: bytes) -> AESGCM:
    """What seals rows, from the swarm's data key: a key of its own, derived from it."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"swarmdeck state")
    return AESGCM(hkdf.derive(key))


def _seal(aead: AESGCM, prefix: bytes, kind: str, i: str, data: bytes) -> bytes:
    """The row's data sealed, bound to its kind and ID, after ``prefix``."""
    nonce = os.urandom(_NONCE)
    return prefix + nonce + aead.encrypt(nonce, data, f"{kind}/{i}".encode())


def _open(aead: AESGCM | None, rest: AESGCM | None, kind: str, i: str, data: bytes) -> bytes:
    """The row's data: opened with the swarm's key (``aead``) or the secrets' (``rest``)."""
    if data.startswith(AT_REST):
        if rest is None:
            raise StateSealed(f"the state's {kind} {i} is sealed, and {SECRETS_KEY} is missing")
        aead, prefix = rest, AT_REST
    elif data.startswith(SEALED):
        prefix = SEALED
    else:
        return data
    if aead is None:
        raise StateSealed("the state is sealed: unlock the swarm to read it")
    body = data[len(prefix) :]
    try:
        return aead.decrypt(body[:_NONCE], body[_NONCE:], f"{kind}/{i}".encode())
    except InvalidTag:
        raise StateSealed(f"the state's {kind} {i} cannot be opened with this key") from None


class _AtRest:
    """The secrets' own key, in ``path`` (made when first needed, readable by its owner alone),
    and what seals rows with it."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._aead: AESGCM | None = None

    def aead(self) -> AESGCM | None:
        """What opens rows sealed with the key; None while there is no key."""
        if self._aead is None and self._path.exists():
            self._aead = _aead(self._path.read_bytes())
        return self._aead

    def sealer(self) -> AESGCM:
        """What seals rows with the key, which is made if there is none yet."""
        aead = self.aead()
        if aead is None:
            _write_private(self._path, os.urandom(32))
            aead = self.aead()
            assert aead is not None
        return aead

    def drop(self) -> None:
        self._path.unlink(missing_ok=True)
        self._aead = None


def _write_private(path: Path, data: bytes) -> None:
    """Writes ``path`` whole, readable by its owner alone, and on disk before it returns."""
    new = path.with_name(path.name + ".new")
    descriptor = os.open(new, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(new, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class _Breaths:
    """Lets the event loop have the GIL every ``STEP`` objects the writer handles."""

    def __init__(self) -> None:
        self._handled = 0  # since the last breath

    def handled(self, objects: int) -> None:
        self._handled += objects
        if self._handled >= STEP:
            self._handled = 0
            time.sleep(0)  # lets go of the GIL: a thread that waits for it takes it


def _let_go(batch: list[Commit]) -> None:
    """Empties the lists of ``batch``, STEP objects at a time, with a breath between."""
    breaths = _Breaths()
    for _version, written, deleted in batch:
        for objects in (written, deleted):
            while objects:
                breaths.handled(min(STEP, len(objects)))
                del objects[-STEP:]


def _not_saved(failure: BaseException) -> StateNotSaved:
    return StateNotSaved(f"the state could not be saved: {failure}")


def _settle_soon(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[None], error: BaseException | None
) -> None:
    with contextlib.suppress(RuntimeError):  # its loop has closed: nobody waits
        loop.call_soon_threadsafe(_settle_future, future, error)


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
