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

from engine.lab.cli import main
from engine.lab.host import BUSYBOX, LabError, check_host
from engine.lab.image import IMAGES
from engine.lab.lab import DEFAULT_DIR, MANAGER, Lab, LabNode

__all__ = [
    "BUSYBOX",
    "DEFAULT_DIR",
    "IMAGES",
    "MANAGER",
    "Lab",
    "LabError",
    "LabNode",
    "check_host",
    "main",
]
