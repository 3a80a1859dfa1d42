"""The swarm has its CA: ``TLSInfo`` names the root, the join tokens pin it, and a manager with a
data directory keeps the root (its key its owner's alone) from one start to the next."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from msgspec.structs import replace

from engine.api.durations import SECOND
from engine.api.swarm import SwarmRotations
from engine.ca import CERTIFICATES, CAError, load_or_create_root, parse_join_token, utc
from engine.embedded import EmbeddedCluster
from engine.errors import InvalidArgument
from engine.store import by, find_services
from tests.conftest import make_spec


async def started(data_dir: Path | None = None, seed: int | None = 1) -> EmbeddedCluster:
    """A started cluster; with a ``seed`` its CA is the same every run, as all of it is."""
    cluster = EmbeddedCluster(seed=seed, data_dir=data_dir)
    await cluster.start()
    return cluster


def tokens(cluster: EmbeddedCluster) -> tuple[str, str]:
    join = cluster.control.get_cluster().join_tokens
    assert join is not None and join.worker and join.manager
    return join.worker, join.manager


async def test_tls_info_names_the_root_and_the_tokens_pin_it() -> None:
    cluster = await started()
    try:
        swarm = cluster.control.get_cluster()
        assert swarm.tls_info["TrustRoot"] == cluster.ca.cert_pem.decode()
        assert swarm.tls_info["CertIssuerSubject"] and swarm.tls_info["CertIssuerPublicKey"]
        worker, manager = tokens(cluster)
        assert parse_join_token(worker).digest == parse_join_token(manager).digest
        assert parse_join_token(worker).digest == cluster.ca.digest
        rotated = cluster.control.update_cluster(
            swarm.version.index, swarm.spec, SwarmRotations(worker_token=True)
        )
        assert rotated.join_tokens is not None
        assert rotated.join_tokens.worker != worker
        assert rotated.join_tokens.manager == manager
        assert parse_join_token(rotated.join_tokens.worker or "").digest == cluster.ca.digest
    finally:
        await cluster.stop()


async def test_a_restarted_manager_keeps_its_root_and_tokens(tmp_path: Path) -> None:
    cluster = await started(tmp_path)
    root, before = cluster.ca, tokens(cluster)
    await cluster.stop()
    folder = tmp_path / CERTIFICATES
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {
        "swarm-root-ca.crt": 0o600,
        "swarm-root-ca.key": 0o600,
    }
    again = await started(tmp_path)
    try:
        assert again.ca == root
        assert tokens(again) == before
    finally:
        await again.stop()


async def test_a_manager_whose_root_is_gone_makes_one_and_tokens_that_pin_it(
    tmp_path: Path,
) -> None:
    cluster = await started(tmp_path, seed=None)
    cluster.control.create_service(make_spec())
    old = tokens(cluster)
    await cluster.stop()
    for path in (tmp_path / CERTIFICATES).iterdir():
        path.unlink()
    again = await started(tmp_path, seed=None)
    try:
        assert parse_join_token(tokens(again)[0]).digest == again.ca.digest
        assert all(token not in tokens(again) for token in old)
        assert again.store.view(lambda tx: find_services(tx, by.all()))  # the rest is kept
    finally:
        await again.stop()


def test_an_unreadable_root_is_refused_by_name(tmp_path: Path) -> None:
    load_or_create_root(tmp_path, utc(0))
    (tmp_path / CERTIFICATES / "swarm-root-ca.key").write_bytes(b"not a key")
    with pytest.raises(CAError, match="unreadable root CA"):
        load_or_create_root(tmp_path, utc(0))
    other = tmp_path / "other"
    load_or_create_root(other, utc(0))
    (tmp_path / CERTIFICATES / "swarm-root-ca.key").write_bytes(
        (other / CERTIFICATES / "swarm-root-ca.key").read_bytes()
    )
    with pytest.raises(CAError, match="the root CA's key is not its certificate's"):
        load_or_create_root(tmp_path, utc(0))


async def test_a_certificate_expiry_under_an_hour_is_refused_with_swarmkits_words() -> None:
    cluster = await started()
    try:
        swarm = cluster.control.get_cluster()
        short = replace(swarm.spec, ca_config={"NodeCertExpiry": 30 * 60 * SECOND})
        with pytest.raises(InvalidArgument, match=r"minimum certificate expiry time is: 1h0m0s"):
            cluster.control.update_cluster(swarm.version.index, short)
        assert cluster.control.get_cluster() == swarm
        hour = replace(swarm.spec, ca_config={"NodeCertExpiry": 3600 * SECOND})
        updated = cluster.control.update_cluster(swarm.version.index, hour)
        assert updated.spec.ca_config == {"NodeCertExpiry": 3600 * SECOND}
    finally:
        await cluster.stop()
