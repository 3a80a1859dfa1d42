"""The docker executor against a stand-in Docker Engine API on 127.0.0.1 (no Docker needed):
an absent image is pulled before the container is made, a failed pull rejects the task with the
engine's words, a container made already by an interrupted step is taken over, and an engine
that goes away is waited for instead of failing the task."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

import engine.agent.exec.docker as docker_module
from engine.agent.exec import do_step
from engine.agent.exec.docker import LABELS, DockerExecutor
from engine.api.objects import Service, Task, TaskStatus
from engine.api.specs import ContainerSpec, ServiceSpec, TaskSpec
from engine.api.types import TaskState

TIMEOUT = 30.0  # seconds a condition gets before the test fails
PREPARING = TaskStatus(state=TaskState.PREPARING, message="preparing")


class FakeEngine:
    """The few Engine API calls preparing a task makes, with a record of each call.

    ``pull_error`` makes a pull fail as the engine reports it: in the progress stream after a
    200 (``"stream"``) or as an error status (``"status"``). ``hold_pull`` keeps a pull's
    stream open after its first line, until the engine is stopped.
    """

    def __init__(self) -> None:
        self.images: set[str] = set()
        self.containers: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.pull_error: tuple[str, str] | None = None
        self.hold_pull = False
        self.pull_started = asyncio.Event()
        self.port = 0
        self._ids = (f"c{n:063d}" for n in itertools.count(1))
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Serves the API, on the port it had before if it had one."""
        app = web.Application()
        app.router.add_get("/_ping", self._ping)
        app.router.add_get("/v1.41/images/{name:.+}/json", self._image)
        app.router.add_post("/v1.41/images/create", self._pull)
        app.router.add_get("/v1.41/networks", self._networks)
        app.router.add_post("/v1.41/containers/create", self._create)
        app.router.add_get("/v1.41/containers/{ref}/json", self._inspect)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Goes away: open connections are cut, new ones refused."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def created(self) -> list[str]:
        """Names of the containers made, in order."""
        return [c["Name"].lstrip("/") for c in self.containers.values()]

    def add_container(self, name: str, image: str) -> str:
        container_id = next(self._ids)
        self.containers[container_id] = {
            "Id": container_id,
            "Name": f"/{name}",
            "Image": image,
            "Config": {"Image": image, "Labels": {}},
            "State": {"Status": "created", "Running": False, "Pid": 0, "ExitCode": 0},
        }
        return container_id

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="OK", headers={"Api-Version": "1.41"})

    async def _image(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.calls.append(f"inspect image {name}")
        if name not in self.images:
            return _error(404, f"No such image: {name}")
        return web.json_response({"Id": "sha256:" + "0" * 64, "RepoTags": [name]})

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        image, tag = request.query["fromImage"], request.query.get("tag")
        name = f"{image}:{tag}" if tag else image
        self.calls.append(f"pull {name}")
        if self.pull_error is not None and self.pull_error[0] == "status":
            return _error(404, self.pull_error[1])
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await _line(response, {"status": f"Pulling from library/{image}", "id": tag})
        if self.pull_error is not None:
            error = self.pull_error[1]
            await _line(response, {"errorDetail": {"message": error}, "error": error})
            return response
        if self.hold_pull:
            self.pull_started.set()
            await asyncio.Event().wait()  # until the engine goes away
        self.images.add(name)
        await _line(response, {"status": f"Status: Downloaded newer image for {name}"})
        return response

    async def _networks(self, request: web.Request) -> web.Response:
        return web.json_response([{"Name": "bridge", "Id": "b" * 64, "Driver": "bridge"}])

    async def _create(self, request: web.Request) -> web.Response:
        name = request.query["name"]
        config = await request.json()
        self.calls.append(f"create {name}")
        for container in self.containers.values():
            if container["Name"] == f"/{name}":
                return _error(
                    409,
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{container["Id"]}". You have to remove (or rename) that container to be '
                    "able to reuse that name.",
                )
        image = config["Image"] if ":" in config["Image"] else f"{config['Image']}:latest"
        if image not in self.images:
            return _error(404, f"No such image: {image}")
        container_id = self.add_container(name, config["Image"])
        self.containers[container_id]["Config"] = config
        return web.json_response({"Id": container_id, "Warnings": []}, status=201)

    async def _inspect(self, request: web.Request) -> web.Response:
        reference = request.match_info["ref"]
        self.calls.append(f"inspect container {reference}")
        for container in self.containers.values():
            if reference in (container["Id"], container["Name"].lstrip("/")):
                return web.json_response(container)
        return _error(404, f"No such container: {reference}")


def _error(status: int, message: str) -> web.Response:
    body = json.dumps({"message": message}).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


async def _line(response: web.StreamResponse, message: dict[str, Any]) -> None:
    await response.write(json.dumps(message).encode() + b"\r\n")


def make_task(image: str = "nginx:1.10", task_id: str = "t1") -> Task:
    return Task(
        id=task_id,
        service_id="s1",
        slot=1,
        spec=TaskSpec(container_spec=ContainerSpec(image=image)),
        desired_state=TaskState.RUNNING,
    )


SERVICE = Service(id="s1", spec=ServiceSpec(name="web"))


@pytest.fixture
async def engine() -> AsyncIterator[FakeEngine]:
    fake = FakeEngine()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def executor(engine: FakeEngine) -> AsyncIterator[DockerExecutor]:
    docker = DockerExecutor(engine.url, lambda service_id: SERVICE)
    docker.node_id = "n1"
    try:
        yield docker
    finally:
        await docker.close()


async def prepare(executor: DockerExecutor, task: Task) -> TaskStatus | None:
    """One step of the agent from PREPARING: READY when prepared, REJECTED if it cannot be."""
    return await do_step(task, PREPARING, executor.controller(task), now=0.0)


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Waits until ``condition()`` holds: the engine runs on real time."""
    try:
        async with asyncio.timeout(TIMEOUT):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {TIMEOUT}s waiting for {what}") from None


async def test_an_absent_image_is_pulled_then_the_container_made(
    engine: FakeEngine, executor: DockerExecutor
) -> None:
    status = await prepare(executor, make_task())
    assert status is not None
    assert (status.state, status.message, status.err) == (TaskState.READY, "prepared", None)
    assert engine.calls == [
        "inspect image nginx:1.10",
        "pull nginx:1.10",
        "create web.1.t1",
    ]
    (made,) = engine.containers.values()
    assert made["Config"]["Image"] == "nginx:1.10"
    assert made["Config"]["Labels"][LABELS["task"]] == "t1"
    assert executor.containers["t1"].id == made["Id"]
    # The image is there now: the next task of it is not pulled again.
    engine.calls.clear()
    status = await prepare(executor, make_task(task_id="t2"))
    assert status is not None and status.state == TaskState.READY
    assert engine.calls == ["inspect image nginx:1.10", "create web.1.t2"]


async def test_an_image_without_a_tag_is_pulled_as_latest(
    engine: FakeEngine, executor: DockerExecutor
) -> None:
    status = await prepare(executor, make_task(image="busybox"))
    assert status is not None and status.state == TaskState.READY
    assert "pull busybox:latest" in engine.calls


@pytest.mark.parametrize("how", ["stream", "status"])
async def test_a_failed_pull_rejects_the_task_with_the_engines_words(
    engine: FakeEngine, executor: DockerExecutor, how: str
) -> None:
    denied = (
        "pull access denied for nope, repository does not exist or may require "
        "'docker login': denied: requested access to the resource is denied"
    )
    engine.pull_error = (how, denied)
    status = await prepare(executor, make_task(image="nope:1"))
    assert status is not None
    assert status.state == TaskState.REJECTED
    assert status.err is not None and denied in status.err
    assert engine.created() == []


async def test_a_container_made_by_an_interrupted_step_is_taken_over(
    engine: FakeEngine, executor: DockerExecutor
) -> None:
    engine.images.add("nginx:1.10")
    existing = engine.add_container("web.1.t1", "nginx:1.10")
    status = await prepare(executor, make_task())
    assert status is not None and status.state == TaskState.READY
    assert engine.calls[-2:] == ["create web.1.t1", "inspect container web.1.t1"]
    assert engine.created() == ["web.1.t1"]  # no second container
    assert executor.containers["t1"].id == existing


async def watch_pings(
    executor: DockerExecutor, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], list[bool]]:
    """Records what each look at the engine (``alive()``) found; the looks come fast."""
    monkeypatch.setattr(docker_module, "ENGINE_RETRY", 0.02)
    seen: list[bool] = []
    look: Callable[[], Awaitable[bool]] = executor.alive

    async def alive() -> bool:
        answer = await look()
        seen.append(answer)
        return answer

    monkeypatch.setattr(executor, "alive", alive)
    return lambda: seen


async def test_an_engine_that_refuses_connections_is_waited_for(
    engine: FakeEngine, executor: DockerExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = await watch_pings(executor, monkeypatch)
    await engine.stop()
    step = asyncio.create_task(prepare(executor, make_task()))
    await eventually(lambda: step.done() or len(pings()) >= 3, "looks at the gone engine")
    assert not step.done(), step.result()  # waiting, not failed
    assert not any(pings())
    await engine.start()
    status = await asyncio.wait_for(step, TIMEOUT)
    assert pings()[-1]  # it went on once the engine answered its ping
    assert status is not None
    assert (status.state, status.err) == (TaskState.READY, None)
    assert engine.created() == ["web.1.t1"]


async def test_an_engine_that_goes_away_during_a_pull_is_waited_for(
    engine: FakeEngine, executor: DockerExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = await watch_pings(executor, monkeypatch)
    engine.hold_pull = True
    step = asyncio.create_task(prepare(executor, make_task()))
    await asyncio.wait_for(engine.pull_started.wait(), TIMEOUT)
    await engine.stop()  # cuts the pull's stream
    await eventually(lambda: step.done() or len(pings()) >= 3, "looks at the gone engine")
    assert not step.done(), step.result()
    engine.hold_pull = False
    await engine.start()
    status = await asyncio.wait_for(step, TIMEOUT)
    assert status is not None
    assert (status.state, status.err) == (TaskState.READY, None)
    assert engine.calls.count("pull nginx:1.10") == 2  # pulled again once it was back
    assert engine.created() == ["web.1.t1"]
