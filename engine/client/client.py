"""EngineClient: the Engine API calls the console makes, answers as engine.api values."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from engine.api.codec import from_builtins, to_builtins
from engine.api.durations import parse_timestamp
from engine.api.logs import split_frame
from engine.api.objects import Cluster, Node, Service, Task
from engine.api.specs import NodeSpec, ServiceSpec

if TYPE_CHECKING:
    import aiodocker

__all__ = ["ClientError", "EngineClient", "ListDecoder", "LogEntry"]

API_VERSION = "v1.41"

T = TypeVar("T")


class ClientError(Exception):
    """The endpoint answered with an error, or could not be reached (``status`` 0)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log line with its task, as ``docker service logs --details --timestamps`` gives."""

    time: float
    stream: str
    task_id: str
    node_id: str
    text: str


class ListDecoder(Generic[T]):
    """Reads an answer that is a JSON array of ``kind`` values, as a poll gets them.

    An element whose JSON is byte for byte what the previous answer held is not decoded again:
    the previous value is reused, the very same object. Between two polls of a large cluster
    most tasks do not change, so a poll decodes only what changed, and whoever draws the values
    can tell an unchanged one by identity.
    """

    def __init__(self, kind: type[T]) -> None:
        self._elements = msgspec.json.Decoder(list[msgspec.Raw])
        self._element = msgspec.json.Decoder(kind)
        self._known: dict[bytes, T] = {}

    def decode(self, body: bytes) -> list[T]:
        """The values in ``body``; raises ClientError when it is not such an array."""
        try:
            raws = list(map(bytes, self._elements.decode(body)))
            known, decode = self._known, self._element.decode
            values = [known[raw] if raw in known else decode(raw) for raw in raws]
        except (msgspec.DecodeError, RecursionError) as error:
            raise ClientError(f"unreadable answer: {error}") from None
        self._known = dict(zip(raws, values, strict=True))
        return values


class EngineClient:
    """An async client of one Docker Engine API endpoint (our engine or a swarm manager)."""

    def __init__(self, url: str, tls: ssl.SSLContext | None = None) -> None:
        self.url = url
        self._url = url.replace("tcp://", "https://" if tls else "http://", 1)
        self._tls = tls
        self._docker: aiodocker.Docker | None = None
        self._nodes = ListDecoder(Node)
        self._services = ListDecoder(Service)
        self._tasks = ListDecoder(Task)

    async def _api(self) -> aiodocker.Docker:
        # aiodocker and aiohttp take a good part of a second to load: not before the first call,
        # so that the console draws its first frame without waiting for them.
        import aiodocker

        if self._docker is None:
            self._docker = aiodocker.Docker(
                url=self._url, ssl_context=self._tls, api_version=API_VERSION
            )
        return self._docker

    async def close(self) -> None:
        if self._docker is not None:
            await self._docker.close()
            self._docker = None

    @contextlib.contextmanager
    def _asking(self, failed: str = "cannot reach {url}: {error}") -> Iterator[None]:
        """Turns what an API call can raise into ClientError: the endpoint's error answer, or
        ``failed`` when it could not be asked."""
        import aiohttp
        from aiodocker.exceptions import DockerError

        try:
            yield
        except DockerError as error:
            message = error.message if isinstance(error.message, str) else str(error.message)
            raise ClientError(message, error.status) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise ClientError(failed.format(url=self.url, error=error)) from None

    async def _json(self, path: str, method: str = "GET", **kwargs: Any) -> Any:
        docker = await self._api()
        with self._asking():
            return await docker._query_json(path, method, **kwargs)

    async def _list(
        self, path: str, decoder: ListDecoder[T], params: dict[str, str] | None = None
    ) -> list[T]:
        """A polled list, decoded in a worker thread so that a large answer does not hold up
        the caller's event loop (a console keeps answering keys meanwhile)."""
        body = await self._body(path, params)
        return await asyncio.to_thread(decoder.decode, body)

    async def _body(self, path: str, params: dict[str, str] | None = None) -> bytes:
        docker = await self._api()
        with self._asking():
            async with docker._query(path, params=params) as response:
                return await response.read()

    # Reading.

    async def ping(self) -> bool:
        docker = await self._api()
        try:
            with self._asking():
                async with docker._query("_ping", versioned_api=False) as response:
                    return response.status == 200
        except ClientError:
            return False

    async def info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("info")
        return result

    async def swarm(self) -> Cluster:
        return from_builtins(await self._json("swarm"), Cluster)

    async def nodes(self) -> list[Node]:
        return await self._list("nodes", self._nodes)

    async def services(self) -> list[Service]:
        return await self._list("services", self._services, {"status": "true"})

    async def tasks(self) -> list[Task]:
        return await self._list("tasks", self._tasks)

    async def metrics(self) -> str | None:
        """Prometheus text from ``/metrics`` where the endpoint serves it (our engine does)."""
        docker = await self._api()
        try:
            with self._asking():
                async with docker._query("metrics", versioned_api=False) as response:
                    return await response.text() if response.status == 200 else None
        except ClientError:
            return None

    async def containers(self, label: str | None = None) -> list[dict[str, Any]]:
        """Running containers of this engine, those with ``label`` when given."""
        params = {"filters": json.dumps({"label": [label]})} if label else {}
        result: list[dict[str, Any]] = await self._json("containers/json", params=params)
        return result

    async def container_stats(self, container_id: str) -> dict[str, Any] | None:
        """One sample of the container's stats; None when it is gone."""
        try:
            result: dict[str, Any] = await self._json(
                f"containers/{container_id}/stats", params={"stream": "0", "one-shot": "1"}
            )
        except ClientError as error:
            if error.status == 404:
                return None
            raise
        return result

    # Acting.

    async def update_node(self, node: Node, spec: NodeSpec) -> None:
        await self._json(
            f"nodes/{node.id}/update",
            "POST",
            params={"version": str(node.version.index)},
            data=json.dumps(to_builtins(spec)),
            headers={"Content-Type": "application/json"},
        )

    async def modify_node(self, node_id: str, change: Callable[[NodeSpec], NodeSpec]) -> None:
        """Reads the node and writes ``change(spec)`` with its current version, as the CLI does."""
        node = from_builtins(await self._json(f"nodes/{node_id}"), Node)
        await self.update_node(node, change(node.spec))

    async def modify_service(
        self, service_id: str, change: Callable[[ServiceSpec], ServiceSpec]
    ) -> None:
        """Reads the service and writes ``change(spec)`` with its current version."""
        service = from_builtins(await self._json(f"services/{service_id}"), Service)
        await self.update_service(service, change(service.spec))

    async def rollback_service(self, service_id: str) -> None:
        service = from_builtins(await self._json(f"services/{service_id}"), Service)
        await self.update_service(service, rollback=True)

    async def remove_node(self, node_id: str, force: bool = False) -> None:
        await self._json(f"nodes/{node_id}", "DELETE", params={"force": str(force).lower()})

    async def create_service(self, spec: ServiceSpec) -> str:
        answer = await self._json(
            "services/create",
            "POST",
            data=json.dumps(to_builtins(spec)),
            headers={"Content-Type": "application/json"},
        )
        return str(answer["ID"])

    async def update_service(
        self, service: Service, spec: ServiceSpec | None = None, rollback: bool = False
    ) -> None:
        params = {"version": str(service.version.index)}
        if rollback:
            params["rollback"] = "previous"
        await self._json(
            f"services/{service.id}/update",
            "POST",
            params=params,
            data=json.dumps(to_builtins(spec or service.spec)),
            headers={"Content-Type": "application/json"},
        )

    async def remove_service(self, service_id: str) -> None:
        await self._json(f"services/{service_id}", "DELETE")

    # Streams.

    async def logs(
        self,
        kind: str,
        object_id: str,
        tail: int | None = 200,
        since: float | None = None,
        follow: bool = False,
    ) -> AsyncIterator[LogEntry]:
        """Log lines of a service or task (``kind`` "services" or "tasks"), oldest first."""
        params = {
            "stdout": "1",
            "stderr": "1",
            "details": "1",
            "timestamps": "1",
            "follow": "1" if follow else "0",
            "tail": "all" if tail is None else str(tail),
        }
        if since is not None:
            params["since"] = f"{since:.9f}"
        docker = await self._api()
        with self._asking():
            async with docker._query(
                f"{kind}/{object_id}/logs", params=params, timeout=None
            ) as response:
                muxed = True
                buffer = b""
                async for chunk in response.content.iter_any():
                    buffer += chunk
                    while True:
                        entry, buffer, muxed = _next_entry(buffer, muxed)
                        if entry is None:
                            break
                        yield entry

    async def events(
        self, since: float | None = None, until: float | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The swarm's events (service and node create, update, remove), as they happen."""
        params = {"filters": json.dumps({"type": ["service", "node"]})}
        if since is not None:
            params["since"] = f"{since:.9f}"
        if until is not None:
            params["until"] = f"{until:.9f}"
        docker = await self._api()
        ended = "event stream from {url} ended: {error}"
        with self._asking(ended):
            async with docker._query("events", params=params, timeout=None) as response:
                async for line in response.content:
                    if line.strip():
                        try:
                            event = json.loads(line)
                        except ValueError as error:
                            raise ClientError(ended.format(url=self.url, error=error)) from None
                        yield event


def _next_entry(buffer: bytes, muxed: bool) -> tuple[LogEntry | None, bytes, bool]:
    """Takes one log line off ``buffer``: a multiplexed frame, or a raw line (TTY services)."""
    stream, payload, rest, muxed = split_frame(buffer, muxed)
    if payload is None:
        return None, rest, muxed
    return _parse_line(stream, payload.decode("utf-8", "replace")), rest, muxed


def _parse_line(stream: str, line: str) -> LogEntry:
    """``<timestamp> <k=v,...> <text>`` as the daemon writes with timestamps and details."""
    line = line.rstrip("\n")
    stamp, _, rest = line.partition(" ")
    try:
        moment = parse_timestamp(stamp)
    except ValueError:
        moment, rest = 0.0, line
    details, _, text = rest.partition(" ")
    attrs = dict(item.split("=", 1) for item in details.split(",") if "=" in item)
    if "com.docker.swarm.task.id" not in attrs:
        text, attrs = rest, {}
    return LogEntry(
        time=moment,
        stream=stream,
        task_id=attrs.get("com.docker.swarm.task.id", ""),
        node_id=attrs.get("com.docker.swarm.node.id", ""),
        text=text,
    )
