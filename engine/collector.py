"""Keeping the garbage collector's pauses short in a served engine.

A full collection walks every object the collector tracks, and each task a node runs keeps
about forty alive (its worker, its step, their coroutines and futures): 10,000 tasks are
400,000 objects and a pause of 200-300 ms. Every ``FREEZE_EVERY`` seconds
``keep_collections_short`` collects the young generations (the garbage of the last moments)
and moves what survives out of the collector's reach (``gc.freeze``), so that collections walk
only what is newer. Garbage cycles among frozen objects would never be found,
so every ``THAW_EVERY`` seconds everything is thawed and collected in one full pass: the one
pause this leaves, once an hour.

Every ``TRIM_EVERY`` seconds the C library's allocator is asked to give freed pages back to the
system (``malloc_trim``): a served engine runs on it (see ``engine.__main__``), so its memory
falls back after a big removal instead of staying at its peak. On jemalloc, which gives pages
back by itself, the call finds the C library's own heap all but empty and costs nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import logging
import time
from collections.abc import Callable

__all__ = ["FREEZE_EVERY", "THAW_EVERY", "TRIM_EVERY", "give_back_memory", "keep_collections_short"]

log = logging.getLogger(__name__)

FREEZE_EVERY = 0.01  # seconds between freezes: the longer, the more each collection walks
# Collections of the youngest generation before the collector collects the middle one by itself
# (Python's default is 10: every few milliseconds, each a walk of everything young).
MIDDLE_THRESHOLD = 1000
THAW_EVERY = 3600.0  # seconds between full collections of everything
TRIM_EVERY = 1.0  # seconds between hand-backs of freed memory: each then returns what is new


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """The C library's ``malloc_trim``, where it has one (glibc); looked up once."""
    name = ctypes.util.find_library("c")
    library = ctypes.CDLL(name) if name else None
    return getattr(library, "malloc_trim", None)


def give_back_memory() -> bool:
    """Asks the C library to return freed memory to the system; whether it could be asked."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


async def keep_collections_short() -> None:
    """Every FREEZE_EVERY s collects the young generations and freezes what survives; hourly
    thaws and collects everything; until cancelled. Meanwhile the collector collects only the
    youngest generation on its own: the middle one, all that is young, is collected here."""
    threshold = gc.get_threshold()
    gc.set_threshold(threshold[0], MIDDLE_THRESHOLD, *threshold[2:])
    try:
        await _collect_and_freeze()
    finally:
        gc.set_threshold(*threshold)


async def _collect_and_freeze() -> None:
    thawed = trimmed = time.monotonic()
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
        if time.monotonic() - trimmed >= TRIM_EVERY:
            trimmed = time.monotonic()
            began = time.perf_counter()
            if give_back_memory():
                log.debug("gave memory back in %.1f ms", (time.perf_counter() - began) * 1000)
