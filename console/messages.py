"""The feed's news as a Textual message, as the app's worker forwards it."""

from __future__ import annotations

from textual.message import Message

from console.feed import News, SnapshotReady

__all__ = ["Fed"]


class Fed(Message):
    """A piece of the feed's news (``console.feed``); a burst of snapshots collapses to the
    latest."""

    def __init__(self, news: News) -> None:
        super().__init__()
        self.news = news

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, Fed)
            and isinstance(message.news, SnapshotReady)
            and isinstance(self.news, SnapshotReady)
        )
