"""The docker executor: a node that is a Docker Engine, whose tasks run as real containers.

Each step maps onto the engine as swarm's own container adapter does: prepare pulls the image
(unless present) and creates the container, start starts it and waits for its first healthy
check when it has one, wait returns when it exits (a non-zero code fails the task) or fails it
when a health check turns unhealthy, shutdown stops it within its grace period, remove deletes
it. Restarting is not done here: a failed task is replaced by the orchestrator, by the service's
restart policy, as in swarm.

Containers are named as swarm names them (``web.1.<task id>``) and labelled with their service,
task and node (``swarmdeck.*``). ``load()`` finds the node's containers before the agent starts,
so after an engine restart a task takes over its container instead of starting another, and
removes those whose task is gone or finished. An unhealthy container is stopped as its task
fails. An engine that stops answering is a dead node: its calls wait for it rather than fail
the tasks.

While a container runs, its log lines (a bounded buffer) and its CPU and memory use are followed
from the engine, so the API can serve them as it does a simulated container's.

A task's secrets and configs are files written on this host and bind-mounted into its container
(``taskfiles``): they exist from its creation until it stops.

For the routing mesh, a container binds its service's target ports on ports its engine picks
(``dockerconfig``), read back from its inspection: ``endpoint`` says where a task answers, the
node's address and that port, as Docker Engines without swarm mode (no overlay network, no
IPVS) can be reached from other nodes. ``locate`` finds the node's address and, for an engine
in a network namespace of its own, the namespace where the mesh serves the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from engine.agent.exec import UNHEALTHY, ExitError, TaskError
from engine.agent.exec.dockerconfig import (
    LABELS,
    container_config,
    container_name,
    grace_seconds,
    port_key,
)
from engine.agent.exec.taskfiles import Dependency, TaskFiles, default_root
from engine.api.durations import SECOND, parse_timestamp
from engine.api.logs import LogLine, keep_in_order, lines_between, split_frame
from engine.api.objects import (
    ContainerStatus,
    EngineDescription,
    NodeDescription,
    Platform,
    Service,
    Task,
)
from engine.api.secrets import TaskFile
from engine.api.specs import ResourceObject
from engine.api.types import TaskState
from engine.api.usage import container_usage
from engine.mesh.netns import NetNamespace, engine_namespace, first_address_outside

__all__ = ["LABELS", "DockerContainer", "DockerExecutor"]

log = logging.getLogger(__name__)

API_VERSION = "v1.41"
ENGINE_RETRY = 1.0  # seconds between looks at an engine that stopped answering
HEALTH_POLL = 0.5  # seconds between looks at a starting container's health
LOG_LINES = 10_000  # lines kept per container
ENGINE_ERRORS = (DockerError, aiohttp.ClientError, OSError, TimeoutError)
# aiodocker's status for "Cannot connect to Docker Engine": a connection error it turned into
# a DockerError, not an answer of the engine.
CANNOT_CONNECT = 900


class DockerContainer:
    """A task's container as the API shows it, with what is followed from the engine."""

    def __init__(self, container_id: str, task_id: str, image: str) -> None:
        self.id = container_id
        self.task_id = task_id
        self.image = image
        self.pid = 0
        self.exit_code: int | None = None
        self.health: str | None = None
        self.started: float | None = None
        self._lines: deque[LogLine] = deque(maxlen=LOG_LINES)  # oldest first
        self.listeners: set[asyncio.Event] = set()  # each is set when lines come
        self._usage: tuple[float, int] | None = None
        self._followers: list[asyncio.Task[None]] = []
        self.files: list[TaskFile] = []  # its secrets and configs, while they are there
        self.ports: dict[str, int] = {}  # the node's port of each bound one (``80/tcp``)

    def update(self, inspected: dict[str, Any]) -> None:
        """Takes the state from ``GET /containers/{id}/json``."""
        self.ports = _bound_ports((inspected.get("NetworkSettings") or {}).get("Ports"))
        state = inspected.get("State", {})
        self.pid = int(state.get("Pid") or 0)
        running = state.get("Running", False)
        self.exit_code = (
            None if running or state.get("Status") == "created" else state.get("ExitCode")
        )
        health = state.get("Health")
        self.health = health.get("Status") if health else None
        started = state.get("StartedAt", "")
        if started and not started.startswith("0001-"):
            self.started = parse_timestamp(started)

    def lines(self, since: float, until: float) -> Iterator[LogLine]:
        """The kept lines in ``[since, until)``, oldest first."""
        return iter(lines_between(self._lines, since, until))

    def lines_newest_first(self, since: float, until: float) -> Iterator[LogLine]:
        """``lines`` backwards."""
        return reversed(lines_between(self._lines, since, until))

    def written_until(self, moment: float) -> float:
        """Just after its latest line: its lines come late (the engine sends them after writing
        them), but in order, so a line before it that is not here yet will not come."""
        return math.nextafter(self._lines[-1].time, math.inf) if self._lines else -math.inf

    def next_line_at(self, moment: float) -> float | None:
        """Not known ahead: ``listeners`` are told when lines come."""
        return None

    def _keep(self, line: LogLine) -> None:
        """Keeps ``line`` in time order: the engine's stdout and stderr may interleave late."""
        keep_in_order(self._lines, line)

    def usage(self, moment: float) -> tuple[float, int] | None:
        return self._usage if self.exit_code is None else None

    def status(self) -> ContainerStatus:
        return ContainerStatus(container_id=self.id, pid=self.pid, exit_code=self.exit_code)

    def follow(self, docker: aiodocker.Docker) -> None:
        """Follows its log lines and usage from ``docker`` until it stops or is removed."""
        if all(follower.done() for follower in self._followers):
            self._followers = [
                asyncio.create_task(self._follow_logs(docker)),
                asyncio.create_task(self._follow_usage(docker)),
            ]

    def stop_following(self) -> None:
        for follower in self._followers:
            follower.cancel()
        self._followers = []

    async def _follow_logs(self, docker: aiodocker.Docker) -> None:
        params = {"follow": "1", "stdout": "1", "stderr": "1", "timestamps": "1"}
        seen = self._lines[-1].time if self._lines else None
        if seen is not None:  # following again (the engine was away): from where it stopped
            params["since"] = f"{seen:.9f}"
        with contextlib.suppress(*ENGINE_ERRORS):
            async with docker._query(
                f"containers/{self.id}/logs", params=params, timeout=None
            ) as response:
                buffer, muxed = b"", True
                async for chunk in response.content.iter_any():
                    buffer, at = buffer + chunk, 0
                    while True:
                        stream, payload, at, muxed = split_frame(buffer, muxed, at)
                        if payload is None:
                            break
                        line = _log_line(stream, payload)
                        if seen is None or line.time > seen:
                            self._keep(line)
                    buffer = buffer[at:]
                    for listener in self.listeners:  # a follower wakes once for the lot
                        listener.set()

    async def _follow_usage(self, docker: aiodocker.Docker) -> None:
        with contextlib.suppress(*ENGINE_ERRORS, ValueError):
            async with docker._query(
                f"containers/{self.id}/stats", params={"stream": "1"}, timeout=None
            ) as response:
                async for line in response.content:
                    if line.strip():
                        self._usage = container_usage(json.loads(line))


class DockerExecutor:
    """The executor of one node whose engine is at ``url`` (unix://, tcp:// or http://).

    ``service`` finds a service by its ID, for container names and labels and the ports it
    publishes (SwarmKit's tasks carry their service's annotations and endpoint for this);
    ``dependency`` a secret or config by its ID, for the files of the tasks that mount them;
    those are written under ``taskfiles.default_root()``, a tmpfs.

    Attributes:
        address: the node's address, where its containers' bound ports answer (``locate``).
        netns: the engine's network namespace when it is not this process's (``locate``).
        dns: the name servers its containers ask, the node's resolver (none: the engine's).
    """

    def __init__(
        self,
        url: str,
        service: Callable[[str], Service | None],
        dependency: Dependency = lambda dependency_id: None,
    ) -> None:
        self.url = url
        self._service = service
        self.files = TaskFiles(default_root(), dependency)
        self.node_id = ""
        self.containers: dict[str, DockerContainer] = {}
        self.docker = aiodocker.Docker(
            url=url.replace("tcp://", "http://", 1), api_version=API_VERSION
        )
        self._bridge: bool | None = None
        self.address: str | None = None
        self.netns: NetNamespace | None = None
        self.dns: list[str] = []

    async def close(self) -> None:
        for container in self.containers.values():
            container.stop_following()
        await self.docker.close()
        if self.netns is not None:
            self.netns.close()
            self.netns = None

    async def locate(self) -> None:
        """Finds where the node is reached: for an engine on a unix socket whose process runs
        in a network namespace of its own (a node of ``swarmdeck lab``), that namespace, and the
        node's address in it, its first one outside the engine's own networks (not a bridge of
        its containers). Another engine's address is its URL's host, or one given by its
        cluster.

        Raises:
            ConnectionError: the engine's namespace holds no address to reach the node at.
            OSError, DockerError: the engine cannot be reached, or its namespace not entered.
        """
        url = urllib.parse.urlsplit(self.url)
        if url.scheme != "unix" or self.netns is not None:
            return
        try:
            self.netns = engine_namespace(url.path)
        except PermissionError as error:  # not root: the engine is taken to share ours
            log.warning(
                "the network namespace of the engine at %s is not known: %s", self.url, error
            )
            return
        if self.netns is None:
            return
        networks = await self.docker.networks.list()
        subnets = [
            config["Subnet"]
            for network in networks
            for config in (network.get("IPAM") or {}).get("Config") or ()
            if config.get("Subnet")
        ]
        self.address = first_address_outside(self.netns.addresses(), subnets)
        if self.address is None:
            raise ConnectionError(
                f"the engine's network namespace ({self.netns.path}) has no address outside "
                "its own networks to reach the node at"
            )

    def endpoint(self, task_id: str, target_port: int, protocol: str) -> tuple[str, int] | None:
        """Where the running container of ``task_id`` answers ``target_port``: the node's
        address and the port it is bound on, if it is."""
        container = self.containers.get(task_id)
        if container is None or self.address is None or container.exit_code is not None:
            return None
        port = container.ports.get(port_key(target_port, protocol))
        return (self.address, port) if port else None

    async def alive(self) -> bool:
        """Whether the engine answers: a node whose engine is gone is a dead node."""
        try:
            async with self.docker._query("_ping", versioned_api=False, timeout=2) as response:
                return response.status == 200
        except ENGINE_ERRORS:
            return False

    async def describe(self, hostname: str) -> NodeDescription:
        """The node as its engine describes itself: CPUs, memory, platform, engine version."""
        info = await self.docker.system.info()
        return NodeDescription(
            hostname=hostname,
            platform=Platform(architecture=info.get("Architecture"), os=info.get("OSType")),
            resources=ResourceObject(
                nano_cpus=int(info.get("NCPU", 0)) * SECOND, memory_bytes=info.get("MemTotal")
            ),
            engine=EngineDescription(engine_version=info.get("ServerVersion")),
        )

    async def load(self, node_id: str, tasks: Mapping[str, Task]) -> None:
        """Finds this node's containers on the engine, so their tasks take them over.

        Reconciles them with ``tasks`` (the cluster's, by ID) first: a container whose task
        is gone (deleted while the engine was down) or has finished (stopped, failed, shut
        down) is stopped and removed, so only containers of tasks meant to run are left.
        """
        self.node_id = node_id
        found = await self.docker.containers.list(
            all=True, filters=json.dumps({"label": [f"{LABELS['node']}={node_id}"]})
        )
        for summary in found:
            task_id = (summary["Labels"] or {}).get(LABELS["task"], "")
            task = tasks.get(task_id)
            if task is None or task.status.state > TaskState.RUNNING:
                await summary.delete(force=True, v=True)
                self.files.remove(task_id)
                continue
            container = DockerContainer(summary.id, task_id, summary["Image"])
            await self.refresh(container)
            self.containers[task_id] = container
            if container.exit_code is None and container.pid:
                container.follow(self.docker)

    def controller(self, task: Task) -> DockerController:
        return DockerController(self, task)

    async def has_bridge(self) -> bool:
        if self._bridge is None:
            networks = await self.call(
                "networks", lambda: self.docker.networks.list(filters={"name": ["bridge"]})
            )
            self._bridge = any(n.get("Name") == "bridge" for n in networks)
        return self._bridge

    async def call(self, what: str, action: Callable[[], Awaitable[Any]]) -> Any:
        """Runs one engine call; the engine's error becomes the task's error.

        An engine that cannot be reached is a node that is gone: a dead node reports nothing,
        so the call waits until the engine answers again and then runs once more (meanwhile
        the node stops heartbeating, and the manager replaces its tasks elsewhere).
        """
        while True:
            try:
                return await action()
            except DockerError as error:
                if error.status != CANNOT_CONNECT:
                    raise TaskError(f"{what}: {error.message}") from None
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            while not await self.alive():
                await asyncio.sleep(ENGINE_RETRY)

    async def refresh(self, container: DockerContainer) -> None:
        inspected = await self.call(
            "inspect", lambda: self.docker.containers.container(container.id).show()
        )
        container.update(inspected)

    async def create(self, task: Task) -> DockerContainer:
        spec = task.spec.container_spec
        image = (spec.image if spec else None) or ""
        if not image:
            raise TaskError("no image in the task's container spec")

        async def present() -> bool:
            try:
                await self.docker.images.inspect(image)
            except DockerError as error:
                if error.status == 404:
                    return False
                raise
            return True

        if not await self.call(f"image {image}", present):
            await self.call(f"No such image: {image}", lambda: self.docker.images.pull(image))
        name = self._name(task)
        files = self.files.write(task)
        config = container_config(
            task,
            image,
            name,
            self.node_id,
            self._service(task.service_id),
            await self.has_bridge(),
            [(file.path, str(path)) for file, path in files],
            self.dns,
        )

        async def make() -> Any:
            try:
                return await self.docker.containers.create(config, name=name)
            except DockerError as error:
                if error.status != 409:  # 409: made already, by a step that was interrupted
                    raise
                return await self.docker.containers.get(name)

        try:
            created = await self.call("create", make)
        except BaseException:
            self.files.remove(task.id)
            raise
        container = DockerContainer(created.id, task.id, image)
        container.files = [file for file, _ in files]
        self.containers[task.id] = container
        return container

    def stopped(self, container: DockerContainer) -> None:
        """The container stopped: its task's files go."""
        self.files.remove(container.task_id)
        container.files = []

    def _name(self, task: Task) -> str:
        service = self._service(task.service_id)
        return container_name((service.spec.name if service else None) or task.service_id, task)


class DockerController:
    def __init__(self, executor: DockerExecutor, task: Task) -> None:
        self._executor = executor
        self._task = task
        self._container = executor.containers.get(task.id)

    async def prepare(self) -> None:
        if self._container is None:
            self._container = await self._executor.create(self._task)

    async def start(self) -> None:
        container = self._container or await self._executor.create(self._task)
        self._container = container
        await self._executor.refresh(container)
        if not container.pid and container.exit_code is None:
            docker = self._executor.docker
            await self._executor.call(
                "starting container failed",
                lambda: docker.containers.container(container.id).start(),
            )
            await self._executor.refresh(container)
        container.follow(self._executor.docker)
        while container.health == "starting":  # RUNNING only once a check passes
            await asyncio.sleep(HEALTH_POLL)
            await self._executor.refresh(container)
        await self._check(container)

    async def wait(self) -> None:
        container = self._container
        if container is None:
            raise TaskError("the container is gone")
        container.follow(self._executor.docker)
        while True:
            await self._executor.refresh(container)
            if container.exit_code is not None:
                self._executor.stopped(container)
            await self._check(container)
            if container.exit_code is not None:
                return
            if container.health is None:
                await self._wait_exit(container)
            else:
                await asyncio.sleep(HEALTH_POLL)

    async def _wait_exit(self, container: DockerContainer) -> None:
        docker = self._executor.docker
        await self._executor.call(
            "wait", lambda: docker.containers.container(container.id).wait(timeout=None)
        )

    async def _check(self, container: DockerContainer) -> None:
        """Fails the task if the container exited non-zero, or went unhealthy (and then stops
        it, as swarm's agent does, so an unhealthy container never runs on beside its
        replacement)."""
        if container.health == "unhealthy":
            await self.shutdown()
            raise TaskError(UNHEALTHY)
        if container.exit_code:
            raise ExitError(container.exit_code)

    async def shutdown(self) -> None:
        container = self._container
        if container is None:
            return
        spec = self._task.spec.container_spec
        grace = grace_seconds(spec.stop_grace_period if spec else None)
        docker = self._executor.docker
        with contextlib.suppress(TaskError):  # gone already, or stopped: shut down either way
            await self._executor.call(
                "stop", lambda: docker.containers.container(container.id).stop(t=grace)
            )
            await self._executor.refresh(container)
        self._executor.stopped(container)

    async def remove(self) -> None:
        container = self._executor.containers.pop(self._task.id, None)
        self._executor.files.remove(self._task.id)
        if container is None:
            return
        container.stop_following()
        docker = self._executor.docker
        with contextlib.suppress(TaskError):  # gone already
            await self._executor.call(
                "remove",
                lambda: docker.containers.container(container.id).delete(force=True, v=True),
            )

    def container_status(self) -> ContainerStatus | None:
        return self._container.status() if self._container else None


def _bound_ports(ports: dict[str, list[dict[str, str]] | None] | None) -> dict[str, int]:
    """``NetworkSettings.Ports`` as the node's port of each bound container port (the IPv4
    binding's where there are two)."""
    bound = {}
    for key, bindings in (ports or {}).items():
        numbers = [
            int(binding["HostPort"])
            for binding in sorted(bindings or (), key=lambda b: ":" in b.get("HostIp", ""))
            if binding.get("HostPort", "").isdigit()
        ]
        if numbers:
            bound[key] = numbers[0]
    return bound


def _log_line(stream: str, payload: bytes) -> LogLine:
    text = payload.decode("utf-8", "replace").rstrip("\n")
    stamp, _, rest = text.partition(" ")
    try:
        return LogLine(parse_timestamp(stamp), stream, rest)
    except ValueError:
        return LogLine(0.0, stream, text)
