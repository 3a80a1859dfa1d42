"""Posts a service's endpoints to a URL whenever they change (``--lb-webhook URL``).

Each change of a service's endpoints is one ``POST`` to the URL, ``Content-Type:
application/json``, whose body is the service's ``ServiceEndpoints``::

    {"ID": "9tqz...", "Name": "web",
     "Ports": [{"PublishedPort": 8080, "TargetPort": 80, "Protocol": "tcp",
                "PublishMode": "ingress", "NodeAddrs": ["127.0.1.1", "127.0.1.2"],
                "Tasks": [{"TaskID": "x3c0...", "NodeID": "4pzk...", "Addr": "10.0.0.5",
                           "Port": 80}]}]}

``"Ports": []`` says the service is gone, or publishes nothing any more. When the notifier
starts, every service is posted once: the receiver may have missed changes meanwhile. Nothing is
posted for a service whose endpoints did not change.

Any 2xx answer acknowledges a post. A post that fails (no connection, a timeout, any other
status) is tried again after 0.25 s, 0.5 s, 1 s... up to ``attempts`` tries in all, each time
with the service's latest endpoints: a burst of changes while a post is on its way (or waiting
to be retried) is one more post, of the latest state. After the last try the change is given
up; the service's next change is posted as usual. An outage is logged twice: when it starts and
when the receiver answers again (with the number of changes given up meanwhile). The URL is
logged without its credentials or query.
"""

from __future__ import annotations

import asyncio
import logging
import os

import aiohttp
import yarl

from engine.api.codec import encode
from engine.mesh.lb.endpoints import Endpoints, ServiceEndpoints

__all__ = ["WebhookNotifier"]

log = logging.getLogger(__name__)

ATTEMPTS = 5  # tries of one change: with BACKOFF, the last is ~4 s after the first
BACKOFF = 0.25  # seconds before the first retry, doubled for each next one
TIMEOUT = 5.0  # seconds one post may take, connecting included
CONCURRENCY = 4  # posts on their way at once: a node going down changes every ingress service


class WebhookNotifier:
    """Posts each service whose endpoints changed to ``url``.

    ``update`` records the latest endpoints and returns at once; ``run`` posts until cancelled.

    Raises:
        ValueError: ``url`` is not an http or https URL with a host, or ``attempts`` < 1.
    """

    def __init__(
        self,
        url: str,
        *,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        timeout: float = TIMEOUT,
    ) -> None:
        try:
            parsed = yarl.URL(url)
        except ValueError:
            raise ValueError("invalid webhook URL: must be http(s)://host/...") from None
        if parsed.scheme not in ("http", "https"):  # the URL itself is not echoed: secrets
            raise ValueError(f"invalid webhook URL: its scheme is {parsed.scheme!r}, not http(s)")
        if not parsed.host:
            raise ValueError("invalid webhook URL: it names no host")
        if attempts < 1:
            raise ValueError(f"invalid attempts {attempts}: must be at least 1")
        self._url = parsed
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = timeout
        self._latest: dict[str, ServiceEndpoints] = {}  # a removed service: until posted
        self._delivered: dict[str, ServiceEndpoints] = {}
        self._pending: dict[str, None] = {}  # services whose latest is not posted, in order
        self._posting: set[str] = set()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._outage = ""  # the error that started the current outage; "" when posts succeed
        self._given_up = 0

    def update(self, endpoints: Endpoints) -> None:
        """Makes ``endpoints`` the latest state; each service it changes is posted soon."""
        current = {service.id: service for service in endpoints.services}
        for gone in self._latest.keys() - current.keys():
            if self._latest[gone].ports:
                current[gone] = ServiceEndpoints(id=gone, name=self._latest[gone].name, ports=())
        for service_id, service in current.items():
            if self._latest.get(service_id) != service:
                self._latest[service_id] = service
                self._pending[service_id] = None
        if self._pending:
            self._wake.set()

    async def run(self) -> None:
        """Posts every change, until cancelled."""
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        headers = {"User-Agent": "swarmdeck"}
        async with (
            aiohttp.ClientSession(timeout=timeout, headers=headers) as http,
            asyncio.TaskGroup() as posts,
        ):
            while True:
                await self._wake.wait()
                self._wake.clear()
                for service_id in list(self._pending):
                    if service_id not in self._posting:
                        self._posting.add(service_id)
                        posts.create_task(self._deliver(http, service_id))

    async def _deliver(self, http: aiohttp.ClientSession, service_id: str) -> None:
        """Posts the service's latest endpoints until they are acknowledged or given up."""
        failures = 0
        try:
            while service_id in self._pending:
                del self._pending[service_id]
                service = self._latest[service_id]
                if service == self._delivered.get(service_id):
                    continue
                async with self._slots:
                    error = await self._post(http, service)
                if not error:
                    self._delivered[service_id] = service
                    self._forget_if_removed(service)
                    continue
                failures += 1
                if failures >= self._attempts:
                    log.debug("webhook %s: gave up on %s: %s", _shown(self._url), service.id, error)
                    self._given_up += 1
                    self._forget_if_removed(service)
                    return
                self._pending[service_id] = None  # tried again, with what is latest by then
                await asyncio.sleep(self._backoff * 2 ** (failures - 1))
        finally:
            self._posting.discard(service_id)

    async def _post(self, http: aiohttp.ClientSession, service: ServiceEndpoints) -> str:
        """One post; "" when acknowledged, else what went wrong, in a few words."""
        try:
            async with http.post(
                self._url, data=encode(service), headers={"Content-Type": "application/json"}
            ) as answer:
                await answer.read()
                error = "" if 200 <= answer.status < 300 else f"answered {answer.status}"
        except TimeoutError:
            error = f"no answer within {self._timeout} s"
        except aiohttp.ClientConnectorError as failure:
            cause = failure.os_error
            error = f"cannot connect: {os.strerror(cause.errno) if cause.errno else cause}"
        except OSError as failure:  # aiohttp's ClientOSError too
            error = failure.strerror or type(failure).__name__
        except aiohttp.ClientError as failure:  # its text may hold the whole URL: not shown
            error = type(failure).__name__
        if error and not self._outage:
            log.warning(
                "webhook %s: %s; each change is tried %d times",
                _shown(self._url),
                error,
                self._attempts,
            )
            self._outage = error
        elif not error and self._outage:
            log.info(
                "webhook %s: answering again; %d changes were given up meanwhile",
                _shown(self._url),
                self._given_up,
            )
            self._outage, self._given_up = "", 0
        return error

    def _forget_if_removed(self, service: ServiceEndpoints) -> None:
        """Drops a removed service once its removal is posted (or given up), unless it is back."""
        if not service.ports and self._latest.get(service.id) == service:
            del self._latest[service.id]
            self._delivered.pop(service.id, None)


def _shown(url: yarl.URL) -> str:
    """The URL as logs show it: no user, password, query or fragment (they may hold secrets)."""
    return str(url.with_user(None).with_query(None).with_fragment(None))
