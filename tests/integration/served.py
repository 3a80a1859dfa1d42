"""An engine served over TCP on loopback from a background thread, for clients that cannot
speak to a unix socket (schemathesis, a request fuzzer). Test-only: the product serves TCP only
with mutual TLS."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from aiohttp import web

from engine.embedded import EmbeddedCluster
from engine.httpapi.app import make_app
from engine.httpapi.events import EventLog


@contextlib.contextmanager
def served_over_tcp(**cluster_options: object) -> Iterator[tuple[str, EmbeddedCluster]]:
    """Yields the base URL and the cluster; stops both after."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, object] = {}

    async def start() -> None:
        cluster = EmbeddedCluster(seed=3, **cluster_options)  # type: ignore[arg-type]
        await cluster.start()
        events = EventLog(cluster.store, cluster.clock)
        state["events"] = asyncio.create_task(events.run())
        runner = web.AppRunner(
            make_app(cluster, events), handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        state.update(cluster=cluster, runner=runner, url=f"http://127.0.0.1:{port}")
        ready.set()

    async def stop() -> None:
        await state["runner"].cleanup()  # type: ignore[attr-defined]
        state["events"].cancel()  # type: ignore[attr-defined]
        await state["cluster"].stop()  # type: ignore[attr-defined]

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    ready.wait(30)
    try:
        yield state["url"], state["cluster"]  # type: ignore[misc]
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
