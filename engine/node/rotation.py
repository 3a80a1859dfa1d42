"""Root rotation, as SwarmKit's CA does it (``docker swarm ca --rotate``).

A change of ``CAConfig.ForceRotate`` starts it: a new root is made and cross-signed by the old
one, and signs every certificate from then on, the cross-signed certificate following, so that
nodes that trust only the old root accept them. The swarm's ``TLSInfo`` names the new issuer
and ``RootRotationInProgress`` is true; every node is told to renew. Once every node's
certificate comes from the new issuer, the new root becomes the root (new join tokens pin it),
and every node renews again, taking the new root with its certificate. The docker CLI follows
the two counts ("rotated TLS certificates", "rotated CA certificates") to completion.

A manager restarted during a rotation carries on from the files it keeps
(``engine.ca.root_rotation``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from engine.api.events import Event, EventCreate, EventDelete, EventUpdate
from engine.api.objects import Cluster, Node
from engine.ca import (
    finish_root_rotation,
    last_forced_rotation,
    start_root_rotation,
    utc,
)
from engine.ca.lock import KeyLock
from engine.clock import Clock
from engine.manager.manager import Manager
from engine.node.swarmport import SwarmCA

__all__ = ["RootRotator"]

log = logging.getLogger(__name__)


class RootRotator:
    """Runs root rotations on the manager. ``renew_all(own)`` tells every node to renew its
    certificate, and renews the manager's own if ``own`` (at the start; at the end the manager
    keeps presenting the certificate the new root signed through the cross-signed one, so that
    the nodes that still trust only the old root can reach it to take the new)."""

    def __init__(
        self,
        manager: Manager,
        ca: SwarmCA,
        lock: KeyLock,
        data_dir: Path,
        clock: Clock,
        renew_all: Callable[[bool], Awaitable[None]],
    ) -> None:
        self._manager = manager
        self._ca = ca
        self._lock = lock
        self._data_dir = data_dir
        self._clock = clock
        self._renew_all = renew_all
        self._forced = last_forced_rotation(data_dir)  # the ForceRotate last answered

    async def run(self) -> None:
        if self._ca.rotation is not None:  # restarted during one: the manager renews first
            await self._renew_all(True)  # (nodes are told as they register again)
        async with self._manager.store.view_and_watch(accepts=_cluster_or_node) as watcher:
            await self.step()
            async for _ in watcher:
                await self.step()

    async def step(self) -> None:
        """Starts a rotation that was asked for, or ends the one under way if every node's
        certificate is the new root's."""
        control = self._manager.control
        cluster = control.get_cluster()
        if self._ca.rotation is None:
            forced = _forced(cluster)
            if forced == self._forced:  # read from disk once: this runs on every node's change
                return
            self._forced = forced
            now = utc(self._clock.time())
            password = self._lock.password
            rotation = start_root_rotation(self._data_dir, self._ca.root, forced, now, password)
            self._ca.rotating(rotation)
            control.set_root_rotation(self._ca.tls_info(), in_progress=True)
            log.info("root rotation started")
            await self._renew_all(True)
            return
        wanted = self._ca.tls_info()
        issuer = (wanted["CertIssuerSubject"], wanted["CertIssuerPublicKey"])
        if all(_issuer(node) == issuer for node in control.list_nodes()):
            root = finish_root_rotation(self._data_dir, self._lock.password)
            self._ca.rotated(root)
            control.set_root_rotation(self._ca.tls_info(), in_progress=False, root=root)
            log.info("root rotation done: the new root is the swarm's")
            await self._renew_all(False)


def _forced(cluster: Cluster) -> int:
    value = (cluster.spec.ca_config or {}).get("ForceRotate")
    return value if isinstance(value, int) else 0


def _issuer(node: Node) -> tuple[str, str]:
    info = (node.description.tls_info if node.description else None) or {}
    return info.get("CertIssuerSubject", ""), info.get("CertIssuerPublicKey", "")


def _cluster_or_node(event: Event) -> bool:
    return isinstance(event, EventCreate | EventUpdate | EventDelete) and isinstance(
        event.obj, Cluster | Node
    )
