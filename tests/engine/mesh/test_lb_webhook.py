"""The webhook posts a service's endpoints when they change, retries a failing receiver, and the
latest state arrives; a local aiohttp server is the receiver."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from engine.api.codec import encode
from engine.mesh.lb import Endpoints, WebhookNotifier, build_endpoints
from tests.engine.mesh.conftest import Start, eventually, free_port
from tests.engine.mesh.test_lb import (
    NODES,
    make_service,
    make_task,
    port,
)


class Receiver:
    """An HTTP server that records what is posted; the next ``failures`` posts get a 500."""

    def __init__(self) -> None:
        self.posts: list[tuple[int, Any]] = []  # (status answered, body)
        self.failures = 0
        self.url = ""

    @property
    def accepted(self) -> list[Any]:
        return [body for status, body in self.posts if status == 204]

    async def handle(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/json"
        status = 204
        if self.failures:
            self.failures -= 1
            status = 500
        self.posts.append((status, await request.json()))
        return web.Response(status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, bound = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{bound}/hook"
    yield receiver
    await runner.cleanup()


def swarm(web_replicas: int, *others: str) -> Endpoints:
    """``web`` with that many running tasks, and a service publishing a port per other name."""
    services = [make_service()] + [
        make_service(f"s-{name}", name, ports=[port(9000 + at)]) for at, name in enumerate(others)
    ]
    tasks = [make_task(f"t{i}", "n1", f"10.0.0.{10 + i}/24") for i in range(web_replicas)]
    return build_endpoints(services, tasks, NODES)


def body(endpoints: Endpoints, name: str = "web") -> Any:
    """What the receiver should get for ``name``: the documented JSON."""
    [service] = [service for service in endpoints.services if service.name == name]
    return json.loads(encode(service))


def names(bodies: list[Any]) -> list[str]:
    return [posted["Name"] for posted in bodies]


async def test_a_change_posts_the_new_state_and_no_change_posts_nothing(
    receiver: Receiver, start: Start
) -> None:
    notifier = start(WebhookNotifier(receiver.url))
    notifier.update(swarm(1))
    await eventually(lambda: receiver.accepted == [body(swarm(1))], "the first state")

    notifier.update(swarm(1))  # nothing changed
    notifier.update(swarm(1, "db"))  # only db changed: db appears
    await eventually(lambda: len(receiver.accepted) == 2, "db's post")
    notifier.update(swarm(1, "db"))
    notifier.update(swarm(3, "db"))  # only web changed: scaled to 3
    await eventually(lambda: len(receiver.accepted) == 3, "web's second post")
    assert receiver.accepted == [body(swarm(1)), body(swarm(1, "db"), "db"), body(swarm(3))]
    assert [len(posted["Ports"][0]["Tasks"]) for posted in receiver.accepted] == [1, 0, 3]


async def test_a_removed_service_is_posted_with_no_ports_once(
    receiver: Receiver, start: Start
) -> None:
    notifier = start(WebhookNotifier(receiver.url))
    notifier.update(swarm(2, "db"))
    await eventually(lambda: len(receiver.accepted) == 2, "both services")
    notifier.update(swarm(2))
    await eventually(lambda: len(receiver.accepted) == 3, "db's removal")
    notifier.update(swarm(2))
    notifier.update(swarm(1))
    await eventually(lambda: len(receiver.accepted) == 4, "web's next change")
    assert receiver.accepted[2:] == [{"ID": "s-db", "Name": "db", "Ports": []}, body(swarm(1))]


async def test_a_failing_receiver_is_retried_and_the_latest_state_arrives(
    receiver: Receiver, start: Start
) -> None:
    receiver.failures = 3
    notifier = start(WebhookNotifier(receiver.url, backoff=0.05))
    notifier.update(swarm(1))
    await eventually(lambda: receiver.posts, "a first, failed, post")
    notifier.update(swarm(3))  # a burst while the receiver fails: the latest wins
    notifier.update(swarm(2))
    await eventually(lambda: receiver.accepted, "a post that got through")
    assert receiver.accepted == [body(swarm(2))]
    assert [status for status, _ in receiver.posts] == [500, 500, 500, 204]
    assert receiver.posts[0][1] == body(swarm(1))


async def test_a_change_given_up_after_its_attempts_does_not_stop_the_next_one(
    receiver: Receiver, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="engine.mesh.lb.webhook")
    receiver.failures = 100
    notifier = start(WebhookNotifier(receiver.url, attempts=3, backoff=0.01))
    notifier.update(swarm(1, "db", "cache"))
    gave_up = lambda: [r for r in caplog.records if "gave up" in r.getMessage()]  # noqa: E731
    await eventually(lambda: len(gave_up()) == 3, "three services given up")
    assert len(receiver.posts) == 9  # three attempts each, no more

    receiver.failures = 0
    notifier.update(swarm(2, "db", "cache"))
    # The receiver records a post before its answer reaches the notifier, which then logs.
    again = "answering again; 3 changes were given up meanwhile"
    await eventually(lambda: again in caplog.text, "the notifier hearing the next change taken")
    assert receiver.accepted == [body(swarm(2))]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"webhook {receiver.url}: answered 500; each change is tried 3 times"
    ]
    assert all(r.exc_info is None for r in caplog.records)


async def test_an_unreachable_receiver_is_logged_once_without_its_secrets(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="engine.mesh.lb.webhook")
    free = free_port()
    notifier = start(
        WebhookNotifier(
            f"http://lb:hunter2@127.0.0.1:{free}/hook?token=s3cret", attempts=2, backoff=0.01
        )
    )
    notifier.update(swarm(1, "db"))
    await eventually(
        lambda: sum("gave up" in r.getMessage() for r in caplog.records) == 2, "both given up"
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0] == (
        f"webhook http://127.0.0.1:{free}/hook: cannot connect: Connection refused; "
        "each change is tried 2 times"
    )
    assert "hunter2" not in caplog.text and "s3cret" not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://lb:hunter2@example.test/hook",
        "lb:hunter2@example.test/hook",
        "http:///hook",
        "http://lb:hunter2@/hook",
        "http://[::1",
    ],
)
def test_a_webhook_url_that_is_not_http_is_refused_without_echoing_secrets(url: str) -> None:
    with pytest.raises(ValueError, match="invalid webhook URL") as refused:
        WebhookNotifier(url)
    assert "hunter2" not in str(refused.value)
