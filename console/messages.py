"""Messages that cross screens: a new snapshot, a change of connection."""

from __future__ import annotations

from textual.message import Message

from console.model import Snapshot

__all__ = ["ConnectionChanged", "SnapshotReady"]


class SnapshotReady(Message):
    """A new view of the cluster; a burst of them collapses to the latest."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


class ConnectionChanged(Message):
    """The endpoint answered again (``error`` None) or stopped answering."""

    def __init__(self, error: str | None) -> None:
        super().__init__()
        self.error = error
