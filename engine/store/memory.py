"""The state store: versioned objects, synchronous transactions, events published after commit.

A transaction is a plain function of a ``Tx``: it cannot ``await``, so no other coroutine sees
its writes half done. Each commit gets the next version index; every object it writes carries
that index in ``version.index``. A write whose object carries an older index than the stored one
fails with ``SequenceConflict`` ("update out of sequence"), which is how optimistic concurrency
reaches API clients. Persistence, when given, is written before the commit is applied in memory
and before any event is published, so nothing acknowledged is lost in a crash.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

from msgspec.structs import replace

from engine.api.durations import format_timestamp
from engine.api.events import Event, EventCommit, EventCreate, EventDelete, EventUpdate
from engine.api.objects import (
    Cluster,
    Config,
    Network,
    Node,
    Object,
    Secret,
    Service,
    Task,
    Version,
)
from engine.errors import AlreadyExists, NotFound, SequenceConflict
from engine.store.by import By, object_name
from engine.store.watch import Watcher

__all__ = ["KINDS", "MemoryStore", "Persistence", "ReadTx", "Tx"]

T = TypeVar("T")
ObjectT = TypeVar("ObjectT", bound=Object)

KINDS: dict[type[Object], str] = {
    Node: "node",
    Service: "service",
    Task: "task",
    Cluster: "cluster",
    Network: "network",
    Secret: "secret",
    Config: "config",
}
# Indexes kept per kind, besides the primary one by id.
_INDEXES: dict[type[Object], tuple[str, ...]] = {
    Task: ("service_id", "node_id", "slot"),
    Service: ("name",),
    Node: (),
    Cluster: (),
    Network: ("name",),
    Secret: ("name",),
    Config: ("name",),
}
NAMED = tuple(kind for kind, indexes in _INDEXES.items() if "name" in indexes)  # unique names


def _index_key(index: str, obj: Object) -> Any:
    if index == "slot":
        return (obj.service_id, obj.slot)  # type: ignore[attr-defined]
    if index == "name":
        return object_name(obj)
    return getattr(obj, index)


def _unindex(index: defaultdict[Any, dict[str, None]], key: Any, obj_id: str) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.pop(obj_id, None)
        if not ids:
            del index[key]


COMPACT_FROM = 4096  # objects a table must have held before it is ever made anew
# A table is made anew once it holds a sixteenth of the most it held. The copy costs what is left
# (a quarter of a removed service of 100,000 tasks: 5 ms and more, in one turn of the event
# loop); until then a table holds no more room than it once used.
COMPACT_BELOW = 16


class Persistence(Protocol):
    """Where commits are made durable, behind the store (see engine.store.sqlite)."""

    @property
    def readable(self) -> bool:
        """Whether ``load`` can read the state now (a sealed one cannot before its key)."""
        ...

    def load(self) -> tuple[int, list[Object]]: ...

    def commit(self, version: int, written: list[Object], deleted: list[Object]) -> None: ...

    async def saved(self, version: int) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class _Table:
    def __init__(self, kind: type[Object]) -> None:
        self.kind = kind
        self.objects: dict[str, Object] = {}
        # Each index maps a key to the ids under it, in insertion order (so runs repeat).
        self.indexes: dict[str, defaultdict[Any, dict[str, None]]] = {
            name: defaultdict(dict) for name in _INDEXES[kind]
        }
        self._peak = 0  # the most objects held since the table's dicts were made

    def put(self, obj: Object) -> None:
        """Stores ``obj``; an update under the same index keys keeps its place in their order
        and leaves the indexes as they are (a task's status changes five times on its way to
        running: taking it out and back in made the dicts of a 100,000-task service grow, and
        be rebuilt, again and again)."""
        old = self.objects.get(obj.id)
        self.objects[obj.id] = obj
        for name, index in self.indexes.items():
            key = _index_key(name, obj)
            if old is not None:
                old_key = _index_key(name, old)
                if old_key == key:
                    continue
                _unindex(index, old_key, obj.id)
            index[key][obj.id] = None
        self._peak = max(self._peak, len(self.objects))

    def remove(self, obj_id: str) -> None:
        old = self.objects.pop(obj_id, None)
        if old is not None:
            self._unindex(old)
        if self._peak > COMPACT_FROM and len(self.objects) * COMPACT_BELOW < self._peak:
            self._compact()

    def _compact(self) -> None:
        """Makes the table's dicts anew, to the size of what they hold: a dict keeps its size
        when emptied, and the tables of a removed service of 100,000 tasks would hold tens of
        megabytes for nothing. It copies what is left, a fifteenth of what was removed since; the
        sets of IDs under each key are kept as they are (copying them all took 30 ms at 25,000
        tasks), and go when their key empties."""
        self.objects = dict(self.objects)
        self.indexes = {name: defaultdict(dict, index) for name, index in self.indexes.items()}
        self._peak = len(self.objects)

    def _unindex(self, obj: Object) -> None:
        for name, index in self.indexes.items():
            _unindex(index, _index_key(name, obj), obj.id)

    def ids(self, selector: By) -> dict[str, None]:
        """The IDs of what ``selector`` finds, without the objects: cheap to take whole."""
        if selector.index == "all":
            return dict.fromkeys(self.objects)
        index = self.indexes.get(selector.index)
        if index is not None:
            ids = index.get(selector.key)
            return {} if ids is None else ids.copy()
        return {obj.id: None for obj in self.find(selector)}

    def find(self, selector: By) -> Iterable[Object]:
        if selector.index == "all":
            return self.objects.values()
        index = self.indexes.get(selector.index)
        if index is not None:
            objects = self.objects
            return [objects[obj_id] for obj_id in index.get(selector.key, ())]
        return [obj for obj in self.objects.values() if selector.matches(obj)]


class ReadTx:
    """A read view of the store."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def get(self, kind: type[ObjectT], obj_id: str) -> ObjectT | None:
        return self._store._tables[kind].objects.get(obj_id)  # type: ignore[return-value]

    def find(self, kind: type[ObjectT], selector: By) -> list[ObjectT]:
        return list(self._store._tables[kind].find(selector))  # type: ignore[arg-type]

    def ids(self, kind: type[Object], selector: By) -> dict[str, None]:
        """The IDs of the objects ``find`` would return (in a view: a transaction's own writes
        are not among them), in order, as the keys of a dict of their own.

        Not a list: a list is a container the garbage collector walks, item by item, in every
        collection that finds it young, and a service's 100,000 IDs are 6 ms a walk; a dict
        that holds only strings (and None) it does not track at all."""
        return self._store._tables[kind].ids(selector)

    def keys(self, kind: type[Object], index: str) -> list[Any]:
        """The keys that index ``index`` of ``kind`` holds objects under (in a view: a
        transaction's own writes are not among them)."""
        return list(self._store._tables[kind].indexes[index])


class Tx(ReadTx):
    """A write transaction: reads see its own writes; nothing is visible to others until commit."""

    def __init__(self, store: MemoryStore, version: int, timestamp: str) -> None:
        super().__init__(store)
        self.version = version
        self._timestamp = timestamp
        self._written: dict[tuple[type[Object], str], Object | None] = {}
        self._events: list[Event] = []

    def get(self, kind: type[ObjectT], obj_id: str) -> ObjectT | None:
        key = (kind, obj_id)
        if key in self._written:
            return self._written[key]  # type: ignore[return-value]
        return super().get(kind, obj_id)

    def find(self, kind: type[ObjectT], selector: By) -> list[ObjectT]:
        found = super().find(kind, selector)
        if not self._written:
            return found
        mine = {obj_id for (k, obj_id) in self._written if k is kind}
        if not mine:
            return found
        result = [obj for obj in found if obj.id not in mine]
        for (k, _), obj in self._written.items():
            if k is kind and obj is not None and selector.matches(obj):
                result.append(obj)  # type: ignore[arg-type]
        return result

    def create(self, obj: ObjectT) -> ObjectT:
        kind = type(obj)
        if not obj.id:
            raise ValueError("an object needs an id before it is created")
        if self.get(kind, obj.id) is not None:
            raise AlreadyExists(f"object {obj.id} already exists")
        self._check_name(obj)
        stored = replace(
            obj,
            version=Version(index=self.version),
            created_at=obj.created_at or self._timestamp,
            updated_at=obj.updated_at or self._timestamp,
        )
        self._written[(kind, obj.id)] = stored
        self._events.append(EventCreate(stored))
        return stored

    def update(self, obj: ObjectT) -> ObjectT:
        kind = type(obj)
        old = self.get(kind, obj.id)
        if old is None:
            raise NotFound(f"{KINDS[kind]} {obj.id} not found")
        if old.version.index != obj.version.index:
            raise SequenceConflict()
        if object_name(old) != object_name(obj):
            self._check_name(obj)
        stored = replace(obj, version=Version(index=self.version), updated_at=self._timestamp)
        self._written[(kind, obj.id)] = stored
        self._events.append(EventUpdate(stored, old))
        return stored

    def delete(self, kind: type[Object], obj_id: str) -> None:
        old = self.get(kind, obj_id)
        if old is None:
            raise NotFound(f"{KINDS[kind]} {obj_id} not found")
        self._written[(kind, obj_id)] = None
        self._events.append(EventDelete(old))

    def _check_name(self, obj: Object) -> None:
        """Services, networks, secrets and configs have names of their own (SwarmKit's unique
        name index)."""
        kind = type(obj)
        if kind not in NAMED:
            return
        for other in self.find(kind, By("name", object_name(obj))):
            if other.id != obj.id:
                raise AlreadyExists(
                    f"name conflicts with an existing object: {KINDS[kind]} "
                    f"{obj.spec.name} already exists"  # type: ignore[attr-defined]
                )


class MemoryStore:
    """The cluster's state: tables of objects, a version index, and watchers.

    Args:
        now: the wall clock for ``CreatedAt``/``UpdatedAt``.
        persistence: where commits are made durable; ``None`` keeps the state in memory only.
    """

    def __init__(self, now: Callable[[], float], persistence: Persistence | None = None) -> None:
        self._now = now
        self._persistence = persistence
        self._tables = {kind: _Table(kind) for kind in KINDS}
        self._watchers: dict[Watcher, None] = {}  # ordered, so wake-ups repeat run to run
        self._version = 0
        if persistence is not None and persistence.readable:
            self.load()

    def load(self) -> None:
        """Reads the state from disk: at the start, or once it can be read (a sealed state,
        once its key is given). The store is empty until then and takes no writes."""
        assert self._persistence is not None and not self._version, "a store loaded twice"
        self._version, objects = self._persistence.load()
        for obj in objects:
            self._tables[type(obj)].put(obj)

    @property
    def version(self) -> int:
        """The index of the last commit."""
        return self._version

    def view(self, fn: Callable[[ReadTx], T]) -> T:
        """Runs ``fn`` on a read view of the store and returns its result."""
        return fn(ReadTx(self))

    def update(self, fn: Callable[[Tx], T]) -> T:
        """Runs ``fn`` in a write transaction and commits it if it returns.

        Raises:
            SequenceConflict: a write carried a stale version; nothing was written.
            Whatever ``fn`` raises; nothing was written.
        """
        tx = Tx(self, self._version + 1, format_timestamp(self._now()))
        result = fn(tx)
        if tx._written:
            self._commit(tx)
        return result

    def _commit(self, tx: Tx) -> None:
        written = [obj for obj in tx._written.values() if obj is not None]
        deleted = [
            self._tables[kind].objects[obj_id]
            for (kind, obj_id), obj in tx._written.items()
            if obj is None and obj_id in self._tables[kind].objects
        ]
        if self._persistence is not None:
            assert self._persistence.readable, "a write to a store not loaded"
            self._persistence.commit(tx.version, written, deleted)
        for (kind, obj_id), obj in tx._written.items():
            if obj is None:
                self._tables[kind].remove(obj_id)
            else:
                self._tables[kind].put(obj)
        self._version = tx.version
        events = [*tx._events, EventCommit(tx.version)]
        for watcher in list(self._watchers):
            watcher.publish(events)

    async def saved(self, version: int | None = None) -> None:
        """Returns once the commit ``version`` (by default the last one) and every one before it
        are on disk, at once for a store in memory only: what the API acknowledges, and what a
        node is told to run, must survive a crash.

        Raises:
            StateNotSaved: the state could not be written.
        """
        if self._persistence is not None:
            await self._persistence.saved(self._version if version is None else version)

    def flush(self) -> None:
        """Blocks until every commit made so far is on disk (see ``saved``)."""
        if self._persistence is not None:
            self._persistence.flush()

    def watch(
        self, accepts: Callable[[Event], bool] | None = None, limit: int | None = None
    ) -> Watcher:
        """A new watcher that gets the events of every later commit."""
        watcher = Watcher(accepts, limit, lambda closed: self._watchers.pop(closed, None))
        self._watchers[watcher] = None
        return watcher

    @asynccontextmanager
    async def view_and_watch(
        self,
        init: Callable[[ReadTx], Any] | None = None,
        accepts: Callable[[Event], bool] | None = None,
    ) -> AsyncIterator[Watcher]:
        """Reads the store with ``init`` and starts watching, with no commit in between."""
        watcher = self.watch(accepts)
        try:
            if init is not None:
                self.view(init)
            yield watcher
        finally:
            watcher.close()

    def close(self) -> None:
        for watcher in list(self._watchers):
            watcher.close()
        if self._persistence is not None:
            self._persistence.close()
