"""Keeps HAProxy's backends in step with the swarm through its runtime API, with no reload.

**How the backends come to exist.** HAProxy 2.6 (Debian 12's) cannot create a backend at
runtime, only servers in one. So each published TCP port has a backend named
``swarm_<port>_tcp`` (``backend_name``) that the operator declares once, empty, by including
the fragment ``haproxy_config`` writes (a frontend listening on the port and its backend), with
a stats socket at ``level admin`` in the global section; the backends balance ``roundrobin``
(dynamic servers need a dynamic algorithm: roundrobin, leastconn, first or random). The adapter
fills those backends with dynamic servers (``add server``, HAProxy 2.4 and later; 2.6 takes
them with no ``experimental-mode``) and empties them: one server per task, named by the task's
ID, at the task's endpoint (``target="tasks"``, the default); or one per node that answers on
the port, named by its address, at the published port (``target="nodes"``: HAProxy in front of
the routing mesh, as Docker's ingress docs show).

**Reconciling.** A pass reads what HAProxy holds (``show backend``, ``show servers state``)
and changes only the difference, so a restart of either side converges:

- a missing server is added (``add server B/S ADDR:PORT``) and then made ready (``set server
  B/S state ready``: dynamic servers start in maintenance); one whose address changed is moved
  (``set server B/S addr A port P``); one left in maintenance or drain is made ready again;
- a server no longer wanted is put in maintenance (``set server B/S state maint``: no new
  connections from that moment) and deleted (``del server``); HAProxy refuses to delete a server
  that still has connections attached, so it stays in maintenance until a later pass.

Servers are added before others are removed, so a rolling replacement never leaves a backend
empty. Every ``swarm_<port>_tcp`` backend is the adapter's: servers an operator adds to one are
removed. Other backends are never touched. A wanted backend HAProxy does not have is reported
once, and filled as soon as a reloaded HAProxy has it. UDP and SCTP ports are skipped (HAProxy
balances TCP), and so is a host-mode port published without a number (it has no frontend).

A pass talks over one connection in interactive mode (``prompt``), its commands sent in
batches: adding 1,000 servers takes about 0.2 s. It runs at once on every change (a few
milliseconds for a scale of a few tasks), every ``resync`` seconds to repair what changed on
HAProxy's side, and sooner while a server waits to be deleted or HAProxy is
unreachable; failures are logged once when they start and once when they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from engine.mesh.lb.endpoints import Endpoints

__all__ = ["HAProxyUpdater", "backend_name", "haproxy_config"]

log = logging.getLogger(__name__)

Target = Literal["tasks", "nodes"]

RESYNC = 5.0  # seconds between passes that repair HAProxy's side (a restarted HAProxy is empty)
RETRY = 0.5  # seconds before the first retry of a pass that left work, doubled up to RESYNC
COMMAND_TIMEOUT = 5.0  # seconds connecting, or one batch of commands, may take
PIPELINE = 64  # commands sent before their replies are read: a few kB either way
REPLY_LIMIT = 64 * 1024 * 1024  # bytes of one reply; `show servers state` is ~200 B a server

_BACKEND = re.compile(r"swarm_[0-9]+_tcp")
_SERVER_NAME = re.compile(r"[A-Za-z0-9_.:-]+")  # HAProxy's own rule for proxy and server names
_PROMPT = b"\n> "  # ends each reply in interactive mode
_MAINT, _DRAIN = 0x01, 0x08  # srv_admin_state bits set by `set server ... state maint|drain`


def backend_name(published_port: int, protocol: str = "tcp") -> str:
    """The backend that holds the servers of a published port: ``swarm_8080_tcp``."""
    return f"swarm_{published_port}_{protocol}"


def haproxy_config(
    ports: Iterable[int], *, bind_address: str = "", mode: Literal["tcp", "http"] = "tcp"
) -> str:
    """The haproxy.cfg fragment an operator includes once: per port a frontend and its backend.

    Args:
        ports: the published TCP ports HAProxy answers on.
        bind_address: the address the frontends listen on; all of the host's by default.
        mode: ``tcp`` passes connections through; ``http`` lets HAProxy read the requests.

    Raises:
        ValueError: a port outside 1-65535, a bind address that is not an IP address, or a
            mode HAProxy would not take.
    """
    if mode not in ("tcp", "http"):
        raise ValueError(f"invalid mode {mode!r}: must be tcp or http")
    if bind_address:
        try:
            ipaddress.ip_address(bind_address)
        except ValueError:
            raise ValueError(f"invalid bind address {bind_address!r}: not an IP address") from None
    chosen = sorted(set(ports))
    for port in chosen:
        if not 1 <= port <= 65535:
            raise ValueError(f"invalid published port {port}: must be in 1-65535")
    host = f"[{bind_address}]" if ":" in bind_address else bind_address
    lines = [
        "# swarmdeck: the backends --lb-haproxy keeps in step (servers are added at runtime).",
        "# The global section needs an admin stats socket, e.g.:",
        "#     stats socket /run/haproxy/admin.sock mode 600 level admin",
    ]
    for port in chosen:
        name = backend_name(port)
        lines += ["", f"frontend {name}", f"    mode {mode}", f"    bind {host}:{port}"]
        lines += [f"    default_backend {name}", "", f"backend {name}", f"    mode {mode}"]
        lines += ["    balance roundrobin"]
    return "\n".join(lines) + "\n"


class _Server(NamedTuple):
    addr: str
    port: int


class _Held(NamedTuple):
    """A server as ``show servers state`` reports it."""

    server: _Server
    admin_state: int


Servers = dict[str, dict[str, _Server]]  # backend -> server name -> where


class _Unreachable(Exception):
    """The runtime API did not answer (no socket, refused, timed out)."""


class HAProxyUpdater:
    """Keeps the ``swarm_<port>_tcp`` backends of one HAProxy in step with the endpoints.

    ``update`` records the latest endpoints and returns at once; ``run`` does the passes until
    cancelled.

    Raises:
        ValueError: ``target`` is neither ``tasks`` nor ``nodes``.
    """

    def __init__(
        self,
        socket: Path | str,
        *,
        target: Target = "tasks",
        resync: float = RESYNC,
        timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        if target not in ("tasks", "nodes"):
            raise ValueError(f"invalid target {target!r}: must be tasks or nodes")
        self._socket = str(socket)
        self._target: Target = target
        self._resync = resync
        self._timeout = timeout
        self._wanted: Servers = {}
        self._changed = asyncio.Event()
        self._failing = ""  # the error the last pass ended with, "" when it settled
        self._warned: set[str] = set()

    def update(self, endpoints: Endpoints) -> None:
        """Makes ``endpoints`` what the next pass converges to; a pass starts at once."""
        wanted = _wanted(endpoints, self._target)
        if wanted != self._wanted:
            self._wanted = wanted
            self._changed.set()

    async def run(self) -> None:
        """Reconciles on every change and every ``resync`` seconds, until cancelled."""
        retry = RETRY
        while True:
            self._changed.clear()
            settled = await self._pass(self._wanted)
            delay = self._resync if settled else retry
            retry = RETRY if settled else min(retry * 2, self._resync)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._changed.wait()

    async def _pass(self, wanted: Servers) -> bool:
        """One reconciliation; True when nothing is left to retry soon."""
        try:
            settled = await self._reconcile(wanted)
        except _Unreachable as error:
            if str(error) != self._failing:
                log.warning("haproxy at %s: %s", self._socket, error)
            self._failing = str(error)
            return False
        if self._failing:
            log.info("haproxy at %s: in step again", self._socket)
            self._failing = ""
        return settled

    async def _reconcile(self, wanted: Servers) -> bool:
        async with self._cli() as cli:
            backends_reply, state_reply = await cli.run(["show backend", "show servers state"])
            backends, held = _backends(backends_reply), _held(state_reply)
            problems = [
                f"haproxy at {self._socket} has no backend {backend}: include the fragment "
                "haproxy_config() writes for its port"
                for backend in sorted(wanted.keys() - backends)
            ]
            managed = sorted(name for name in backends if _BACKEND.fullmatch(name))
            keeping = [  # first add and ready what is wanted...
                command
                for backend in managed
                for name, server in sorted(wanted.get(backend, {}).items())
                for command in _keep(backend, name, server, held.get(backend, {}).get(name))
            ]
            removing = [  # ...then take out what is not
                command
                for backend in managed
                for name, had in sorted(held.get(backend, {}).items())
                if name not in wanted.get(backend, {})
                for command in _remove(backend, name, had)
            ]
            waiting = 0
            for commands in (keeping, removing):
                replies = await cli.run([command.text for command in commands])
                for command, reply in zip(commands, replies, strict=True):
                    if reply.startswith(command.accepts) if command.accepts else not reply:
                        continue
                    if command.text.startswith("del server"):  # connections still attached
                        log.debug("haproxy at %s: %r waits: %s", self._socket, command.text, reply)
                        waiting += 1
                    else:
                        first = reply.splitlines()[0] if reply else "no reply"
                        problems.append(f"haproxy at {self._socket}: {command.text!r}: {first}")
        for problem in problems:
            if problem not in self._warned:
                log.warning("%s", problem)
        self._warned = set(problems)  # a problem that ends and comes back is reported again
        return not problems and not waiting

    @contextlib.asynccontextmanager
    async def _cli(self) -> AsyncIterator[_CLI]:
        """A connection to the runtime API for one pass."""
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await asyncio.open_unix_connection(self._socket, limit=REPLY_LIMIT)
        except TimeoutError:
            raise _Unreachable(f"no answer within {self._timeout} s") from None
        except OSError as error:
            raise _Unreachable(error.strerror or str(error)) from None
        try:
            cli = _CLI(reader, writer, self._timeout)
            await cli.run(["prompt"])  # interactive: each reply ends with a prompt
            yield cli
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class _Command(NamedTuple):
    text: str
    accepts: tuple[str, ...] = ()  # reply beginnings that mean done; none: an empty reply


def _keep(backend: str, name: str, server: _Server, held: _Held | None) -> list[_Command]:
    """The commands that make one wanted server exist, at its address, ready."""
    where = f"{backend}/{name}"
    commands = []
    if held is None:
        host = f"[{server.addr}]" if ":" in server.addr else server.addr
        commands.append(
            _Command(f"add server {where} {host}:{server.port}", ("New server registered",))
        )
    elif held.server != server:
        commands.append(
            _Command(
                f"set server {where} addr {server.addr} port {server.port}",
                ("IP changed", "no need"),
            )
        )
    if held is None or held.admin_state & (_MAINT | _DRAIN):
        commands.append(_Command(f"set server {where} state ready"))
    return commands


def _remove(backend: str, name: str, held: _Held) -> list[_Command]:
    """The commands that take an unwanted server out of the rotation, then delete it."""
    where = f"{backend}/{name}"
    maint = [] if held.admin_state & _MAINT else [_Command(f"set server {where} state maint")]
    return [*maint, _Command(f"del server {where}", ("Server deleted",))]


class _CLI:
    """One runtime API connection in interactive mode: commands go in batches, replies come
    back in order, each ended by the prompt."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        self._reader, self._writer, self._timeout = reader, writer, timeout

    async def run(self, commands: Sequence[str]) -> list[str]:
        """The replies to ``commands``, stripped."""
        replies = []
        try:
            for start in range(0, len(commands), PIPELINE):
                batch = commands[start : start + PIPELINE]
                async with asyncio.timeout(self._timeout):
                    self._writer.write("".join(f"{command}\n" for command in batch).encode())
                    await self._writer.drain()
                    for _ in batch:
                        reply = await self._reader.readuntil(_PROMPT)
                        replies.append(reply[: -len(_PROMPT)].decode(errors="replace").strip())
        except TimeoutError:
            raise _Unreachable(f"no answer within {self._timeout} s") from None
        except asyncio.IncompleteReadError:
            raise _Unreachable("the runtime API closed the connection") from None
        except asyncio.LimitOverrunError:
            raise _Unreachable(f"a reply over {REPLY_LIMIT} bytes") from None
        except OSError as error:
            raise _Unreachable(error.strerror or str(error)) from None
        return replies


def _wanted(endpoints: Endpoints, target: Target) -> Servers:
    """The servers each backend should hold for ``endpoints``."""
    wanted: Servers = {}
    for service in endpoints.services:
        for port in service.ports:
            if port.protocol != "tcp" or not port.published_port:
                continue
            servers = wanted.setdefault(backend_name(port.published_port), {})
            if target == "tasks":
                for task in port.tasks:
                    servers[task.task_id] = _Server(task.addr, task.port)
            else:
                for addr in port.node_addrs:
                    servers[addr] = _Server(addr, port.published_port)
    for servers in wanted.values():  # names go into commands: never let one carry another
        for name in [name for name in servers if not _SERVER_NAME.fullmatch(name)]:
            log.debug("haproxy: skipped a server with an invalid name: %r", name)
            del servers[name]
    return wanted


def _backends(reply: str) -> set[str]:
    """The backend names of ``show backend``."""
    return {line.strip() for line in reply.splitlines() if line.strip() and line[0] != "#"}


def _held(reply: str) -> Mapping[str, dict[str, _Held]]:
    """The servers of ``show servers state``, by backend and name (columns found by header)."""
    held: dict[str, dict[str, _Held]] = {}
    columns: dict[str, int] = {}
    for line in reply.splitlines():
        if line.startswith("# "):
            columns = {name: at for at, name in enumerate(line[2:].split())}
            continue
        fields = line.split()
        if not columns or len(fields) != len(columns):
            continue  # the format version line, blank lines
        try:
            server = _Server(fields[columns["srv_addr"]], int(fields[columns["srv_port"]]))
            state = int(fields[columns["srv_admin_state"]])
            backend, name = fields[columns["be_name"]], fields[columns["srv_name"]]
        except (KeyError, ValueError):
            continue
        held.setdefault(backend, {})[name] = _Held(server, state)
    return held
