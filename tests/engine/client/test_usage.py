"""Where usage comes from: a named Prometheus/cAdvisor endpoint, the endpoint's own /metrics, or
nowhere (and then the note says so)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.client import EngineClient, UsageReader

TASK = 'container_label_com_docker_swarm_task_id="t1"'
CADVISOR = "\n".join(
    [
        "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.",
        f'container_cpu_usage_seconds_total{{{TASK},cpu="total",id="/docker/abc"}} 12.5',
        'container_cpu_usage_seconds_total{id="/"} 999',
        f'container_memory_usage_bytes{{{TASK},id="/docker/abc"}} 2.097152e+06',
        "",
    ]
)


async def serve(text: str | None) -> TestServer:
    async def metrics(request: web.Request) -> web.Response:
        if text is None:
            raise web.HTTPNotFound()
        return web.Response(text=text)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_a_named_prometheus_endpoint_comes_first() -> None:
    server = await serve(CADVISOR)
    manager = EngineClient("tcp://127.0.0.1:1")  # never asked
    reader = UsageReader(manager, metrics_url=str(server.make_url("/metrics")))
    try:
        usage = await reader.read()
    finally:
        await reader.close()
        await server.close()
    assert usage.by_task == {"t1": (12.5, 2_097_152)}
    assert usage.note == ""


async def test_the_endpoints_own_metrics_then_nothing_with_a_note() -> None:
    own, none = await serve(CADVISOR), await serve(None)
    clients = [EngineClient(f"tcp://127.0.0.1:{server.port}") for server in (own, none)]
    try:
        with_metrics = await UsageReader(clients[0]).read()
        without = await UsageReader(clients[1]).read()
    finally:
        for client in clients:
            await client.close()
        await own.close()
        await none.close()
    assert with_metrics.by_task == {"t1": (12.5, 2_097_152)}
    assert without.by_task == {}
    assert "--node-engines" in without.note and "--metrics-url" in without.note


async def test_an_unreachable_prometheus_is_said() -> None:
    reader = UsageReader(EngineClient("tcp://127.0.0.1:1"), metrics_url="http://127.0.0.1:1/m")
    try:
        usage = await reader.read()
    finally:
        await reader.close()
    assert usage.by_task == {} and usage.note.startswith("cannot read http://127.0.0.1:1/m")
