"""EngineClient: the Engine API calls the console makes, answers as engine.api values."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import msgspec
from msgspec.structs import replace

from engine.api.codec import from_builtins, to_builtins
from engine.api.durations import parse_timestamp
from engine.api.logs import split_frame
from engine.api.networks import NetworkCreateRequest, NetworkResource
from engine.api.objects import Cluster, ClusterSpec, Config, Node, Secret, Service, Task
from engine.api.secrets import ConfigSpec, SecretSpec
from engine.api.specs import NodeSpec, ServiceSpec
from engine.client.errors import APIError, ClientError, ConnectError, NotFound, UnreadableAnswer
from engine.client.ssh import ssh_bridge
from engine.client.transport import HTTPTransport, Response, Transport

__all__ = ["EngineClient", "ListDecoder", "LogEntry", "open_client"]

CANNOT_REACH = "cannot reach {url}: {error}"
STREAM_ENDED = "event stream from {url} ended: {error}"
JSON = {"Content-Type": "application/json"}

T = TypeVar("T")


class LogEntry(msgspec.Struct, frozen=True):
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
        """The values in ``body``; raises UnreadableAnswer when it is not such an array."""
        try:
            raws = list(map(bytes, self._elements.decode(body)))
            known, decode = self._known, self._element.decode
            values = [known[raw] if raw in known else decode(raw) for raw in raws]
        except (msgspec.DecodeError, RecursionError) as error:
            raise UnreadableAnswer(f"unreadable answer: {error}") from None
        self._known = dict(zip(raws, values, strict=True))
        return values


class EngineClient:
    """An async client of one Docker Engine API endpoint (our engine or a swarm manager).

    Made from a URL (``unix://``, ``tcp://`` with ``tls`` for HTTPS, ``http://``, ``https://``)
    it talks HTTP through an HTTPTransport, which loads aiohttp at the first call; or made on
    any ``transport`` (an AppTransport, a FakeTransport). Every call raises ClientError or one
    of its kinds (see engine.client.errors) when it fails. ``close()`` closes the transport.
    """

    def __init__(
        self,
        url: str | None = None,
        tls: ssl.SSLContext | None = None,
        *,
        transport: Transport | None = None,
    ) -> None:
        if transport is None:
            if url is None:
                raise TypeError("EngineClient needs a url or a transport")
            transport = HTTPTransport(url, tls)
        elif url is not None or tls is not None:
            raise TypeError("EngineClient takes a url (and tls) or a transport, not both")
        self.transport = transport
        self._nodes = ListDecoder(Node)
        self._services = ListDecoder(Service)
        self._tasks = ListDecoder(Task)
        self._networks = ListDecoder(NetworkResource)
        self._secrets = ListDecoder(Secret)
        self._configs = ListDecoder(Config)

    @property
    def url(self) -> str:
        """The endpoint, as messages name it."""
        return self.transport.url

    async def close(self) -> None:
        await self.transport.close()

    @contextlib.asynccontextmanager
    async def _asking(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        *,
        stream: bool = False,
        versioned: bool = True,
        failed: str = CANNOT_REACH,
    ) -> AsyncIterator[Response]:
        """The answer to ``method /path`` unless it is an error status, which raises APIError;
        a failed exchange raises ConnectError with ``failed`` as its message."""
        try:
            async with self.transport.request(
                method,
                f"/{path}",
                params=params,
                body=body,
                headers=JSON if body is not None else None,
                stream=stream,
                versioned=versioned,
            ) as response:
                if response.status >= 400:
                    raise _api_error(response.status, await response.read())
                yield response
        except OSError as error:
            raise ConnectError(failed.format(url=self.url, error=error)) from None

    async def _body(self, path: str, params: dict[str, str] | None = None) -> bytes:
        async with self._asking("GET", path, params) as response:
            return await response.read()

    async def _json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        async with self._asking("GET", path, params) as response:
            body = await response.read()
        try:
            return json.loads(body)
        except ValueError as error:
            raise UnreadableAnswer(f"unreadable answer from {self.url}: {error}") from None

    async def _send(
        self, method: str, path: str, params: Mapping[str, str] | None = None, value: Any = None
    ) -> bytes:
        """Acts: ``value`` goes as JSON; returns the answer's body."""
        body = None if value is None else json.dumps(value).encode()
        async with self._asking(method, path, params, body) as response:
            return await response.read()

    async def _list(
        self, path: str, decoder: ListDecoder[T], params: dict[str, str] | None = None
    ) -> list[T]:
        """A polled list, decoded in a worker thread so that a large answer does not hold up
        the caller's event loop (a console keeps answering keys meanwhile)."""
        body = await self._body(path, params)
        return await asyncio.to_thread(decoder.decode, body)

    # Reading.

    async def ping(self) -> bool:
        try:
            async with self._asking("GET", "_ping", versioned=False) as response:
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

    async def services(self, label: str | None = None) -> list[Service]:
        """Every service, with its status; only those with ``label`` (``KEY`` or
        ``KEY=VALUE``) when given."""
        params = {"status": "true", **_label_filter(label)}
        return await self._list("services", self._services, params)

    async def networks(self, label: str | None = None) -> list[NetworkResource]:
        """The networks (dockerd's NetworkResource), those with ``label`` when given."""
        return await self._list("networks", self._networks, _label_filter(label))

    async def secrets(self, label: str | None = None) -> list[Secret]:
        """The secrets, those with ``label`` when given: names, labels, never data (an
        endpoint that sent some would have it dropped here)."""
        found = await self._list("secrets", self._secrets, _label_filter(label))
        return [s if s.spec.data is None else _without_data(s) for s in found]

    async def configs(self, label: str | None = None) -> list[Config]:
        """The configs, with their data (as ``docker config inspect`` shows it)."""
        return await self._list("configs", self._configs, _label_filter(label))

    async def image_digest(self, image: str) -> str | None:
        """``image`` pinned by the digest its registry has for it (``name@sha256:...``), as
        the docker CLI asks the engine (``/distribution``); None where none is known."""
        try:
            answer = await self._json(f"distribution/{image}/json")
        except APIError:
            return None
        digest = (
            (answer.get("Descriptor") or {}).get("digest") if isinstance(answer, dict) else None
        )
        if not isinstance(digest, str) or not digest:
            return None
        return f"{image.partition('@')[0]}@{digest}"  # the tag kept, as the docker CLI keeps it

    async def tasks(self) -> list[Task]:
        return await self._list("tasks", self._tasks)

    async def metrics(self, names: Sequence[str] = ()) -> str | None:
        """Prometheus text from ``/metrics`` where the endpoint serves it (our engine does);
        with ``names``, only those families (an endpoint that ignores the ask sends all)."""
        params = {"name": ",".join(names)} if names else None
        try:
            async with self._asking("GET", "metrics", params, versioned=False) as response:
                if response.status != 200:
                    return None
                return (await response.read()).decode("utf-8", "replace")
        except ClientError:
            return None

    async def containers(self, label: str | None = None) -> list[dict[str, Any]]:
        """Running containers of this engine, those with ``label`` when given."""
        params = {"filters": json.dumps({"label": [label]})} if label else {}
        result: list[dict[str, Any]] = await self._json("containers/json", params)
        return result

    async def container_stats(self, container_id: str) -> dict[str, Any] | None:
        """One sample of the container's stats; None when it is gone."""
        try:
            result: dict[str, Any] = await self._json(
                f"containers/{container_id}/stats", {"stream": "0", "one-shot": "1"}
            )
        except NotFound:
            return None
        return result

    # Acting.

    async def update_node(self, node: Node, spec: NodeSpec) -> None:
        params = {"version": str(node.version.index)}
        await self._send("POST", f"nodes/{node.id}/update", params, to_builtins(spec))

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

    async def modify_swarm(
        self, change: Callable[[ClusterSpec], ClusterSpec], **rotate: bool
    ) -> None:
        """Reads the swarm and writes ``change(spec)`` with its current version; ``rotate``
        names what to rotate besides (``rotateWorkerToken=True``...), as the CLI does."""
        swarm = await self.swarm()
        params = {"version": str(swarm.version.index)}
        params.update({name: "true" for name, asked in rotate.items() if asked})
        await self._send("POST", "swarm/update", params, to_builtins(change(swarm.spec)))

    async def remove_node(self, node_id: str, force: bool = False) -> None:
        await self._send("DELETE", f"nodes/{node_id}", {"force": str(force).lower()})

    async def _create(self, kind: str, value: Any, key: str = "ID") -> str:
        """Creates a ``kind`` (``services``...) of ``value``; its ID, as the answer's ``key``."""
        body = await self._send("POST", f"{kind}/create", value=value)
        try:
            return str(json.loads(body)[key])
        except (ValueError, TypeError, KeyError) as error:
            raise UnreadableAnswer(f"unreadable answer from {self.url}: {error!r}") from None

    async def create_service(self, spec: ServiceSpec) -> str:
        return await self._create("services", to_builtins(spec))

    async def update_service(
        self, service: Service, spec: ServiceSpec | None = None, rollback: bool = False
    ) -> None:
        params = {"version": str(service.version.index)}
        if rollback:
            params["rollback"] = "previous"
        value = to_builtins(spec or service.spec)
        await self._send("POST", f"services/{service.id}/update", params, value)

    async def remove_service(self, service_id: str) -> None:
        await self._send("DELETE", f"services/{service_id}")

    async def create_network(self, request: NetworkCreateRequest) -> str:
        """Creates a network; its ID."""
        return await self._create("networks", to_builtins(request), key="Id")  # dockerd's

    async def remove_network(self, network_id: str) -> None:
        await self._send("DELETE", f"networks/{network_id}")

    async def create_secret(self, spec: SecretSpec) -> str:
        """Creates a secret (its data sent base64, as the API takes it); its ID."""
        return await self._create("secrets", to_builtins(spec))

    async def create_config(self, spec: ConfigSpec) -> str:
        return await self._create("configs", to_builtins(spec))

    async def remove_secret(self, secret_id: str) -> None:
        await self._send("DELETE", f"secrets/{secret_id}")

    async def remove_config(self, config_id: str) -> None:
        await self._send("DELETE", f"configs/{config_id}")

    # Streams.

    async def logs(
        self,
        kind: str,
        object_id: str,
        tail: int | None = 200,
        since: float | None = None,
        follow: bool = False,
    ) -> AsyncGenerator[LogEntry, None]:
        """Log lines of a service or task (``kind`` "services" or "tasks"), oldest first.

        Leaving the iteration (``aclose()``, cancelling) closes the stream at the endpoint.
        """
        async with contextlib.aclosing(
            self.log_batches(kind, object_id, tail, since, follow)
        ) as batches:
            async for batch in batches:
                for entry in batch:
                    yield entry

    async def log_batches(
        self,
        kind: str,
        object_id: str,
        tail: int | None = 200,
        since: float | None = None,
        follow: bool = False,
    ) -> AsyncGenerator[list[LogEntry], None]:
        """``logs``, as lists of the lines each read brought: a flood costs a step per read,
        not per line."""
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
        async with self._asking("GET", f"{kind}/{object_id}/logs", params, stream=True) as answer:
            muxed = True
            buffer = b""
            async for chunk in answer.chunks():
                entries, buffer, muxed = _take_entries(buffer + chunk, muxed)
                if entries:
                    yield entries

    async def events(
        self, since: float | None = None, until: float | None = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The swarm's events (service and node create, update, remove), as they happen."""
        params = {"filters": json.dumps({"type": ["service", "node"]})}
        if since is not None:
            params["since"] = f"{since:.9f}"
        if until is not None:
            params["until"] = f"{until:.9f}"
        async with self._asking(
            "GET", "events", params, stream=True, failed=STREAM_ENDED
        ) as answer:
            buffer = b""
            async for chunk in answer.chunks():
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    if line.strip():
                        yield self._event(line)
            if buffer.strip():
                yield self._event(buffer)

    def _event(self, line: bytes) -> dict[str, Any]:
        try:
            event = json.loads(line)
        except ValueError as error:
            raise UnreadableAnswer(STREAM_ENDED.format(url=self.url, error=error)) from None
        if not isinstance(event, dict):
            error_text = f"an event is not an object: {line[:80]!r}"
            raise UnreadableAnswer(STREAM_ENDED.format(url=self.url, error=error_text))
        return event


@contextlib.asynccontextmanager
async def open_client(url: str, tls: ssl.SSLContext | None = None) -> AsyncIterator[EngineClient]:
    """A client of ``url``, an ``ssh://`` one through ``ssh_bridge`` as the docker CLI
    reaches it; closed, and its bridge ended, on the way out."""
    async with contextlib.AsyncExitStack() as stack:
        if url.startswith("ssh://"):
            url = await stack.enter_async_context(ssh_bridge(url))
        client = EngineClient(url, tls)
        stack.push_async_callback(client.close)
        yield client


def _label_filter(label: str | None) -> dict[str, str]:
    """The query that keeps what has ``label``; none without one."""
    return {"filters": json.dumps({"label": [label]})} if label else {}


def _without_data(secret: Secret) -> Secret:
    return replace(secret, spec=replace(secret.spec, data=None))


def _api_error(status: int, body: bytes) -> APIError:
    """The error an error answer means, with the endpoint's ``{"message": ...}`` as message."""
    try:
        said = json.loads(body)
    except ValueError:
        said = None
    if isinstance(said, dict) and isinstance(said.get("message"), str):
        message = said["message"]
    else:
        message = body.decode("utf-8", "replace").strip() or f"the endpoint answered {status}"
    return NotFound(message) if status == 404 else APIError(message, status)


def _take_entries(buffer: bytes, muxed: bool) -> tuple[list[LogEntry], bytes, bool]:
    """Every whole log line in ``buffer`` (multiplexed frames, or raw lines from a TTY
    service, as ``split_frame`` tells them), the rest of it, and whether it is multiplexed.
    The buffer is read where it lies, and cut once: a chunk of many lines costs no copies."""
    entries: list[LogEntry] = []
    at = 0
    while True:
        stream, payload, at, muxed = split_frame(buffer, muxed, at)
        if payload is None:
            return entries, buffer[at:], muxed
        entries.append(_parse_line(stream, payload.decode("utf-8", "replace")))


TASK_DETAIL = "com.docker.swarm.task.id="
NODE_DETAIL = "com.docker.swarm.node.id="


def _parse_line(stream: str, line: str) -> LogEntry:
    """``<timestamp> <k=v,...> <text>`` as the daemon writes with timestamps and details."""
    line = line.rstrip("\n")
    stamp, _, rest = line.partition(" ")
    moment = _moment(stamp)
    if moment is None:
        moment, rest = 0.0, line
    details, _, text = rest.partition(" ")
    task = _detail(details, TASK_DETAIL)
    if task is None:
        return LogEntry(moment, stream, "", "", rest)
    return LogEntry(moment, stream, task, _detail(details, NODE_DETAIL) or "", text)


def _detail(details: str, key: str) -> str | None:
    """The value of ``key`` (with its ``=``) in ``k=v,k=v``, or None."""
    at = details.find(key)
    if at < 0 or (at and details[at - 1] != ","):
        return None
    start = at + len(key)
    end = details.find(",", start)
    return details[start:] if end < 0 else details[start:end]


def _moment(stamp: str) -> float | None:
    """The Unix time of a timestamp; as the daemon writes them (``...T00:00:00.123456789Z``),
    with the whole seconds looked up once per second. None when it is not a timestamp."""
    if len(stamp) == 30 and stamp[19] == "." and stamp[29] == "Z" and stamp[20:29].isdigit():
        whole = _second(stamp[:19])
        if whole is not None:
            return whole + int(stamp[20:29]) / 1e9
    try:
        return parse_timestamp(stamp)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)
def _second(prefix: str) -> float | None:
    try:
        return parse_timestamp(prefix + "Z")
    except ValueError:
        return None
