"""A real Docker swarm on this host, for trying the console on a real swarm and for tests.

    swarmdeck lab up [--nodes N]     # swarm-master, swarm-node-1, swarm-node-2 by default
    swarmdeck lab status             # the DOCKER_HOST to use and each node's own engine
    swarmdeck lab kill NODE          # the node loses power: its dockerd and containers die
    swarmdeck lab start NODE         # and comes back
    swarmdeck lab down               # removes everything the lab made

Each node is a network namespace with its own dockerd, in UTS and mount namespaces of its own
(its hostname and its mounts are its own), joined by a veth pair to a bridge in a hub namespace.
The lab's addresses exist only inside namespaces it made: the host's interfaces, routes and
firewall are never touched. Images come from the host's static busybox through ``docker
import`` (``local/busybox:1`` and ``:2``, for rolling updates), so no registry is needed.

Linux only, as root, with Docker Engine (``dockerd``), ``ip``, ``nsenter`` and ``unshare``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import docker
import docker.errors

__all__ = ["IMAGES", "Lab", "LabError", "LabNode", "check_host", "main"]

DEFAULT_DIR = Path(os.environ.get("SWARMDECK_LAB_DIR", "/var/lib/swarmdeck-lab"))
MANAGER = "swarm-master"
SUBNET = "10.213.0"  # inside the lab's own namespaces only
IMAGES = ("local/busybox:1", "local/busybox:2")
BUSYBOX = Path("/bin/busybox")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
TOOLS = ("dockerd", "ip", "nsenter", "unshare")
DAEMONS = ("dockerd", "containerd")  # a node's own processes (containerd-shim* included)


class LabError(Exception):
    """The lab cannot do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class LabNode:
    name: str
    address: str
    socket: str  # the node's own engine, unix://...

    @property
    def url(self) -> str:
        return self.socket


class Lab:
    """The lab kept in ``directory``: its state file, and one folder per node.

    Sockets and dockerd's exec-root live under a short path in /run instead: a unix socket's
    path must fit in 108 bytes, and containerd's sockets sit deep inside the exec-root.
    """

    def __init__(self, directory: Path = DEFAULT_DIR) -> None:
        self.directory = directory.resolve()
        digest = hashlib.sha1(str(self.directory).encode()).hexdigest()[:6]
        self._prefix = f"swarmdeck-{digest}"
        self._sockets = Path("/run") / self._prefix

    # What the lab is.

    @property
    def _state_file(self) -> Path:
        return self.directory / "lab.json"

    @property
    def exists(self) -> bool:
        return self._state_file.exists()

    @property
    def nodes(self) -> list[LabNode]:
        if not self.exists:
            raise LabError(f"no lab in {self.directory} (swarmdeck lab up makes one)")
        return [LabNode(**node) for node in json.loads(self._state_file.read_text())["nodes"]]

    @property
    def manager(self) -> LabNode:
        return self.node(MANAGER)

    def node(self, name: str) -> LabNode:
        for node in self.nodes:
            if node.name == name:
                return node
        names = ", ".join(node.name for node in self.nodes)
        raise LabError(f"no node {name!r} in the lab (its nodes: {names})")

    def endpoints(self) -> dict[str, str]:
        """Each node's hostname and its engine's URL, as the console's --node-engines reads."""
        return {node.name: node.url for node in self.nodes}

    # Making and removing it.

    def up(self, count: int = 3) -> list[LabNode]:
        """Makes a swarm of ``count`` nodes: one manager, the rest workers; all Ready."""
        check_host()
        if count < 1 or count > 50:
            raise LabError(f"--nodes must be between 1 and 50, not {count}")
        if self.exists:
            raise LabError(
                f"a lab already exists in {self.directory} (swarmdeck lab down removes it)"
            )
        names = [MANAGER, *(f"swarm-node-{index}" for index in range(1, count))]
        nodes = [
            LabNode(name, f"{SUBNET}.{10 + index}", f"unix://{self._sockets / name}/docker.sock")
            for index, name in enumerate(names, start=1)
        ]
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "daemon.json").write_text("{}\n")
        self._state_file.write_text(json.dumps({"nodes": [asdict(n) for n in nodes]}, indent=2))
        try:
            _run("ip", "netns", "add", self._netns("hub"))
            self._in_hub("ip", "link", "add", "br0", "type", "bridge")
            self._in_hub("ip", "link", "set", "br0", "up")
            for index, node in enumerate(nodes, start=1):
                self._wire(node, index)
                self.start(node.name)
            self._form_swarm(nodes)
        except BaseException:
            self.down()
            raise
        return nodes

    def down(self) -> None:
        """Stops every node (its containers first), removes the namespaces and the folder."""
        if not self.directory.exists():
            raise LabError(f"no lab in {self.directory}")
        check_host()
        names = [node.name for node in self.nodes] if self.exists else []
        self._stop(names)
        for name in [*names, "hub"]:
            if self._netns(name) in _netns_list():
                _run("ip", "netns", "delete", self._netns(name))
        shutil.rmtree(self._sockets, ignore_errors=True)
        shutil.rmtree(self.directory, ignore_errors=True)

    # One node.

    def start(self, name: str) -> None:
        """Starts the node's dockerd (again) and waits until it answers."""
        check_host()
        node = self.node(name)
        folder, run = self.directory / name, self._sockets / name
        folder.mkdir(exist_ok=True)
        run.mkdir(parents=True, exist_ok=True)
        if self._pids(name):
            raise LabError(f"{name} is running already")
        dockerd = [
            "dockerd",
            f"--config-file={self.directory / 'daemon.json'}",
            f"--host={node.socket}",
            f"--data-root={folder / 'data'}",
            f"--exec-root={run / 'exec'}",
            f"--pidfile={run / 'docker.pid'}",
            # The default bridge lives in the node's namespace; published ports reach it through
            # docker-proxy, since dockerd must leave the firewall alone.
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
        ]
        script = f"hostname {name} && exec {' '.join(dockerd)}"
        with (folder / "dockerd.log").open("ab") as log:
            subprocess.Popen(
                [
                    "nsenter",
                    f"--net=/run/netns/{self._netns(name)}",
                    "unshare",
                    "--uts",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    script,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._wait_engine(node)

    def kill(self, name: str) -> None:
        """The node loses power: dockerd, containerd and every container die at once."""
        check_host()
        self.node(name)
        pids = self._pids(name)
        if not pids:
            raise LabError(f"{name} is not running")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _wait_gone(pids, STOP_TIMEOUT)

    def client(self, name: str = MANAGER) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.node(name).url, timeout=30)

    def status(self) -> list[tuple[LabNode, str]]:
        """Each node and what it says of itself: its swarm state, or why it does not answer."""
        report = []
        for node in self.nodes:
            if not self._pids(node.name):
                report.append((node, "stopped"))
                continue
            try:
                with contextlib.closing(self.client(node.name)) as client:
                    swarm = client.info()["Swarm"]
                report.append((node, f"{swarm['LocalNodeState']} ({swarm['NodeAddr']})"))
            except (docker.errors.DockerException, OSError) as error:
                report.append((node, f"not answering: {error}"))
        return report

    # The parts.

    def _netns(self, name: str) -> str:
        return f"{self._prefix}-{name}"

    def _in_hub(self, *command: str) -> None:
        _run("ip", "netns", "exec", self._netns("hub"), *command)

    def _wire(self, node: LabNode, index: int) -> None:
        netns = self._netns(node.name)
        _run("ip", "netns", "add", netns)
        # Both ends are made inside namespaces of the lab: the host's own has no lab link.
        self._in_hub(
            "ip", "link", "add", f"v{index}", "type", "veth", "peer", "name", "eth0", "netns", netns
        )
        self._in_hub("ip", "link", "set", f"v{index}", "master", "br0", "up")
        for command in (
            ("ip", "addr", "add", f"{node.address}/24", "dev", "eth0"),
            ("ip", "link", "set", "eth0", "up"),
            ("ip", "link", "set", "lo", "up"),
        ):
            _run("ip", "netns", "exec", netns, *command)

    def _wait_engine(self, node: LabNode) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with contextlib.closing(self.client(node.name)) as client:
                    client.ping()
                return
            except (docker.errors.DockerException, OSError):
                if time.monotonic() > deadline:
                    log = (self.directory / node.name / "dockerd.log").read_text(errors="replace")
                    tail = "\n".join(log.splitlines()[-5:])
                    raise LabError(
                        f"{node.name}: dockerd did not answer within {START_TIMEOUT:.0f} s:\n{tail}"
                    ) from None
                time.sleep(0.2)

    def _form_swarm(self, nodes: list[LabNode]) -> None:
        manager, *workers = nodes
        image = _busybox_tar()
        with contextlib.closing(self.client(manager.name)) as client:
            client.swarm.init(advertise_addr=manager.address, listen_addr=f"{manager.address}:2377")
            token = client.swarm.attrs["JoinTokens"]["Worker"]
            for node in nodes:
                with contextlib.closing(self.client(node.name)) as engine:
                    if node in workers:
                        engine.swarm.join(
                            remote_addrs=[f"{manager.address}:2377"],
                            join_token=token,
                            advertise_addr=node.address,
                            listen_addr=f"{node.address}:2377",
                        )
                    for version, name in enumerate(IMAGES, start=1):
                        repository, tag = name.split(":")
                        engine.api.import_image_from_data(
                            image, repository, tag, changes=_image_changes(version)
                        )
            deadline = time.monotonic() + START_TIMEOUT
            while not all(n.attrs["Status"]["State"] == "ready" for n in client.nodes.list()):
                if time.monotonic() > deadline:
                    raise LabError("the nodes did not all become Ready")
                time.sleep(0.2)

    def _stop(self, names: list[str]) -> None:
        """Removes the nodes' containers, stops their dockerd together, kills what is left."""
        running = [name for name in names if self._pids(name)]
        for name in running:
            with (
                contextlib.suppress(docker.errors.DockerException, OSError),
                contextlib.closing(self.client(name)) as client,
            ):
                for container in client.containers.list(all=True):
                    container.remove(force=True)
        daemons = []
        for name in running:
            with contextlib.suppress(OSError, ValueError):
                pid = int((self._sockets / name / "docker.pid").read_text())
                os.kill(pid, signal.SIGTERM)
                daemons.append(pid)
        _wait_gone(daemons, STOP_TIMEOUT)
        leftovers = [pid for name in running for pid in self._pids(name)]
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _wait_gone(leftovers, STOP_TIMEOUT)

    def _pids(self, name: str) -> list[int]:
        """The node's dockerd, containerd, shims, and every process under the shims."""
        marker = f"{self._sockets / name}/".encode()
        own = [
            pid
            for pid, cmdline in _processes()
            if marker in cmdline and _program(cmdline).startswith(DAEMONS)
        ]
        return sorted(_with_descendants(own))


def check_host() -> None:
    """Raises LabError saying what this host lacks for a lab, if anything."""
    if sys.platform != "linux":
        raise LabError("the lab needs Linux (network namespaces)")
    if os.geteuid() != 0:
        raise LabError("the lab needs root: it makes network namespaces and runs dockerd")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise LabError(
            f"not found: {', '.join(missing)} (apt-get install docker.io iproute2 util-linux)"
        )
    if not _is_static(BUSYBOX):
        raise LabError(
            f"{BUSYBOX} is missing or not statically linked: the lab's images are made of it "
            "(apt-get install busybox-static)"
        )


def _is_static(path: Path) -> bool:
    """Whether ``path`` is an ELF executable that needs no dynamic loader (no PT_INTERP)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit ELF only
        return False
    order: Literal["little", "big"] = "little" if data[5] == 1 else "big"
    table = int.from_bytes(data[32:40], order)
    size, count = int.from_bytes(data[54:56], order), int.from_bytes(data[56:58], order)
    interpreter = 3
    return all(
        int.from_bytes(data[table + i * size : table + i * size + 4], order) != interpreter
        for i in range(count)
    )


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LabError(f"{' '.join(command)}: {result.stderr.strip() or result.returncode}")


def _netns_list() -> set[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return {line.split()[0] for line in listing.stdout.splitlines() if line.strip()}


def _processes() -> Iterator[tuple[int, bytes]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                yield int(entry.name), (entry / "cmdline").read_bytes()


def _program(cmdline: bytes) -> str:
    return Path(cmdline.split(b"\0", 1)[0].decode(errors="replace")).name


def _with_descendants(pids: list[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # The parent is the field after the parenthesised command name.
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(pids), list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _wait_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)


def _busybox_tar() -> bytes:
    """A root filesystem of the static busybox and a link for each of its applets."""
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "tmp", "www", "etc"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in applets:
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
    return buffer.getvalue()


def _image_changes(version: int) -> list[str]:
    """Says a line every two seconds, so logs and metrics have something to show, and stops
    at once on SIGTERM (a shell as PID 1 would otherwise ignore it for the grace period)."""
    loop = (
        'trap "exit 0" TERM INT; '
        'while true; do echo "$(date) $(hostname) version $VERSION"; sleep 2 & wait $!; done'
    )
    return [
        f"ENV VERSION={version}",
        "ENV PATH=/bin",
        f"CMD {json.dumps(['sh', '-c', loop])}",
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="swarmdeck lab", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"where the lab lives (default {DEFAULT_DIR})"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="make a swarm of real Docker Engines on this host")
    up.add_argument("--nodes", type=int, default=3, help="nodes, the first a manager (default 3)")
    commands.add_parser("status", help="the DOCKER_HOST to use and each node's engine")
    commands.add_parser("down", help="remove everything the lab made")
    for verb, what in (("kill", "kill a node, as a power loss"), ("start", "start a node again")):
        commands.add_parser(verb, help=what).add_argument("node")
    args = parser.parse_args(argv)
    lab = Lab(args.dir)
    try:
        match args.command:
            case "up":
                lab.up(args.nodes)
                _print_status(lab)
            case "status":
                _print_status(lab)
            case "down":
                lab.down()
                print(f"removed the lab in {lab.directory}")
            case "kill":
                lab.kill(args.node)
            case "start":
                lab.start(args.node)
    except LabError as error:
        sys.exit(f"swarmdeck lab: {error}")


def _print_status(lab: Lab) -> None:
    print(f"export DOCKER_HOST={lab.manager.url}")
    endpoints = lab.directory / "engines.json"
    endpoints.write_text(json.dumps(lab.endpoints(), indent=2) + "\n")
    print(f"swarmdeck --host {lab.manager.url} --node-engines {endpoints}")
    for node, state in lab.status():
        print(f"  {node.name:<16} {node.address:<12} {node.url}  {state}")
