"""What ``docker swarm init`` and ``docker swarm join`` send (``POST /swarm/init``, ``/join``)."""

from __future__ import annotations

from engine.api.base import Struct
from engine.api.objects import ClusterSpec
from engine.api.specs import UInt32
from engine.errors import EngineError

__all__ = ["ALREADY_IN_SWARM", "LocalNode", "RemoteManager", "SwarmInitRequest", "SwarmJoinRequest"]

DEFAULT_LISTEN_ADDR = "0.0.0.0:2377"
ALREADY_IN_SWARM = (
    'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm '
    "and join another one."
)


class NotLocked(EngineError):
    """``docker swarm unlock`` of a swarm that is not locked (dockerd's notLockedError)."""

    http_status = 409

    def __init__(self) -> None:
        super().__init__("swarm is not locked", rpc=False)


class SwarmInitRequest(Struct, frozen=True):
    listen_addr: str = DEFAULT_LISTEN_ADDR
    advertise_addr: str = ""
    data_path_addr: str = ""
    data_path_port: UInt32 = 0
    force_new_cluster: bool = False
    spec: ClusterSpec | None = None
    auto_lock_managers: bool = False
    availability: str = ""  # an Availability, or "" for active
    default_addr_pool: list[str] | None = None
    subnet_size: UInt32 = 0


class SwarmJoinRequest(Struct, frozen=True):
    listen_addr: str = DEFAULT_LISTEN_ADDR
    advertise_addr: str = ""
    data_path_addr: str = ""
    remote_addrs: list[str] | None = None
    join_token: str = ""
    availability: str = ""  # an Availability, or "" for active


class SwarmUnlockRequest(Struct, frozen=True):
    unlock_key: str = ""


class LocalNode(Struct, frozen=True):
    """This engine's place in a swarm, as ``docker info`` shows it (``Swarm``): ``inactive``
    outside any; ``active`` as a manager (``control_available``) or a worker; ``error`` says
    what is wrong with it."""

    local_node_state: str = "inactive"
    node_id: str = ""
    node_addr: str = ""
    control_available: bool = False
    error: str = ""
    remote_managers: list[RemoteManager] | None = None


class RemoteManager(Struct, frozen=True):
    node_id: str
    addr: str


class SwarmRotations(Struct, frozen=True):
    """What ``POST /swarm/update`` rotates besides the spec."""

    worker_token: bool = False
    manager_token: bool = False
    unlock_key: bool = False


def autolocked(spec: ClusterSpec | None) -> bool:
    """Whether ``spec`` asks for autolock (``EncryptionConfig.AutoLockManagers``)."""
    config = (spec.encryption_config if spec else None) or {}
    return config.get("AutoLockManagers") is True
