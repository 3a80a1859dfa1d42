"""What every cluster view shares: a header line, a banner for a lost connection, a filter
(``/``, ``console.render.tables.Pattern``), the messages a view sends the app (open a view,
act, follow a stream, go back), asking first, forms, and editing a spec. Table views:
``console.screens.resource``.

A view keeps the latest snapshot the app gave it (``snapshot``, a reactive) and redraws from it
while it is the screen shown; it never asks the app for data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.css.query import NoMatches
from textual.dom import DOMNode
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Input

from console import actions
from console.actions import Request
from console.editing import edit_text, read_spec, spec_diff, spec_yaml
from console.feed import SnapshotReady, Stream
from console.files import save_text
from console.forms import Fields, FormError
from console.model import ChangeSet, Snapshot
from console.render.rows import Row
from console.render.tables import Pattern, parse_pattern
from console.rowcache import TaskRows
from console.sanitize import sanitize_field
from console.screens.dialogs import ConfirmDialog, FormDialog, TypingDialog
from console.widgets.caption import Caption
from console.widgets.keybar import KeyBar
from engine.api.objects import Node, Service
from engine.api.specs import NodeSpec, ServiceSpec

__all__ = ["ClusterScreen", "Link", "typing_refused"]


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
    found = actions.action(action)
    screen = app.screen
    typing = isinstance(app.focused, Input) or isinstance(screen, TypingDialog)
    typing = typing or (isinstance(screen, ClusterScreen) and screen.typing_filter)
    return action != "back" and found is not None and not found.anywhere and typing


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
        """Perform ``requests`` on the cluster, in turn (the same change to several marked
        objects)."""

        def __init__(self, requests: tuple[Request, ...]) -> None:
            super().__init__()
            self.requests = requests

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
        self._filter = Input(
            placeholder="filter: a regular expression, ! first for the inverse (esc clears)",
            id="filter",
        )
        # Shown and hidden by its display at once, not by a class: a class takes effect with
        # the next refresh of styles, and focus given before it would be taken back.
        self._filter.display = False
        self._filter.can_focus = False  # while hidden: a view's first focus is not for it
        self.pattern = Pattern()  # what ``/`` keeps
        self.typing_filter = False  # keys go into the filter, from ``/`` to enter or esc

    def compose(self) -> ComposeResult:
        yield self._header
        yield self._banner
        yield from self.body()
        yield self._filter
        yield KeyBar(actions.footer_rank(self.VIEW), id="keys")

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
        link = self.link
        parts = [sanitize_field(self.title or self.VIEW)]
        parts.append("starting…" if link.starting else self.status())
        if self.pattern:
            parts.append(f"/{sanitize_field(self.pattern.typed)}")
        if link.read_only:
            parts.append("read-only")
        # What this view shows first, the cluster last: a narrow terminal cuts the end.
        parts.append(sanitize_field(link.target))
        self._header.show(" · ".join(parts))
        self._banner.set_class(link.error is None, "-hidden")
        if link.error:
            self._banner.show(f"connection lost: {link.error} (reconnecting)")

    def status(self) -> str:
        """What the header says after the view's title: the cluster's counts, by default."""
        snapshot = self.snapshot
        return (
            f"{len(snapshot.nodes)} nodes · {len(snapshot.services)} services · "
            f"{snapshot.running} tasks running"
        )

    def render_snapshot(self, snapshot: Snapshot) -> None:
        """Subclasses redraw their body here, with what ``pattern`` keeps."""

    def act(self, *requests: Request) -> None:
        self.post_message(self.Act(requests))

    def open(self, screen: ClusterScreen) -> None:
        self.post_message(self.Open(screen))

    def confirm(
        self, title: str, details: str, then: Callable[[], None], diff: bool = False
    ) -> None:
        """Asks first, saying what will happen (``details``; a ``diff -u`` when ``diff``);
        runs ``then`` only on a yes."""

        def answer(confirmed: bool | None) -> None:
            if confirmed:
                then()

        # Pushed with the next message: asked from a form's submit, it comes once the form
        # has closed, on top of this view.
        self.app.call_later(self.app.push_screen, ConfirmDialog(title, details, diff), answer)

    @work(group="edit", exclusive=True)
    async def edit(self, obj: Service | Node, name: str) -> None:
        """Opens ``obj``'s spec in the user's editor; shows what was changed and, on a yes,
        applies it to the version that was edited (``console.editing``)."""
        kind = ServiceSpec if isinstance(obj, Service) else NodeSpec
        try:
            text = await edit_text(self.app, spec_yaml(obj, name), name)
            spec = read_spec(text, kind)
        except (OSError, FormError) as error:
            self.notify(f"{name} not edited: {error}", severity="error", timeout=10)
            return
        if spec is None:
            self.notify(f"{name}: the file was emptied, nothing changed")
            return
        diff = spec_diff(obj.spec, spec)
        if not diff:
            self.notify(f"{name}: no change")
            return
        snapshot = self.snapshot
        found = snapshot.service_by_id if isinstance(obj, Service) else snapshot.node_by_id
        latest = found.get(obj.id)
        version = obj.version.index
        if latest is not None and latest.version.index != version:
            self.notify(
                f"{name} changed while it was edited (version {version}, now "
                f"{latest.version.index}): nothing changed, edit it again",
                severity="error",
                timeout=10,
            )
            return
        self.confirm(
            f"Apply this change to {name}?",
            f"On version {version} (refused if it changed since):\n{diff}",
            lambda: self.act(Request("edit", (obj, spec), f"{name}: edit applied")),
            diff=True,
        )

    def ask(
        self,
        title: str,
        fields: Fields,
        then: Callable[[dict[str, str]], None],
        help_text: str = "",
    ) -> None:
        """Asks for ``fields``; ``then`` takes what was typed. A FormError it raises keeps the
        form open, each bad field saying what is wrong (``FormDialog``)."""
        self.app.push_screen(FormDialog(title, fields, then, help_text))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if typing_refused(self, action):
            return False
        if action == "back":
            return self.can_go_back()
        found = actions.action(action)
        return not (found is not None and found.mutates and self.link.read_only)

    def can_go_back(self) -> bool:
        """Whether esc has something to do: clear the filter, or go back to the view this one
        was opened from (a view reached by ``:`` has nowhere to go back)."""
        if self.filtering:
            return True
        stack = self.app.screen_stack
        return self in stack[1:] and isinstance(stack[stack.index(self) - 1], ClusterScreen)

    def action_back(self) -> None:
        """Clears the filter, or goes back to the view this one was opened from."""
        if self.filtering:
            self._clear_filter()
        elif self.can_go_back():
            self.app.pop_screen()

    # The filter.

    @property
    def filtering(self) -> bool:
        """Whether a filter is typed, or being typed."""
        return bool(self.pattern.typed) or self._filter.display

    def action_filter(self) -> None:
        field = self._filter
        field.display = True
        field.can_focus = True
        self.typing_filter = True
        self.set_focus(field)  # at once: the keys typed after ``/`` are already on their way
        self.refresh_bindings()

    def on_key(self, event: events.Key) -> None:
        """Keys typed right after ``/`` that come before the filter could take them (a view
        still being built): they go into the filter, as they would once it has focus."""
        field = self._filter
        if not self.typing_filter or self.focused is field:
            return
        if event.key == "enter":
            self._filter_typed()
        elif event.key == "backspace":
            field.action_delete_left()
        elif event.is_printable and event.character:
            field.insert_text_at_cursor(event.character)
            self.set_focus(field)
        else:
            return
        event.stop()
        event.prevent_default()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.pattern = parse_pattern(event.value)
            self.filter_changed()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self._filter_typed()

    def _filter_typed(self) -> None:
        self.typing_filter = False
        self.focus_body()
        self.refresh_bindings()

    def filter_changed(self) -> None:
        """The pattern changed: the view shows what it keeps."""
        self.redraw()

    def focus_body(self) -> None:
        """Gives the keys back to the view's main widget."""
        self.set_focus(None)

    def _clear_filter(self) -> None:
        field = self._filter
        field.value = ""
        field.display = False
        field.can_focus = False
        self.typing_filter = False
        self.pattern = Pattern()
        self.focus_body()
        self.filter_changed()
        self.refresh_bindings()

    def save(self, what: str, suffix: str, text: str, count: str) -> Path | None:
        """Saves ``text`` (``count`` says what it holds) to a new file in the folder the
        console was given (``--save-dir``), else the data folder, and says where."""
        try:
            path = save_text(what, suffix, text, getattr(self.app, "save_dir", None))
        except OSError as error:
            self.notify(f"not saved: {error}", severity="error")
            return None
        self.notify(f"saved {count} to {path}", title="saved")
        return path
