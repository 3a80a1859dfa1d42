"""Autolock: a manager's keys on disk are encrypted with a data key the unlock key wraps; the
unlock key is never written; a restarted manager is locked until it is given back."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from msgspec.structs import replace

from engine.api.swarm import NotLocked, SwarmInitRequest, SwarmRotations
from engine.ca import CERTIFICATES, KeyLocked
from engine.ca.files import read_key
from engine.ca.lock import parse_unlock_key
from engine.errors import InvalidArgument, Unauthenticated, Unavailable
from engine.node.daemon import NodeDaemon
from tests.engine.node.test_swarm_port import free_port

LOCKED = "Swarm is encrypted and needs to be unlocked before it can be used."


async def started(data_dir: Path) -> NodeDaemon:
    daemon = NodeDaemon(data_dir, "swarm-master", seed=7)
    await daemon.start()
    return daemon


@contextlib.asynccontextmanager
async def autolocked_manager(data_dir: Path) -> AsyncIterator[NodeDaemon]:
    """A daemon made the manager of a new swarm with ``docker swarm init --autolock``."""
    daemon = await started(data_dir)
    try:
        await daemon.init_swarm(
            SwarmInitRequest(listen_addr=f"127.0.0.1:{free_port()}", auto_lock_managers=True)
        )
        yield daemon
    finally:
        await daemon.stop()


def private_keys(data_dir: Path, password: bytes | None) -> list[ec.EllipticCurvePrivateKey]:
    return [read_key(path, password) for path in sorted((data_dir / CERTIFICATES).glob("*.key"))]


def secrets_in_the_clear(data_dir: Path, daemon: NodeDaemon, keys: list[bytes]) -> list[str]:
    """Files of ``data_dir`` that hold any of ``keys`` (raw bytes, or as text)."""
    found = []
    for path in data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(key in data for key in keys) or b"BEGIN PRIVATE KEY" in data:
                found.append(str(path))
    return found


def key_material(keys: list[ec.EllipticCurvePrivateKey]) -> list[bytes]:
    """Each key's private number, raw and as the body of its PEM in the clear."""
    material = []
    for key in keys:
        material.append(key.private_numbers().private_value.to_bytes(32, "big"))
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        material.append(pem.splitlines()[1])
    return material


async def test_init_with_autolock_writes_no_key_in_the_clear(tmp_path: Path) -> None:
    async with autolocked_manager(tmp_path) as daemon:
        unlock_key = daemon.unlock_key()
        kek = parse_unlock_key(unlock_key)
        cluster = daemon.control.get_cluster()
        assert (cluster.spec.encryption_config or {}).get("AutoLockManagers") is True
        with pytest.raises(KeyLocked):
            private_keys(tmp_path, None)
        password = daemon._lock.password
        assert password is not None
        keys = private_keys(tmp_path, password)
        assert len(keys) == 2  # the root's and the node's
        secrets = [*key_material(keys), kek, unlock_key.encode(), password]
        assert secrets_in_the_clear(tmp_path, daemon, secrets) == []


async def test_a_restarted_manager_is_locked_until_unlocked(tmp_path: Path) -> None:
    async with autolocked_manager(tmp_path) as daemon:
        unlock_key = daemon.unlock_key()
        node_id = daemon.local_node_id

    daemon = await started(tmp_path)
    try:
        assert daemon.local_node().local_node_state == "locked"
        with pytest.raises(Unavailable, match=LOCKED):
            daemon.control.list_nodes()
        wrong = "SWMKEY-1-" + "A" * 43
        with pytest.raises(Unauthenticated, match="could not be unlocked: invalid key provided"):
            await daemon.unlock_swarm(wrong)
        with pytest.raises(InvalidArgument, match="invalid key string"):
            await daemon.unlock_swarm("SWMKEY-2-nope")
        assert daemon.local_node().local_node_state == "locked"  # a wrong key changes nothing
        await daemon.unlock_swarm(unlock_key)
        assert daemon.local_node().local_node_state == "active"
        assert [n.id for n in daemon.control.list_nodes()] == [node_id]
        with pytest.raises(NotLocked):
            await daemon.unlock_swarm(unlock_key)

        cluster = daemon.control.get_cluster()  # docker swarm unlock-key --rotate
        daemon.update_swarm(cluster.version.index, cluster.spec, SwarmRotations(unlock_key=True))
        rotated = daemon.unlock_key()
        assert rotated != unlock_key
    finally:
        await daemon.stop()

    daemon = await started(tmp_path)
    try:
        with pytest.raises(Unauthenticated):
            await daemon.unlock_swarm(unlock_key)
        await daemon.unlock_swarm(rotated)
        cluster = daemon.control.get_cluster()  # docker swarm update --autolock=false
        spec = replace(cluster.spec, encryption_config={"AutoLockManagers": False})
        daemon.update_swarm(cluster.version.index, spec, SwarmRotations())
        assert daemon.unlock_key() == ""
        assert len(private_keys(tmp_path, None)) == 2  # in the clear again
    finally:
        await daemon.stop()

    daemon = await started(tmp_path)
    try:
        assert daemon.local_node().local_node_state == "active"  # no longer locked
    finally:
        await daemon.stop()
