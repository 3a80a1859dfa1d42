"""Keeping the garbage collector's pauses short in a served engine.

A full collection walks every object the collector tracks, and each task a node runs keeps
about forty alive (its worker, its step, their coroutines and futures): 10,000 tasks are
400,000 objects and a pause of 200-300 ms. Every ``FREEZE_EVERY`` seconds
``keep_collections_short`` collects the young generations (the garbage of the last moments)
and moves what survives out of the collector's reach (``gc.freeze``), so that collections walk
only what is newer. Garbage cycles among frozen objects would never be found,
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

FREEZE_EVERY = 0.25  # seconds between freezes
THAW_EVERY = 3600.0  # seconds between full collections of everything


async def keep_collections_short() -> None:
    """Every FREEZE_EVERY s collects the young generations and freezes what survives; hourly
    thaws and collects everything; until cancelled."""
    thawed = time.monotonic()
    while True:
        await asyncio.sleep(FREEZE_EVERY)
        generation = 1  # the young: the garbage of the last moments, before it is frozen
        if time.monotonic() - thawed >= THAW_EVERY:
            gc.unfreeze()
            thawed = time.monotonic()
            generation = 2
        began = time.perf_counter()
        gc.collect(generation)
        gc.freeze()
        # Not gc.get_freeze_count(): it walks every frozen object, a pause of its own.
        log.debug("collected and froze in %.1f ms", (time.perf_counter() - began) * 1000)
