"""Writes services as fast as it can, printing each ID once its commit is on disk.

Run as ``python -m tests.engine.store.crash_writer DATA_DIR``; the test kills it with SIGKILL.
"""

from __future__ import annotations

import sys
import time

from engine.api.objects import Service
from engine.api.specs import ServiceSpec
from engine.ids import IdGenerator
from engine.store import MemoryStore, SqlitePersistence, create_service


def main() -> None:
    store = MemoryStore(time.time, SqlitePersistence(sys.argv[1]))
    ids = IdGenerator()
    while True:
        service = Service(id=ids.new_id(), spec=ServiceSpec(name=f"svc-{ids.new_id()[:12]}"))
        store.update(lambda tx, s=service: create_service(tx, s))
        store.flush()
        sys.stdout.write(f"{service.id} {store.version}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
