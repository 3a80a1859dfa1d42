"""How EngineClient reaches an endpoint: the Transport protocol and its two HTTP transports.

A Transport sends one request and hands back the answer as it is, whatever its status:
judging the answer (error statuses, JSON, log frames) is the client's job. When the endpoint
cannot be reached, or the connection drops while it answers, a transport raises OSError
(ConnectionError, TimeoutError and kin) and nothing else, so that the client can tell a
failed exchange from a failed answer without knowing the transport.

    HTTPTransport   aiohttp on ``unix://``, ``tcp://``, ``http://`` or ``https://``
    AppTransport    an aiohttp application served in this process, for tests and demos
    FakeTransport   scripted answers, for tests (engine.client.fake)

aiohttp takes a good part of a second to load, so nothing here imports it until the first
request: the console draws its first frame without waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

__all__ = ["API_VERSION", "AppTransport", "HTTPTransport", "Response", "Transport"]

API_VERSION = "v1.41"  # Docker Engine 20.10's API: what our engine serves, any swarm speaks it
# Seconds an ordinary request may take in all. A manager lists 10,000 tasks in well under a
# second; one that has not answered in 30 s is stuck, and saying so beats a frozen console.
REQUEST_TIMEOUT = 30.0
CONNECTING_TIMEOUT = REQUEST_TIMEOUT  # a stream has no total limit, but connecting has
SHUTDOWN_TIMEOUT = 1.0  # seconds AppTransport's open streams (logs -f, events) get to end


class Response(Protocol):
    """An answer: its status and headers at once, its body when read."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    async def read(self) -> bytes:
        """The whole body."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, in pieces of any size (for streams)."""
        ...


class Transport(Protocol):
    """Sends requests to one endpoint; raises OSError when the exchange itself fails."""

    @property
    def url(self) -> str:
        """Where the endpoint is, for messages."""
        ...

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        versioned: bool = True,
    ) -> AbstractAsyncContextManager[Response]:
        """The answer to ``method path`` while the block runs.

        Args:
            path: from the API's root without the version, such as ``/nodes`` or ``/_ping``.
            versioned: the transport puts the API version before ``path`` (not for
                ``/_ping`` and ``/metrics``, which have none).
            stream: the answer may never end (``logs`` with follow, ``events``): no time
                limit, and leaving the block closes the connection, so that the endpoint
                sees the stream end.
        """
        ...

    async def close(self) -> None:
        """Lets go of connections; a request after this opens new ones."""
        ...


class HTTPTransport:
    """The Engine API over HTTP with aiohttp: ``unix://PATH``, ``tcp://HOST:PORT`` (HTTPS when
    ``tls`` is given, as the docker CLI does), ``http://`` or ``https://``.

    No connection is made before the first request. Raises ValueError for any other URL
    (an ``ssh://`` target goes through engine.client.ssh_bridge, which gives a unix URL).
    """

    def __init__(
        self, url: str, tls: ssl.SSLContext | None = None, *, api_version: str = API_VERSION
    ) -> None:
        scheme, _, rest = url.partition("://")
        self._socket: str | None = None
        if scheme == "unix" and rest:
            self._socket, self._base = rest, "http://localhost"  # the host is not looked at
        elif scheme == "tcp" and rest:
            self._base = f"{'https' if tls else 'http'}://{rest}".rstrip("/")
        elif scheme in ("http", "https") and rest:
            self._base = url.rstrip("/")
        else:
            raise ValueError(f"unsupported URL {url!r}: use unix://, tcp://, http:// or https://")
        self._url = url
        self._tls = tls
        self._prefix = f"/{api_version}"
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return self._url

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None:
            connector: aiohttp.BaseConnector
            if self._socket is not None:
                connector = aiohttp.UnixConnector(path=self._socket)
            else:
                connector = aiohttp.TCPConnector(ssl=self._tls or True)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    @contextlib.asynccontextmanager
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        versioned: bool = True,
    ) -> AsyncIterator[Response]:
        import aiohttp

        if stream:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECTING_TIMEOUT)
        else:
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        url = self._base + (self._prefix if versioned else "") + path
        try:
            response = await self._open().request(
                method, url, params=params, data=body, headers=headers, timeout=timeout
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _failure(error) from error
        try:
            yield _AiohttpResponse(response)
        finally:
            if stream:
                response.close()  # not back to the pool: the endpoint must see the stream end
            else:
                response.release()
                await response.wait_for_close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class _AiohttpResponse:
    """aiohttp's answer as a Response, its failures turned into OSError."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    async def read(self) -> bytes:
        import aiohttp

        try:
            return await self._response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _failure(error) from error

    async def chunks(self) -> AsyncIterator[bytes]:
        import aiohttp

        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _failure(error) from error


def _failure(error: BaseException) -> OSError:
    """What a transport raises for one of aiohttp's failures: an OSError saying what failed."""
    if isinstance(error, TimeoutError):
        return TimeoutError(str(error) or f"no answer within {REQUEST_TIMEOUT:g} s")
    if isinstance(error, OSError):
        return error
    return ConnectionError(str(error) or type(error).__name__)


class AppTransport:
    """An aiohttp application (such as ``engine.httpapi.app.make_app(cluster)``) served in this
    process, reached as any endpoint is: over HTTP, through an HTTPTransport.

    The application is served on a unix socket in a private temporary directory (mode 0700)
    from the first request, or from ``start()``, until ``close()``, which also removes the
    directory::

        async with AppTransport(make_app(cluster)) as transport:
            client = EngineClient(transport=transport)
            nodes = await client.nodes()
    """

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._starting = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._workdir: Path | None = None
        self._http: HTTPTransport | None = None

    @property
    def url(self) -> str:
        return self._http.url if self._http is not None else "unix://(not started)"

    async def start(self) -> None:
        """Serves the application, unless it is served already."""
        from aiohttp import web

        async with self._starting:
            if self._http is not None:
                return
            workdir = Path(tempfile.mkdtemp(prefix="swarmdeck-app-"))  # made with mode 0700
            runner = web.AppRunner(
                self._app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
            )
            try:
                await runner.setup()
                socket = workdir / "engine.sock"
                await web.UnixSite(runner, str(socket)).start()
            except BaseException:
                await runner.cleanup()
                shutil.rmtree(workdir, ignore_errors=True)
                raise
            self._workdir, self._runner = workdir, runner
            self._http = HTTPTransport(f"unix://{socket}")

    @contextlib.asynccontextmanager
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        versioned: bool = True,
    ) -> AsyncIterator[Response]:
        await self.start()
        assert self._http is not None
        async with self._http.request(
            method,
            path,
            params=params,
            body=body,
            headers=headers,
            stream=stream,
            versioned=versioned,
        ) as response:
            yield response

    async def close(self) -> None:
        """Stops serving and removes the socket's directory; a request after this serves the
        application again."""
        async with self._starting:
            http, runner, workdir = self._http, self._runner, self._workdir
            self._http = self._runner = self._workdir = None
            if http is not None:
                await http.close()  # first, so that the application sees its streams end
            if runner is not None:
                await runner.cleanup()
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
