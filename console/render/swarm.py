"""The swarm view's text: its CA, a root rotation's progress, autolock, and how nodes join."""

from __future__ import annotations

import hashlib

from console.model import Snapshot
from console.sanitize import sanitize_field
from engine.api.durations import SECOND, human_duration
from engine.api.objects import Node
from engine.api.types import NodeRole

__all__ = ["HIDDEN", "swarm_text"]

HIDDEN = "<hidden: t shows it>"


def swarm_text(snapshot: Snapshot, reveal: bool) -> str:
    """What ``docker swarm ca``, ``join-token`` and ``unlock-key`` would tell, on one page;
    the join tokens only when ``reveal``."""
    swarm = snapshot.swarm
    if swarm is None:
        return (
            "The endpoint does not show the swarm's settings: they are a manager's to show.\n"
            "Point the console at a manager (docker swarm join-token worker works there)."
        )
    tls = swarm.tls_info or {}
    root = str(tls.get("TrustRoot", ""))
    digest = "sha256:" + hashlib.sha256(root.encode()).hexdigest() if root else "unknown"
    expiry = (swarm.spec.ca_config or {}).get("NodeCertExpiry")
    lifetime = human_duration(expiry / SECOND) if isinstance(expiry, int) else "unknown"
    issuer = (tls.get("CertIssuerSubject"), tls.get("CertIssuerPublicKey"))
    nodes = snapshot.nodes
    rotated = sum(1 for node in nodes if _tls(node, "issuer") == issuer)
    on_root = sum(1 for node in nodes if _tls(node, "TrustRoot") == root)
    if swarm.root_rotation_in_progress:
        rotation = (
            f"in progress: {rotated}/{len(nodes)} nodes have a certificate of the new root, "
            "then every node takes the new root"
        )
    else:
        rotation = "none in progress"
    autolock = (swarm.spec.encryption_config or {}).get("AutoLockManagers") is True
    tokens = swarm.join_tokens
    manager = next(
        (
            n.manager_status.addr
            for n in nodes
            if n.spec.role == NodeRole.MANAGER and n.manager_status and n.manager_status.addr
        ),
        "MANAGER:2377",
    )

    def join(token: str | None) -> str:
        shown = sanitize_field(token or "", 120) if reveal else HIDDEN
        return f"docker swarm join --token {shown} {sanitize_field(manager)}"

    return "\n".join(
        [
            "Certificate authority",
            f"  root digest    {digest}",
            f"  certificates   {lifetime}, renewed between 50 % and 80 % of that",
            f"  root rotation  {rotation}",
            f"  on this root   {on_root}/{len(nodes)} nodes",
            "",
            "Autolock",
            "  on: a restarted manager waits for docker swarm unlock"
            if autolock
            else "  off: the managers' keys are on disk in the clear (their owner's alone)",
            "",
            "Join as a worker",
            f"  {join(tokens.worker if tokens else None)}",
            "Join as a manager",
            f"  {join(tokens.manager if tokens else None)}",
        ]
    )


def _tls(node: Node, part: str) -> object:
    info = (node.description.tls_info if node.description else None) or {}
    if part == "issuer":
        return (info.get("CertIssuerSubject"), info.get("CertIssuerPublicKey"))
    return info.get(part)
