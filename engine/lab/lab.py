"""The lab: its nodes, and making, starting, killing and removing them (see engine.lab)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import docker
import docker.errors

from engine.lab.host import (
    LabError,
    check_host,
    daemon_tree,
    netns_list,
    run,
    wait_gone,
)
from engine.lab.image import IMAGES, busybox_tar, image_changes

__all__ = ["DEFAULT_DIR", "ENGINES", "ENGINES_FILE", "MANAGER", "Lab", "LabNode"]

DEFAULT_DIR = Path(os.environ.get("SWARMDECK_LAB_DIR", "/var/lib/swarmdeck-lab"))
MANAGER = "swarm-master"
SUBNET = "10.213.0"  # inside the lab's own namespaces only
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
ENGINES_FILE = "engines.json"  # what ``status`` writes for the console's --node-engines
ENGINES = ("docker", "swarmdeck")  # what each node runs: dockerd, or swarmdeck engine serve


@dataclass(frozen=True)
class LabNode:
    name: str
    address: str
    url: str  # the node's own engine, unix://...


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
    def engine(self) -> str:
        """``docker`` (each node a dockerd) or ``swarmdeck`` (each a ``swarmdeck engine serve``
        with simulated containers, joined over mutual TLS)."""
        if not self.exists:
            raise LabError(f"no lab in {self.directory} (swarmdeck lab up makes one)")
        return str(json.loads(self._state_file.read_text()).get("engine", "docker"))

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

    def up(self, count: int = 3, engine: str = "docker") -> list[LabNode]:
        """Makes a swarm of ``count`` nodes running ``engine``: one manager, the rest workers;
        all Ready."""
        check_host()
        if engine not in ENGINES:
            raise LabError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if count < 1 or count > 50:
            raise LabError(f"--nodes must be between 1 and 50, not {count}")
        if self.exists:
            raise LabError(
                f"a lab already exists in {self.directory} (swarmdeck lab down removes it)"
            )
        if self.directory.exists() and any(self.directory.iterdir()):
            raise LabError(f"{self.directory} is not empty: a lab needs a new or empty folder")
        names = [MANAGER, *(f"swarm-node-{index}" for index in range(1, count))]
        nodes = [
            LabNode(name, f"{SUBNET}.{10 + index}", f"unix://{self._sockets / name}/docker.sock")
            for index, name in enumerate(names, start=1)
        ]
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "daemon.json").write_text("{}\n")
        state = {"engine": engine, "nodes": [asdict(n) for n in nodes]}
        self._state_file.write_text(json.dumps(state, indent=2))
        try:
            run("ip", "netns", "add", self._netns("hub"))
            self._in_hub("ip", "link", "add", "br0", "type", "bridge")
            self._in_hub("ip", "link", "set", "br0", "up")
            for index, node in enumerate(nodes, start=1):
                self._wire(node, index)
                self.start(node.name)
            if engine == "swarmdeck":
                self._form_swarm_with_the_cli(nodes)
            else:
                self._form_swarm(nodes)
            (self.directory / ENGINES_FILE).write_text(json.dumps(self.endpoints(), indent=2))
        except BaseException:
            self.down()
            raise
        return nodes

    def down(self) -> None:
        """Stops every node (its containers first), removes the namespaces and what the lab
        wrote in its folder, and the folder once empty."""
        check_host()
        names = [node.name for node in self.nodes]  # LabError where there is no lab
        self._stop(names)
        for name in [*names, "hub"]:
            if self._netns(name) in netns_list():
                run("ip", "netns", "delete", self._netns(name))
        shutil.rmtree(self._sockets, ignore_errors=True)
        for name in names:
            shutil.rmtree(self.directory / name, ignore_errors=True)
        for made in (ENGINES_FILE, "daemon.json", self._state_file.name):
            (self.directory / made).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.directory.rmdir()

    # One node.

    def start(self, name: str) -> None:
        """Starts the node's dockerd (again) and waits until it answers."""
        check_host()
        node = self.node(name)
        folder, sockets = self.directory / name, self._sockets / name
        folder.mkdir(exist_ok=True)
        sockets.mkdir(parents=True, exist_ok=True)
        if self._pids(name):
            raise LabError(f"{name} is running already")
        if self.engine == "swarmdeck":
            serve = [
                sys.executable,
                "-m",
                "engine",
                "serve",
                f"--socket={sockets / 'docker.sock'}",
                f"--data-dir={folder / 'data'}",
                f"--hostname={name}",
            ]
            self._spawn(name, serve, folder / "engine.log")
            self._wait_engine(node)
            return
        dockerd = [
            "dockerd",
            f"--config-file={self.directory / 'daemon.json'}",
            f"--host={node.url}",
            f"--data-root={folder / 'data'}",
            f"--exec-root={sockets / 'exec'}",
            f"--pidfile={sockets / 'docker.pid'}",
            # The default bridge lives in the node's namespace; published ports reach it through
            # docker-proxy, since dockerd must leave the firewall alone.
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
        ]
        self._spawn(name, dockerd, folder / "dockerd.log")
        self._wait_engine(node)

    def _spawn(self, name: str, daemon: list[str], log_file: Path) -> None:
        """Runs ``daemon`` in the node's network namespace, with a hostname and mounts of its
        own, as a session of its own."""
        script = f"hostname {name} && exec {shlex.join(daemon)}"
        with log_file.open("ab") as log:
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
        wait_gone(pids, STOP_TIMEOUT)

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
        run("ip", "netns", "exec", self._netns("hub"), *command)

    def _wire(self, node: LabNode, index: int) -> None:
        netns = self._netns(node.name)
        run("ip", "netns", "add", netns)
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
            run("ip", "netns", "exec", netns, *command)

    def _wait_engine(self, node: LabNode) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with contextlib.closing(self.client(node.name)) as client:
                    client.ping()
                return
            except (docker.errors.DockerException, OSError):
                if time.monotonic() > deadline:
                    name = "engine.log" if self.engine == "swarmdeck" else "dockerd.log"
                    log = (self.directory / node.name / name).read_text(errors="replace")
                    tail = "\n".join(log.splitlines()[-5:])
                    raise LabError(
                        f"{node.name}: its engine did not answer within {START_TIMEOUT:.0f} s:"
                        f"\n{tail}"
                    ) from None
                time.sleep(0.2)

    def _form_swarm(self, nodes: list[LabNode]) -> None:
        manager, *workers = nodes
        image = busybox_tar()
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
                            image, repository, tag, changes=image_changes(version)
                        )
            deadline = time.monotonic() + START_TIMEOUT
            while not all(n.attrs["Status"]["State"] == "ready" for n in client.nodes.list()):
                if time.monotonic() > deadline:
                    raise LabError("the nodes did not all become Ready")
                time.sleep(0.2)

    def _form_swarm_with_the_cli(self, nodes: list[LabNode]) -> None:
        """The DockerCon walkthrough with the real docker CLI: ``docker swarm init`` on the
        manager, ``docker swarm join`` on each other node."""
        manager, *workers = nodes
        swarm_port = f"{manager.address}:2377"
        self._docker(manager, "swarm", "init", "--advertise-addr", manager.address)
        token = self._docker(manager, "swarm", "join-token", "-q", "worker").strip()
        for node in workers:
            self._docker(
                node,
                "swarm",
                "join",
                "--token",
                token,
                "--advertise-addr",
                node.address,
                swarm_port,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while set(self._docker(manager, "node", "ls", "--format", "{{.Status}}").split()) != {
            "Ready"
        }:
            if time.monotonic() > deadline:
                raise LabError("the nodes did not all become Ready")
            time.sleep(0.2)

    def _docker(self, node: LabNode, *args: str) -> str:
        docker_cli = shutil.which("docker")
        if docker_cli is None:
            raise LabError("not found: docker (the docker CLI: apt-get install docker.io)")
        done = subprocess.run(
            [docker_cli, "--host", node.url, *args],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise LabError(f"{node.name}: docker {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def _stop(self, names: list[str]) -> None:
        """Stops the nodes' engines together (their containers first), kills what is left."""
        running = [name for name in names if self._pids(name)]
        if self.engine == "swarmdeck":
            daemons = self._stop_engines(running)
        else:
            daemons = self._stop_dockerd(running)
        wait_gone(daemons, STOP_TIMEOUT)
        leftovers = [pid for name in running for pid in self._pids(name)]
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_gone(leftovers, STOP_TIMEOUT)

    def _stop_engines(self, running: list[str]) -> list[int]:
        """Asks each running node's ``swarmdeck engine serve`` to stop (its simulated
        containers stop with it); returns the PIDs asked."""
        daemons = [pid for name in running for pid in self._pids(name)]
        for pid in daemons:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        return daemons

    def _stop_dockerd(self, running: list[str]) -> list[int]:
        """Removes the containers of each running node, then asks its dockerd to stop;
        returns the PIDs asked."""
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
        return daemons

    def _pids(self, name: str) -> list[int]:
        """The node's dockerd, containerd, shims, and every process under the shims; or its
        ``swarmdeck engine serve`` (the one serving its socket, not an engine that names the
        node's socket as a node of its own). Both where the lab is gone."""
        engines = [self.engine] if self.exists else list(ENGINES)
        pids = []
        if "swarmdeck" in engines:
            pids += daemon_tree(f"--socket={self._sockets / name}/".encode(), ("python",))
        if "docker" in engines:
            pids += daemon_tree(f"{self._sockets / name}/".encode())
        return pids
