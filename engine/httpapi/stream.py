"""Answers that grow with the cluster, made and written in steps so the event loop never stalls.

A route validates the request first (a bad one is still answered with an error), reads its
objects from the store in one view, and hands them over. Everything done per object (filters,
names, labels, counting) and the encoding run ``STEP`` objects at a time, with a turn of the
event loop between steps: ``/_ping`` is answered between them however large the cluster is.
The answer goes out as a chunked response, a chunk per step, the same bytes a whole answer had.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from aiohttp import web

from engine.api.codec import encode

__all__ = ["STEP", "steps", "stream_json", "stream_lines"]

T = TypeVar("T")
R = TypeVar("R")

# Objects (or lines) per step: a task's JSON is about 0.5 KiB and takes ~5 µs to encode, a
# container's metrics labels ~25 µs to make, so a step is a few milliseconds at most.
STEP = 256


async def steps(items: Iterable[T]) -> AsyncIterator[list[T]]:
    """``items``, ``STEP`` at a time, with a turn of the event loop after each step. Nothing
    else may change ``items`` meanwhile: a list or dict the caller has made for itself."""
    for batch in _batches(items):
        yield batch
        await asyncio.sleep(0)


async def stream_json(
    request: web.Request,
    items: Iterable[T],
    render: Callable[[T], R | None],
    key: Callable[[R], Any],
) -> web.StreamResponse:
    """Answers the JSON array of ``render(item)`` for each item (None leaves it out), in the
    order of ``key``, as ``sorted`` gives it (equal keys keep the order of ``items``).

    Each step renders ``STEP`` items and sorts them into a run; the runs are merged as the
    answer is written, so no step sorts more than ``STEP`` values.
    """
    runs: list[list[R]] = []
    async for batch in steps(items):
        run = [value for value in map(render, batch) if value is not None]
        if run:
            run.sort(key=key)
            runs.append(run)
    values = heapq.merge(*runs, key=key) if len(runs) > 1 else iter(runs[0] if runs else ())
    response = web.StreamResponse()
    response.content_type = "application/json"
    return await _write(request, response, _json_chunks(values))


async def stream_lines(
    request: web.Request, lines: Iterable[str], headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """Answers ``lines`` as UTF-8 text, each ended by a newline, ``STEP`` lines a chunk.

    ``lines`` may be a generator that makes each line as it is asked for: the work of a chunk
    is then that of its ``STEP`` lines.
    """
    response = web.StreamResponse(headers=headers)
    response.content_type = "text/plain"
    response.charset = "utf-8"
    return await _write(request, response, _line_chunks(iter(lines)))


def _json_chunks(values: Iterator[object]) -> Iterator[bytes]:
    """The array's bytes: each step's values encoded as a list, joined without its brackets."""
    opening = b"["
    for batch in _batches(values):
        yield opening + encode(batch)[1:-1]
        opening = b","
    yield b"]" if opening == b"," else b"[]"


def _line_chunks(lines: Iterator[str]) -> Iterator[bytes]:
    for batch in _batches(lines):
        yield ("\n".join(batch) + "\n").encode("utf-8")


def _batches(items: Iterable[T]) -> Iterator[list[T]]:
    """``items``, ``STEP`` at a time."""
    remaining = iter(items)
    while batch := list(itertools.islice(remaining, STEP)):
        yield batch


async def _write(
    request: web.Request, response: web.StreamResponse, chunks: Iterator[bytes]
) -> web.StreamResponse:
    await response.prepare(request)
    try:
        for chunk in chunks:
            await response.write(chunk)
            await asyncio.sleep(0)  # write() returns without a turn while its buffer has room
        await response.write_eof()
    except ConnectionError:
        pass  # the client left
    return response
