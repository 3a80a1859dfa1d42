"""Modal dialogs: confirm a disruptive action, or fill in a few fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from console.forms import FormError
from console.sanitize import sanitize_field, sanitize_lines
from themes import theme_colour

__all__ = ["ConfirmDialog", "FormDialog", "TypingDialog"]

Result = TypeVar("Result")


class TypingDialog(ModalScreen[Result]):
    """A dialog of inputs that keeps what is typed before its first input has focus.

    Keys typed right after the one that opens the dialog (``:nodes`` and enter, in one go)
    reach the dialog before its input is focused; they go into that input, as they would once
    it has focus, instead of being lost or taken for the view's keys.
    """

    async def on_key(self, event: events.Key) -> None:
        fields = self.query(Input)
        if self.focused is not None or not fields:
            return
        field = fields.first()
        if event.key == "enter":
            await field.action_submit()
        elif event.key == "backspace":
            field.action_delete_left()
        elif event.is_printable and event.character:
            if field.select_on_focus:  # what focus would have selected, the first key replaces
                field.value = ""
                field.select_on_focus = False  # nor is what was typed selected when it comes
            field.insert_text_at_cursor(event.character)
        else:
            return
        event.stop()
        field.focus()


class ConfirmDialog(ModalScreen[bool]):
    """Says what will happen; ``y``/enter goes ahead, ``n``/esc does not."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, details: str, diff: bool = False) -> None:
        """``title`` and ``details`` may hold what the cluster says (names, labels): they are
        shown sanitized. A ``diff`` shows its lines of ``-`` and ``+`` in the theme's colours
        of what goes and what comes."""
        super().__init__()
        self._title = sanitize_field(title)
        self._details = sanitize_lines(details)
        self._diff = diff

    def _text(self) -> Text | str:
        if not self._diff:
            return self._details
        theme = self.app.current_theme
        colours = {"-": theme_colour(theme, "state-bad"), "+": theme_colour(theme, "state-ok")}
        text = Text()
        for index, line in enumerate(self._details.split("\n")):
            if index:
                text.append("\n")
            text.append(line, style=colours.get(line[:1], ""))
        return text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self._title, style="bold"))
            with VerticalScroll(id="details"):
                yield Static(self._text(), markup=False)
            with Grid(id="buttons"):
                yield Button("No (n)", id="no")
                yield Button("Yes (y)", id="yes", variant="warning")
        yield Footer()  # the dialog's keys, not those of the view under it

    def on_mount(self) -> None:
        self.query_one("#buttons", Grid).styles.grid_size_columns = 2
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class FormDialog(TypingDialog[None]):
    """A few labelled inputs; enter on the last submits, esc cancels. ``submit`` takes what was
    typed; a FormError it raises keeps the dialog open, with everything typed, each bad
    field's label saying what is wrong, and the first of them focused."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        fields: list[tuple[str, str, str]],
        submit: Callable[[dict[str, str]], None],
        help_text: str = "",
    ) -> None:
        """``fields`` are (key, label, initial value). The title and the initial values may
        hold what the cluster says (a node's labels, a service's image): they are shown, and
        offered for editing, sanitized."""
        super().__init__()
        self._title = sanitize_field(title)
        self._fields = [(key, label, sanitize_field(value)) for key, label, value in fields]
        self._submit = submit
        self._help = help_text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self._title, style="bold"))
            for key, label, value in self._fields:
                yield Label(label, markup=False, id=f"label-{key}", classes="field")
                yield Input(value=value, id=f"field-{key}", compact=True)
            if self._help:
                yield Static(self._help, id="help", markup=False)
        yield Footer()

    @property
    def values(self) -> dict[str, str]:
        return {
            key: self.query_one(f"#field-{key}", Input).value.strip() for key, _, _ in self._fields
        }

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        if event.input is not inputs[-1]:
            inputs[inputs.index(event.input) + 1].focus()
            return
        try:
            self._submit(self.values)
        except FormError as error:
            self.show_errors(error.errors)
            return
        self.dismiss(None)

    def show_errors(self, errors: dict[str, str]) -> None:
        """Marks each field of ``errors`` with its message; clears the others."""
        for key, label, _ in self._fields:
            message = errors.get(key)
            shown = self.query_one(f"#label-{key}", Label)
            short = label.split(" (", 1)[0]  # the label's name, without its hints
            shown.update(Text(f"{short}: {sanitize_field(message)}" if message else label))
            shown.set_class(message is not None, "-error")
            self.query_one(f"#field-{key}", Input).set_class(message is not None, "-error")
        first = next((key for key, _, _ in self._fields if key in errors), None)
        if first is not None:
            self.query_one(f"#field-{first}", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
