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
from engine.clock import SystemClock
from engine.errors import InvalidArgument, Unauthenticated, Unavailable
from engine.ids import IdGenerator
from engine.manager.controlapi import ControlAPI
from engine.node.daemon import NodeDaemon
from engine.store import (
    MemoryStore,
    SqlitePersistence,
    StateSealed,
    by,
    find_services,
)
from tests.conftest import make_spec
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


def holding(data_dir: Path, needles: list[bytes]) -> list[str]:
    """Files of ``data_dir`` that hold any of ``needles``."""
    found = []
    for path in data_dir.rglob("*"):
        if path.is_file() and any(needle in path.read_bytes() for needle in needles):
            found.append(path.name)
    return sorted(found)


def secrets_in_the_clear(data_dir: Path, daemon: NodeDaemon, keys: list[bytes]) -> list[str]:
    """Files of ``data_dir`` that hold any of ``keys`` (raw bytes, or as text), or a private
    key in the clear."""
    return holding(data_dir, [*keys, b"BEGIN PRIVATE KEY", b"BEGIN EC PRIVATE KEY"])


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
        await daemon.update_swarm(
            cluster.version.index, cluster.spec, SwarmRotations(unlock_key=True)
        )
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
        await daemon.update_swarm(cluster.version.index, spec, SwarmRotations())
        assert daemon.unlock_key() == ""
        assert len(private_keys(tmp_path, None)) == 2  # in the clear again
    finally:
        await daemon.stop()

    daemon = await started(tmp_path)
    try:
        assert daemon.local_node().local_node_state == "active"  # no longer locked
    finally:
        await daemon.stop()


def state_secrets(daemon: NodeDaemon) -> list[bytes]:
    """The join tokens' secrets and a service's name: what the store holds, in the clear."""
    tokens = daemon.control.get_cluster().join_tokens
    assert tokens is not None
    return [tokens.worker.encode(), tokens.manager.encode(), SERVICE.encode()]


SERVICE = "payroll-db-7f3a"


async def test_the_store_is_sealed_under_autolock_and_reads_back_once_unlocked(
    tmp_path: Path,
) -> None:
    daemon = await started(tmp_path)
    try:  # docker swarm init, without autolock: the store is in the clear
        await daemon.init_swarm(SwarmInitRequest(listen_addr=f"127.0.0.1:{free_port()}"))
        daemon.control.create_service(make_spec(SERVICE, replicas=2))
        await daemon.store.saved()
        secrets = state_secrets(daemon)
        assert holding(tmp_path, secrets) != []

        cluster = daemon.control.get_cluster()  # docker swarm update --autolock=true
        spec = replace(cluster.spec, encryption_config={"AutoLockManagers": True})
        await daemon.update_swarm(cluster.version.index, spec, SwarmRotations())
        daemon.control.create_service(make_spec("second", replicas=1))  # written sealed
        await daemon.store.saved()
        unlock_key = daemon.unlock_key()
        assert secrets_in_the_clear(tmp_path, daemon, secrets) == []  # nor in the WAL
    finally:
        await daemon.stop()
    assert secrets_in_the_clear(tmp_path, daemon, secrets) == []

    daemon = await started(tmp_path)
    try:
        assert daemon.store.view(lambda tx: find_services(tx, by.all())) == []  # sealed
        await daemon.unlock_swarm(unlock_key)
        names = {service.spec.name for service in daemon.control.list_services()}
        assert names == {SERVICE, "second"}
        assert state_secrets(daemon) == secrets  # the same tokens

        cluster = daemon.control.get_cluster()  # docker swarm update --autolock=false
        spec = replace(cluster.spec, encryption_config={"AutoLockManagers": False})
        await daemon.update_swarm(cluster.version.index, spec, SwarmRotations())
        await daemon.store.saved()
    finally:
        await daemon.stop()
    assert holding(tmp_path, secrets) != []  # in the clear again

    daemon = await started(tmp_path)
    try:
        assert {s.spec.name for s in daemon.control.list_services()} == {SERVICE, "second"}
    finally:
        await daemon.stop()


async def test_a_locked_manager_that_leaves_forgets_its_sealed_state(tmp_path: Path) -> None:
    async with autolocked_manager(tmp_path) as daemon:
        daemon.control.create_service(make_spec(SERVICE, replicas=1))
        await daemon.store.saved()

    daemon = await started(tmp_path)
    try:  # docker swarm leave --force, still locked; then a new swarm, without autolock
        await daemon.leave_swarm(force=True)
        await daemon.init_swarm(SwarmInitRequest(listen_addr=f"127.0.0.1:{free_port()}"))
        assert daemon.control.list_services() == []
    finally:
        await daemon.stop()

    daemon = await started(tmp_path)
    try:
        assert daemon.local_node().local_node_state == "active"
    finally:
        await daemon.stop()


async def test_autolock_cut_short_by_a_crash_is_finished_at_the_next_start(
    tmp_path: Path,
) -> None:
    daemon = await started(tmp_path)
    try:  # docker swarm update --autolock=true, the engine killed once the keys are encrypted
        await daemon.init_swarm(SwarmInitRequest(listen_addr=f"127.0.0.1:{free_port()}"))
        cluster = daemon.control.get_cluster()
        spec = replace(cluster.spec, encryption_config={"AutoLockManagers": True})
        daemon.control.update_cluster(cluster.version.index, spec, SwarmRotations())
        await daemon.store.saved()
        unlock_key = daemon._lock.turn_on()
        secrets = state_secrets(daemon)
    finally:
        await daemon.stop()
    assert holding(tmp_path, secrets) != []  # the store was not sealed yet

    daemon = await started(tmp_path)
    try:
        await daemon.unlock_swarm(unlock_key)
        assert state_secrets(daemon) == secrets
    finally:
        await daemon.stop()
    assert secrets_in_the_clear(tmp_path, daemon, secrets) == []


async def test_sealed_rows_open_with_their_key_alone(tmp_path: Path) -> None:
    state = SqlitePersistence(tmp_path, behind=False)
    store = MemoryStore(lambda: 0.0, state)
    ControlAPI(store, SystemClock(), IdGenerator(1)).create_service(make_spec(SERVICE))
    await state.reseal(b"k" * 32)
    state.flush()
    store.close()

    state = SqlitePersistence(tmp_path, behind=False)
    try:
        assert state.sealed and not state.readable
        with pytest.raises(StateSealed, match="unlock the swarm"):
            state.load()
        with pytest.raises(StateSealed, match="cannot be opened with this key"):
            state.open(b"x" * 32)
        state.open(b"k" * 32)
        store = MemoryStore(lambda: 0.0, state)
        assert [s.spec.name for s in store.view(lambda tx: find_services(tx, by.all()))] == [
            SERVICE
        ]
    finally:
        state.close()
