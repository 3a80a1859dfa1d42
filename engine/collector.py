"""Keeping the garbage collector's pauses short in a served engine.

A full collection walks every object the collector tracks, and each task a node runs keeps
about forty alive (its worker, its step, their coroutines and futures): 10,000 tasks are
400,000 objects and a pause of 200-300 ms. ``keep_collections_short`` moves what has lived
through ``FREEZE_EVERY`` seconds out of the collector's reach (``gc.freeze``), so that
collections walk only what is newer. Garbage cycles among frozen objects would never be found,
so every ``THAW_EVERY`` seconds everything is thawed and collected in one full pass: the one
pause this leaves, once an hour.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

__all__ = ["FREEZE_EVERY", "THAW_EVERY", "keep_collections_short"]

log = logging.getLogger(__name__)

FREEZE_EVERY = 1.0  # seconds between freezes
THAW_EVERY = 3600.0  # seconds between full collections of everything


async def keep_collections_short() -> None:
    """Freezes the survivors every FREEZE_EVERY s, and thaws and collects all hourly; until
    cancelled."""
    thawed = time.monotonic()
    while True:
        await asyncio.sleep(FREEZE_EVERY)
        if time.monotonic() - thawed >= THAW_EVERY:
            gc.unfreeze()
            thawed = time.monotonic()
        began = time.perf_counter()
        gc.collect()  # only what is not frozen: what lived through the last few seconds
        gc.freeze()
        log.debug(
            "collected in %.1f ms, %d objects frozen",
            (time.perf_counter() - began) * 1000,
            gc.get_freeze_count(),
        )
