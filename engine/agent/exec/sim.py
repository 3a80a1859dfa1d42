"""The simulated executor: containers that pull, start, run, log, use CPU and exit, in memory.

A container records the secret and config files its task mounts (where, whose, which mode), while
it runs; it reads a file's data only when its command reads the file (``cat``), as a real one
would.

Everything is deterministic from a seed. Failures are injected with labels; see
engine.api.simlabels.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import shlex
from collections import deque
from collections.abc import Callable, Iterator, Mapping

from engine.agent.exec import UNHEALTHY, ExitError, TaskError
from engine.agent.exec.simcommand import Program, parse
from engine.agent.exec.simcontent import SimContent
from engine.agent.exec.simweb import Answer, PortServers, serve_ports
from engine.agent.exec.taskfiles import Dependency
from engine.api.durations import parse_timestamp
from engine.api.logs import LogLine, keep_in_order, line_time, lines_between
from engine.api.naming import task_name
from engine.api.objects import ContainerStatus, Service, Task
from engine.api.secrets import TaskFile, task_files
from engine.api.simlabels import SimBehaviour, effective_health
from engine.api.types import TaskState
from engine.clock import Clock
from engine.pace import Pace

__all__ = ["SimContainer", "SimExecutor"]

log = logging.getLogger(__name__)
START_TIME = 0.5  # seconds from "starting" to "started"
STOP_TIME = 0.2  # seconds a container takes to stop
FIRST_PULL = (1.0, 3.0)  # seconds, the range of a first pull of an image on a node
EPSILON = 1e-6  # seconds; float slack when comparing a timer's moment with its deadline
SERVED_LINES = 10_000  # lines a container keeps of the traffic it answered


class SimContainer:
    """One simulated container: its id, when it started and stopped, and its content."""

    def __init__(self, task: Task, seed: int) -> None:
        digest = hashlib.sha256(f"{seed}:{task.id}".encode()).hexdigest()
        self.id = digest
        self.task_id = task.id
        self.service_id = task.service_id
        self.image = _image(task)
        self.pid = 0
        self.exit_code: int | None = None
        self.content: SimContent | None = None
        self.stopped: float | None = None
        self.health: str | None = None  # "starting", "healthy" or "unhealthy" with a check
        self.failing_streak = 0
        self.next_probe: float | None = None
        self._seed = seed
        self._pid = 1000 + int(digest[:6], 16) % 60000
        behaviour = SimBehaviour.from_labels(_labels(task))
        self.say = behaviour.say
        self.log_every = behaviour.log_every
        # Set when a line comes that was not known ahead: one about traffic it answered.
        self.listeners: set[asyncio.Event] = set()
        # What it wrote as it ran: the traffic it answered, what its command printed.
        self.served: deque[LogLine] = deque(maxlen=SERVED_LINES)
        self.ports: PortServers | None = None  # while it listens (``SimExecutor.listen``)
        container = task.spec.container_spec
        self._argv = [*(container.command or ()), *(container.args or ())] if container else []
        # A command it runs for real (``echo hello``); None: it runs on as a long-lived process.
        self.program: Program | None = parse(
            container.command if container else None, container.args if container else None
        )
        self.process: asyncio.Future[int] | None = None  # the program, while it runs
        self._files = task_files(container.secrets, container.configs) if container else []
        self.files: list[TaskFile] = []  # its secrets and configs, mounted while it runs

    def write(self, moment: float, text: str, stream: str = "stdout") -> None:
        """A line it wrote as it ran; whoever follows its log is told."""
        keep_in_order(self.served, LogLine(moment, stream, text))
        for listener in self.listeners:
            listener.set()

    def start(self, moment: float) -> None:
        self.pid = self._pid
        self.files = self._files
        self.content = SimContent(
            self._seed, self.task_id, self.image, moment, self.say, self.log_every
        )
        if self.program is None and self._argv:
            self.write(moment, f"swarmdeck: {shlex.join(self._argv)}: not simulated, runs on")

    def stop(self, moment: float, code: int) -> None:
        if self.process is not None and not self.process.done():
            self.process.cancel()
        if self.ports is not None:
            self.ports.close()
            self.ports = None
        self.pid = 0
        self.files = []
        self.exit_code = code
        self.stopped = moment

    def status(self) -> ContainerStatus:
        return ContainerStatus(container_id=self.id, pid=self.pid, exit_code=self.exit_code)

    @property
    def started(self) -> float | None:
        return self.content.started if self.content else None

    def lines(self, since: float, until: float) -> Iterator[LogLine]:
        """What it wrote in ``[since, until)``, oldest first, made as it is read; nothing
        after it stopped."""
        if self.content is None:
            return iter(())
        until = self._before_stop(until)
        lines = self.content.lines(since, until) if self.program is None else iter(())
        if not self.served:
            return lines
        return heapq.merge(lines, lines_between(self.served, since, until), key=line_time)

    def lines_newest_first(self, since: float, until: float) -> Iterator[LogLine]:
        """``lines`` backwards: the last lines before ``until`` are found without the others."""
        if self.content is None:
            return iter(())
        until = self._before_stop(until)
        lines = self.content.lines_newest_first(since, until) if self.program is None else iter(())
        if not self.served:
            return lines
        served = reversed(lines_between(self.served, since, until))
        return heapq.merge(lines, served, key=line_time, reverse=True)

    def written_until(self, moment: float) -> float:
        """Everything it wrote before ``moment`` is known at ``moment``: it is computed."""
        return moment

    def next_line_at(self, moment: float) -> float | None:
        """When it writes its next line at or after ``moment``; None if it will not."""
        if self.content is None or self.program is not None:
            return None  # not started, or not known ahead: ``listeners`` are told
        at = self.content.next_line_at(moment)
        return None if self.stopped is not None and at >= self.stopped else at

    def _before_stop(self, until: float) -> float:
        return until if self.stopped is None else min(until, self.stopped)

    def usage(self, moment: float) -> tuple[float, int] | None:
        """CPU seconds used so far and memory in use at ``moment``; None unless running."""
        if self.content is None or self.stopped is not None:
            return None
        return self.content.cpu_seconds(moment), self.content.memory_bytes(moment)


class SimExecutor:
    """The executor of one simulated node. ``containers`` keeps them until they are removed."""

    def __init__(
        self,
        node_name: str,
        seed: int,
        clock: Clock,
        pace: Pace | None = None,
        *,
        address: str | None = None,
        service: Callable[[str], Service | None] = lambda service_id: None,
        dependency: Dependency = lambda dependency_id: None,
    ) -> None:
        """``pace`` is the line a container takes its turn in when it wakes (the agents'):
        thousands that were started together wake together.

        With an ``address`` (the node's), each running container listens there on a port of
        its own for every target port its service publishes (``service`` finds the service
        by ID), and answers what comes (``simweb``); ``endpoint`` says where. ``dependency``
        finds a secret or config by ID, for a command that reads a file its task mounts."""
        self.node_name = node_name
        self.address = address
        self.service = service
        self.dependency = dependency
        self.seed = seed
        self.clock = clock
        self.pace = pace or Pace(clock)
        self.images: set[str] = set()
        self.containers: dict[str, SimContainer] = {}

    async def sleep(self, seconds: float) -> None:
        """Waits ``seconds``, then for its turn."""
        await self.clock.sleep(seconds)
        await self.pace.turn()

    def controller(self, task: Task) -> SimController:
        return SimController(self, task)

    def endpoint(self, task_id: str, target_port: int, protocol: str) -> tuple[str, int] | None:
        """Where the running container of ``task_id`` answers ``target_port``, if it does."""
        container = self.containers.get(task_id)
        ports = container.ports if container is not None else None
        return ports.endpoints.get((target_port, protocol)) if ports is not None else None

    async def listen(self, container: SimContainer, task: Task) -> None:
        """Opens the container's ports, if its node has an address and its service publishes
        any; a port that cannot be opened is logged, and the container runs on without it."""
        if self.address is None or container.ports is not None or container.exit_code is not None:
            return
        service = self.service(task.service_id)
        endpoint = service.endpoint if service is not None else None
        published = (endpoint.ports if endpoint is not None else None) or ()
        ports = sorted({(p.target_port, p.protocol or "tcp") for p in published if p.target_port})
        if service is None or not ports:
            return
        answer = Answer(
            task_name(service.spec.name or service.id, task), self.node_name, container.image
        )
        try:
            container.ports = await serve_ports(
                self.address, ports, answer, self.clock.time, container.write
            )
        except OSError as error:
            log.warning("%s: cannot listen on %s: %s", answer.task, self.address, error)

    def pull_time(self, image: str) -> float:
        low, high = FIRST_PULL
        digest = hashlib.blake2b(f"{self.seed}:{self.node_name}:{image}".encode()).digest()
        return low + (high - low) * int.from_bytes(digest[:8], "big") / 2**64


class SimController:
    def __init__(self, executor: SimExecutor, task: Task) -> None:
        self._executor = executor
        self._clock = executor.clock
        self._sleep = executor.sleep
        self._task = task
        self._behaviour = SimBehaviour.from_labels(_labels(task))
        self._health = effective_health(task.spec.container_spec)
        self._container = executor.containers.get(task.id)
        if self._container is None and task.status.state >= TaskState.RUNNING:
            self._adopt(task)

    def _adopt(self, task: Task) -> None:
        """Takes over a container that was running before the agent (re)started."""
        container = SimContainer(task, self._executor.seed)
        stamp = task.status.timestamp
        container.start(parse_timestamp(stamp) if stamp else self._clock.time())
        self._executor.containers[task.id] = container
        self._executor.images.add(container.image)
        self._container = container

    def _ensure(self) -> SimContainer:
        if self._container is None:
            self._container = SimContainer(self._task, self._executor.seed)
            self._executor.containers[self._task.id] = self._container
        return self._container

    async def prepare(self) -> None:
        behaviour = self._behaviour
        image = _image(self._task)
        if image not in self._executor.images:
            pull = behaviour.pull_time
            await self._sleep(self._executor.pull_time(image) if pull is None else pull)
            if behaviour.pull_error:
                raise TaskError(behaviour.pull_error)
            self._executor.images.add(image)
        elif behaviour.pull_error:
            raise TaskError(behaviour.pull_error)
        self._ensure()

    async def start(self) -> None:
        container = self._ensure()
        if container.content is None:
            await self._sleep(START_TIME)
            if self._behaviour.start_error:
                container.stop(self._clock.time(), 128)
                raise TaskError(self._behaviour.start_error)
            container.start(self._clock.time())
            container.health = "starting" if self._health else None
        self._run_program(container)
        await self._executor.listen(container, self._task)  # before it is RUNNING
        if self._health is not None and container.health != "healthy":
            await self._live(container, until_healthy=True)  # STARTING until the first pass
            if container.exit_code:
                raise ExitError(container.exit_code)

    async def wait(self) -> None:
        container = self._ensure()
        if container.content is None:
            container.start(self._clock.time())
        self._run_program(container)
        await self._executor.listen(container, self._task)
        if container.exit_code is None:
            await self._live(container, until_healthy=False)
        if container.exit_code:
            raise ExitError(container.exit_code)

    def _run_program(self, container: SimContainer) -> None:
        """Starts the container's command, if it runs one, once."""
        program = container.program
        if program is None or container.process is not None or container.exit_code is not None:
            return
        clock = self._clock

        def write(stream: str, text: str) -> None:
            container.write(clock.time(), text, stream)

        files = _Mounted(container.files, self._executor.dependency)
        container.process = asyncio.ensure_future(program.run(write, self._sleep, files))

    async def _live(self, container: SimContainer, until_healthy: bool) -> None:
        """Runs the container's life: health probes and its exit, whichever comes first.

        Returns when it exits, or (``until_healthy``) when a probe first passes.

        Raises:
            TaskError: ``retries`` probes in a row failed after the start period.
        """
        assert container.content is not None
        started = container.content.started
        behaviour = self._behaviour
        health = self._health
        exit_at = None if behaviour.exit_after is None else started + behaviour.exit_after
        if health is not None and container.next_probe is None:
            first = started + health.interval
            now = self._clock.time()
            container.next_probe = first if first > now else now + health.interval
        process = container.process
        while True:
            due = [t for t in (exit_at, container.next_probe) if t is not None]
            if process is not None:
                if await self._ended(process, min(due) if due else None):
                    container.stop(self._clock.time(), process.result())
                    return
            elif not due:
                await asyncio.Event().wait()  # runs until told to stop
            else:
                await self._sleep(min(due) - self._clock.time())
            now = self._clock.time()
            if exit_at is not None and now >= exit_at - EPSILON:
                container.stop(now, behaviour.exit_code or 0)
                return
            assert health is not None and container.next_probe is not None
            container.next_probe += health.interval
            if behaviour.probe_passes(now - started):
                container.failing_streak = 0
                container.health = "healthy"
                if until_healthy:
                    return
            elif now - started >= health.start_period:
                container.failing_streak += 1
                if container.failing_streak >= health.retries:
                    container.health = "unhealthy"
                    container.stop(now, 137)  # the agent kills an unhealthy container
                    raise TaskError(UNHEALTHY)

    async def _ended(self, process: asyncio.Future[int], until: float | None) -> bool:
        """Waits for the program to end, or until ``until``; whether it ended."""
        if until is None:
            await asyncio.wait((process,))
            return True
        sleep = asyncio.ensure_future(self._sleep(until - self._clock.time()))
        try:
            await asyncio.wait((process, sleep), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
        return process.done()

    async def shutdown(self) -> None:
        container = self._container
        if container is None or container.exit_code is not None:
            return
        if container.content is not None:
            await self._sleep(STOP_TIME)
        container.stop(self._clock.time(), 0)

    async def remove(self) -> None:
        container = self._executor.containers.pop(self._task.id, None)
        if container is not None and container.ports is not None:
            container.ports.close()
            container.ports = None

    def container_status(self) -> ContainerStatus | None:
        return self._container.status() if self._container else None


def _labels(task: Task) -> dict[str, str] | None:
    container = task.spec.container_spec
    return container.labels if container else None


class _Mounted(Mapping[str, bytes]):
    """A running container's secret and config files by path; a file's data is read from its
    secret or config when the command reads the file, and is gone with it."""

    def __init__(self, files: list[TaskFile], dependency: Dependency) -> None:
        self._files = {file.path: file for file in files}
        self._dependency = dependency

    def __getitem__(self, path: str) -> bytes:
        source = self._dependency(self._files[path].source_id)
        if source is None or source.spec.data is None:
            raise KeyError(path)
        return source.spec.data

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


def _image(task: Task) -> str:
    container = task.spec.container_spec
    return (container.image if container else None) or ""
