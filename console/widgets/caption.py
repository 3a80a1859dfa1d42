"""Caption: a Static for text that is set again on every refresh."""

from __future__ import annotations

from textual.widgets import Static

__all__ = ["Caption"]


class Caption(Static):
    """Text set on every refresh, drawn again only when it changed. A Static lays the whole
    screen out again on each update, which a refresh of a large cluster cannot afford: a
    Caption whose size its CSS fixes (``sized=True``) is only repainted."""

    def __init__(self, *, sized: bool = False, id: str | None = None, classes: str = "") -> None:
        super().__init__(id=id, classes=classes, markup=False)
        self._sized = sized
        self._text: str | None = None

    def show(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self.update(text, layout=not self._sized)
