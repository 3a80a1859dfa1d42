"""What every cluster view shares: a header line, a banner for a lost connection, a filter, and
the messages a view sends the app (open a view, act, follow a stream, go back).

A view keeps the latest snapshot the app gave it (``snapshot``, a reactive) and redraws from it
while it is the screen shown; it never asks the app for data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.css.query import NoMatches
from textual.dom import DOMNode
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Input

from console import actions
from console.actions import Request
from console.feed import SnapshotReady, Stream
from console.forms import Fields, FormError
from console.model import ChangeSet, Snapshot
from console.render.rows import Row
from console.rowcache import TaskRows
from console.sanitize import sanitize_field
from console.screens.dialogs import ConfirmDialog, FormDialog, TypingDialog
from console.widgets.caption import Caption
from console.widgets.resource_table import ResourceTable

__all__ = ["ClusterScreen", "Link", "ResourceScreen", "typing_refused"]


@dataclass(frozen=True)
class Link:
    """How the console stands with its cluster, as each view's header and banner say."""

    target: str = ""
    starting: bool = False  # the endpoint is still being started
    error: str | None = None  # why the endpoint does not answer, while it does not
    read_only: bool = False


def typing_refused(node: DOMNode, action: str) -> bool:
    """Whether ``action`` must wait because keys go into an input (one with focus, or a
    dialog's before its input has focus): every action of the table but ``back`` does, so a
    key typed into a filter or a form is text there, never an action on the view below."""
    app = node.app
    return (
        action != "back"
        and actions.action(action) is not None
        and (isinstance(app.focused, Input) or isinstance(app.screen, TypingDialog))
    )


class ClusterScreen(Screen[None]):
    """A view of the cluster that redraws from each new snapshot."""

    VIEW = ""
    BINDINGS: ClassVar[list[BindingType]] = []  # each view's: actions.bindings(VIEW)

    snapshot: var[Snapshot] = var(Snapshot, init=False)
    link: var[Link] = var(Link, init=False)

    class Open(Message):
        """Show ``screen`` over this one."""

        def __init__(self, screen: ClusterScreen) -> None:
            super().__init__()
            self.screen = screen

    class Act(Message):
        """Perform ``request`` on the cluster."""

        def __init__(self, request: Request) -> None:
            super().__init__()
            self.request = request

    class Follow(Message):
        """Hand ``view`` what ``stream`` brings (``follow``), or no more (not ``follow``)."""

        def __init__(self, view: ClusterScreen, stream: Stream, follow: bool = True) -> None:
            super().__init__()
            self.view = view
            self.stream = stream
            self.follow = follow

    def __init__(self) -> None:
        super().__init__()
        self.changes: ChangeSet | None = None  # from the snapshot before ``snapshot``
        self.task_rows: TaskRows | None = None  # the row of every task of ``snapshot``
        self.node_rows: tuple[Row, ...] | None = None  # and of every node
        # Kept rather than looked up: news can come before the view is built or while it is
        # being taken down, and these take it either way.
        self._header = Caption(sized=True, id="header")
        self._banner = Caption(id="banner", classes="-hidden")

    def compose(self) -> ComposeResult:
        yield self._header
        yield self._banner
        yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:
        return iter(())

    def on_mount(self) -> None:
        self.title = self.title or self.VIEW
        if self.is_current:
            self.draw()  # in the first frame it is part of, not the one after

    def take(self, ready: SnapshotReady) -> None:
        """A new snapshot, with what changed since the one before it."""
        self.changes, self.task_rows, self.node_rows = (
            ready.changes,
            ready.task_rows,
            ready.node_rows,
        )
        self.snapshot = ready.snapshot

    def watch_snapshot(self) -> None:
        self.redraw()

    def watch_link(self) -> None:
        self.redraw()

    def on_screen_resume(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draws the latest snapshot and link, while this view is the one shown. A view made
        current before its widgets are mounted draws with the next snapshot instead."""
        if self.is_mounted and self.is_current:
            try:
                self.draw()
            except NoMatches:
                return

    def draw(self) -> None:
        self.render_snapshot(self.snapshot)
        link, snapshot = self.link, self.snapshot
        title = sanitize_field(self.title or self.VIEW)
        header = f"swarmdeck · {sanitize_field(link.target)} · {title} · "
        if link.starting:
            header += "starting…"
        else:
            header += (
                f"{len(snapshot.nodes)} nodes · {len(snapshot.services)} services · "
                f"{snapshot.running} tasks running"
            )
        if link.read_only:
            header += " · read-only"
        self._header.show(header)
        self._banner.set_class(link.error is None, "-hidden")
        if link.error:
            self._banner.show(f"connection lost: {link.error} (reconnecting)")

    def render_snapshot(self, snapshot: Snapshot) -> None:
        """Subclasses redraw their body here."""

    def act(self, request: Request) -> None:
        self.post_message(self.Act(request))

    def open(self, screen: ClusterScreen) -> None:
        self.post_message(self.Open(screen))

    def confirm(self, title: str, details: str, then: Callable[[], None]) -> None:
        """Asks first, saying what will happen; runs ``then`` only on a yes."""

        def answer(confirmed: bool | None) -> None:
            if confirmed:
                then()

        self.app.push_screen(ConfirmDialog(title, details), answer)

    def ask(
        self,
        title: str,
        fields: Fields,
        then: Callable[[dict[str, str]], None],
        help_text: str = "",
    ) -> None:
        """Asks for ``fields``; ``then`` takes what was typed, and a FormError it raises is
        said instead."""

        def submitted(values: dict[str, str] | None) -> None:
            if values is None:
                return
            try:
                then(values)
            except FormError as error:
                self.notify(str(error), severity="error")

        self.app.push_screen(FormDialog(title, fields, help_text), submitted)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if typing_refused(self, action):
            return False
        if action == "back":
            return self.can_go_back()
        found = actions.action(action)
        return not (found is not None and found.mutates and self.link.read_only)

    def can_go_back(self) -> bool:
        """Whether esc has something to do: a view reached by ``:`` has nowhere to go back."""
        stack = self.app.screen_stack
        return self in stack[1:] and isinstance(stack[stack.index(self) - 1], ClusterScreen)

    def action_back(self) -> None:
        """Back to the view this one was opened from."""
        if self.can_go_back():
            self.app.pop_screen()


class ResourceScreen(ClusterScreen):
    """A table of rows with ``/`` to filter them and enter to drill down."""

    COLUMNS: tuple[str, ...] = ()

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

    def selected_key(self) -> str | None:
        return self.table.selected_key

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.remove_class("-hidden")
        self.set_focus(field)  # at once: the keys typed after ``/`` are already on their way
        self.refresh_bindings()

    def can_go_back(self) -> bool:
        return self.filtering or super().can_go_back()

    @property
    def filtering(self) -> bool:
        return bool(self._needle) or not self.query_one("#filter", Input).has_class("-hidden")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self._needle = event.value
            self.redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.table.focus()

    def action_back(self) -> None:
        if self.filtering:
            field = self.query_one("#filter", Input)
            field.value = ""
            self._needle = ""
            field.add_class("-hidden")
            self.table.focus()
            self.redraw()
            self.refresh_bindings()
            return
        super().action_back()
