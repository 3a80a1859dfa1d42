"""What every cluster view shares: a header line, a banner for a lost connection, a filter."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from console.model import Snapshot
from console.render.rows import Row
from console.screens.dialogs import ConfirmDialog, TypingDialog
from console.widgets.resource_table import ResourceTable

if TYPE_CHECKING:
    from console.app import SwarmdeckApp

__all__ = ["ClusterScreen", "ResourceScreen", "typing_binding", "typing_refused"]


_TYPING: set[str] = set()  # the actions of typing_binding keys


def typing_binding(key: str, action: str, description: str) -> Binding:
    """A key that opens something to type into (a filter, a form, the command line).

    It is a priority binding, handled as soon as the key arrives, so the keys typed right after
    it go into what it opened rather than to the view (``/web`` and enter, in one go, while the
    console is busy). While keys go into an input the key is refused, and typed there instead.
    """
    _TYPING.add(action)
    return Binding(key, action, description, priority=True)


def typing_refused(node: DOMNode, action: str) -> bool:
    """Whether ``action`` is a typing_binding's while keys go into an input (one with focus, or
    a dialog's before its input has focus), so that the key is typed there instead."""
    app = node.app
    return action in _TYPING and (
        isinstance(app.focused, Input) or isinstance(app.screen, TypingDialog)
    )


class ClusterScreen(Screen[None]):
    """A view of the cluster that redraws from each new snapshot."""

    VIEW = ""
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back", show=False)]
    DEFAULT_CSS = """
    ClusterScreen #header { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    ClusterScreen #banner { height: auto; background: $error; color: $background; padding: 0 1; }
    ClusterScreen #banner.-hidden { display: none; }
    ClusterScreen #filter { dock: bottom; margin-bottom: 1; }
    ClusterScreen #filter.-hidden { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        # Kept rather than looked up: a lost connection can be reported before the view is
        # built or while it is being taken down, and these take the news either way.
        self._header = Static(id="header")
        self._banner = Static(id="banner", classes="-hidden")

    @property
    def deck(self) -> SwarmdeckApp:
        from console.app import SwarmdeckApp

        assert isinstance(self.app, SwarmdeckApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield self._header
        yield self._banner
        yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:
        return iter(())

    def on_screen_resume(self) -> None:
        self.show(self.deck.snapshot)
        self.show_connection(self.deck.connection_error)

    def on_mount(self) -> None:
        self.title = self.title or self.VIEW

    def show(self, snapshot: Snapshot) -> None:
        self.render_snapshot(snapshot)
        header = f"swarmdeck · {self.deck.target_label} · {self.title or self.VIEW} · "
        if self.deck.starting:
            header += "starting…"
        else:
            header += (
                f"{len(snapshot.nodes)} nodes · {len(snapshot.services)} services · "
                f"{snapshot.running} tasks running"
            )
        if self.deck.read_only:
            header += " · read-only"
        self._header.update(header)

    def render_snapshot(self, snapshot: Snapshot) -> None:
        """Subclasses redraw their body here."""

    def show_connection(self, error: str | None) -> None:
        self._banner.set_class(error is None, "-hidden")
        if error:
            self._banner.update(f"connection lost: {error} (reconnecting)")

    def confirm(self, title: str, details: str, then: Callable[[], None]) -> None:
        """Asks first, saying what will happen; runs ``then`` only on a yes."""

        def answer(confirmed: bool | None) -> None:
            if confirmed:
                then()

        self.app.push_screen(ConfirmDialog(title, details), answer)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not typing_refused(self, action)

    def action_back(self) -> None:
        """Back to the view this one was opened from; a view reached by ``:`` stays."""
        stack = self.app.screen_stack
        if len(stack) > 1 and isinstance(stack[-2], ClusterScreen):
            self.app.pop_screen()


class ResourceScreen(ClusterScreen):
    """A table of rows with ``/`` to filter them and enter to drill down."""

    COLUMNS: tuple[str, ...] = ()
    BINDINGS: ClassVar[list[BindingType]] = [
        typing_binding("slash", "filter", "Filter"),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._needle = ""

    def body(self) -> ComposeResult:
        yield ResourceTable(self.COLUMNS, id="table")
        yield Input(placeholder="filter (esc clears)", id="filter", classes="-hidden")

    @property
    def table(self) -> ResourceTable:
        return self.query_one("#table", ResourceTable)

    def rows(self, snapshot: Snapshot) -> list[Row]:
        raise NotImplementedError

    def render_snapshot(self, snapshot: Snapshot) -> None:
        rows = self.rows(snapshot)
        if self._needle:
            rows = [row for row in rows if row.matches(self._needle)]
        self.table.apply(rows)

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.remove_class("-hidden")
        self.set_focus(field)  # at once: the keys typed after ``/`` are already on their way

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self._needle = event.value
            self.render_snapshot(self.deck.snapshot)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.table.focus()

    def action_back(self) -> None:
        field = self.query_one("#filter", Input)
        if self._needle or not field.has_class("-hidden"):
            field.value = ""
            self._needle = ""
            field.add_class("-hidden")
            self.table.focus()
            self.render_snapshot(self.deck.snapshot)
            return
        super().action_back()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        return not (self.deck.read_only and action in self.deck.MUTATING)
