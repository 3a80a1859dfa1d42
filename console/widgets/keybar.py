"""KeyBar: a view's keys on one line, as many as fit whole, then ``? more`` for the rest.

Textual's footer cuts its keys at the terminal's edge (at 80 columns the services view lost
half of them, one in the middle of its name). The key bar shows the keys of the screen's
active bindings in the order it is given, never cut: those that do not fit are left to ``?``
help, which lists every key, and the bar ends with ``? more`` to say so (``? help`` when
nothing was left out). A click on a key presses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widget import Widget

__all__ = ["KeyBar"]

HELP = "help"  # the action that lists every key, shown last
GAP = "  "  # between two keys


class KeyBar(Widget):
    """``rank(action)`` orders the keys (lower first; None: not shown)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"keybar--key", "keybar--description"}
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $panel; color: $foreground; }
    KeyBar > .keybar--key { color: $accent; text-style: bold; }
    """

    def __init__(self, rank: Callable[[str], int | None], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._rank = rank
        self._spans: list[tuple[int, int, str]] = []  # where each key is drawn, and its key

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: object) -> None:
        self.refresh()

    def shown(self) -> list[tuple[str, str]]:
        """The keys on the bar now, as (key, description): the binding's key (``ctrl+s``)."""
        return [(key, description) for _, description, key in self._items(self.size.width)]

    def _keys(self) -> tuple[list[tuple[int, Binding]], Binding | None]:
        """The bindings to show, ranked, and the help key's."""
        ranked, help_key, seen = [], None, set()
        for _, binding, enabled, _ in self.screen.active_bindings.values():
            if not enabled or binding.action in seen:
                continue
            if binding.action == HELP:
                help_key = binding
                continue
            rank = self._rank(binding.action)
            if binding.show and rank is not None:
                seen.add(binding.action)
                ranked.append((rank, binding))
        ranked.sort(key=lambda item: item[0])
        return ranked, help_key

    def _items(self, width: int) -> list[tuple[str, str, str]]:
        """(key shown, description, key) of what fits in ``width`` cells."""
        ranked, help_key = self._keys()
        items = [
            (self.app.get_key_display(b), b.description, b.key.split(",")[0]) for _, b in ranked
        ]
        if help_key is None:
            return self._fitting(items, width)
        shown = self.app.get_key_display(help_key)
        whole = [*items, (shown, "help", help_key.key)]
        if _length(whole) <= width - 1:
            return whole
        more = (shown, "more", help_key.key)
        return [*self._fitting(items, width - 1 - _length([more]) - len(GAP)), more]

    @staticmethod
    def _fitting(items: list[tuple[str, str, str]], width: int) -> list[tuple[str, str, str]]:
        kept: list[tuple[str, str, str]] = []
        for item in items:
            if _length([*kept, item]) > width:
                break
            kept.append(item)
        return kept

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        text = Text(" ", end="", no_wrap=True, overflow="crop")
        self._spans = []
        for index, (shown, description, key) in enumerate(self._items(self.size.width)):
            if index:
                text.append(GAP)
            start = len(text)
            text.append(f"{shown} ", key_style)  # the space with the key: an SVG keeps it
            text.append(description)
            self._spans.append((start, len(text), key))
        return text

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return


def _length(items: list[tuple[str, str, str]]) -> int:
    """Cells the items take on the bar, with a leading space."""
    if not items:
        return 0
    return (
        1
        + sum(len(shown) + 1 + len(description) for shown, description, _ in items)
        + len(GAP) * (len(items) - 1)
    )
