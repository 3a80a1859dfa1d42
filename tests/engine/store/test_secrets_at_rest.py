"""Secrets are never on disk in the clear: sealed with their own key without autolock, with the
swarm's key under it; a copy of the state without its key holds none."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

from engine.api.secrets import DataRequest
from engine.clock import SystemClock
from engine.ids import IdGenerator
from engine.manager.controlapi import ControlAPI
from engine.manager.secrets import CONFIGS, SECRETS
from engine.store import MemoryStore, SqlitePersistence, StateSealed
from engine.store.sqlite import SECRETS_KEY

DATA = b"correct horse battery staple"


def request(name: str, data: bytes = DATA) -> DataRequest:
    return DataRequest(name=name, data=base64.b64encode(data).decode())


def on_disk(folder: Path, needle: bytes) -> list[str]:
    """Files of ``folder`` (the state, its log) that hold ``needle``."""
    return sorted(
        path.name for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()
    )


def opened(folder: Path, key: bytes | None = None) -> MemoryStore:
    state = SqlitePersistence(folder, behind=False)
    if key is not None:
        state.open(key)
    return MemoryStore(lambda: 0.0, state)


def control(store: MemoryStore) -> ControlAPI:
    return ControlAPI(store, SystemClock(), IdGenerator(1))


def test_a_secret_is_sealed_without_autolock_and_a_config_is_not(tmp_path: Path) -> None:
    store = opened(tmp_path)
    api = control(store)
    api.create_item(SECRETS, request("db-password"))
    api.create_item(CONFIGS, request("app-conf", b"listen 8080"))
    store.close()
    assert on_disk(tmp_path, DATA) == []
    assert on_disk(tmp_path, base64.b64encode(DATA)) == []
    assert on_disk(tmp_path, b"db-password") == []  # the whole row is sealed, its name too
    assert on_disk(tmp_path, b"listen 8080") == []  # in base64 in the clear
    assert (tmp_path / SECRETS_KEY).stat().st_mode & 0o777 == 0o600

    again = opened(tmp_path)
    try:
        secret = control(again).get_item(SECRETS, "db-password")
        assert secret.spec.data == DATA
        assert control(again).get_item(CONFIGS, "app-conf").spec.data == b"listen 8080"
    finally:
        again.close()


def test_the_state_without_the_secrets_key_cannot_be_read(tmp_path: Path) -> None:
    store = opened(tmp_path / "node")
    control(store).create_item(SECRETS, request("token"))
    store.close()
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "node", copy)
    (copy / SECRETS_KEY).unlink()
    (copy / "engine.lock").unlink()
    state = SqlitePersistence(copy, behind=False)
    try:
        with pytest.raises(StateSealed, match=f"{SECRETS_KEY} is missing"):
            state.load()
    finally:
        state.close()


async def test_autolock_seals_secrets_with_the_swarm_key_and_drops_their_own(
    tmp_path: Path,
) -> None:
    state = SqlitePersistence(tmp_path, behind=False)
    store = MemoryStore(lambda: 0.0, state)
    api = control(store)
    api.create_item(SECRETS, request("token"))
    await state.reseal(b"k" * 32)  # autolock on
    assert not (tmp_path / SECRETS_KEY).exists()
    api.create_item(SECRETS, request("second", b"another secret"))
    store.close()
    assert on_disk(tmp_path, DATA) == on_disk(tmp_path, b"another secret") == []

    locked = SqlitePersistence(tmp_path, behind=False)
    with pytest.raises(StateSealed, match="unlock the swarm"):
        locked.load()
    locked.close()
    store = opened(tmp_path, b"k" * 32)
    assert [s.spec.data for s in control(store).list_items(SECRETS)] == [DATA, b"another secret"]
    state = store._persistence
    assert isinstance(state, SqlitePersistence)
    await state.reseal(None)  # autolock off: secrets go back under a key of their own
    store.close()
    assert (tmp_path / SECRETS_KEY).exists()
    assert on_disk(tmp_path, DATA) == on_disk(tmp_path, b"another secret") == []
    again = opened(tmp_path)
    try:
        assert [s.spec.data for s in control(again).list_items(SECRETS)] == [
            DATA,
            b"another secret",
        ]
    finally:
        again.close()
