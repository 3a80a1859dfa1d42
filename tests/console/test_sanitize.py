"""Hostile text from containers loses every control sequence but colour."""

from __future__ import annotations

import pytest

from console.sanitize import MAX_LINE, Sanitizer, sanitize, sanitize_field

HOSTILE = {
    "title": "\x1b]0;EVIL title\x07",
    "title (ST)": "\x1b]2;EVIL title\x1b\\",
    "clipboard": "\x1b]52;c;ZWNobyBFVklM\x07",
    "hyperlink": "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "cursor move": "\x1b[10;10HEVIL",
    "clear screen": "\x1b[2J\x1b[H",
    "erase line": "\x1b[2K",
    "dcs": "\x1bPq#0;2;0;0;0EVIL\x1b\\",
    "apc": "\x1b_EVIL\x1b\\",
    "pm": "\x1b^EVIL\x1b\\",
    "sos": "\x1bXEVIL\x1b\\",
    "c1 csi": "\x9b2J",
    "c1 osc": "\x9d0;EVIL\x9c",
    "bell and backspace": "\x07\x08\x08\x08",
    "keypad mode": "\x1b=\x1b>",
    "charset": "\x1b(0",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_control_sequences_are_dropped(name: str) -> None:
    safe = sanitize(f"before {HOSTILE[name]} after")
    assert "\x1b" not in safe
    assert not any("\x80" <= c <= "\x9f" for c in safe)
    assert not any(c < " " and c not in "\t\n" for c in safe)
    assert safe.startswith("before ") and safe.endswith(" after")
    assert "EVIL" not in safe or name == "cursor move"  # text after a cursor move is kept


def test_colour_is_kept() -> None:
    assert sanitize("\x1b[31mred\x1b[0m and \x1b[1;38;5;208mbold\x1b[m") == (
        "\x1b[31mred\x1b[0m and \x1b[1;38;5;208mbold\x1b[m"
    )


def test_carriage_returns_show_and_cannot_overwrite() -> None:
    assert sanitize("password: hunter2\rpassword: *******") == (
        "password: hunter2␍password: *******"
    )


def test_a_sequence_split_across_chunks_is_still_caught() -> None:
    sanitizer = Sanitizer()
    out = "".join(
        sanitizer.feed(part) for part in ["ok \x1b]", "0;EV", "IL\x07 done", "\x1b[", "2J!"]
    )
    assert out == "ok  done!"


def test_lines_are_capped() -> None:
    safe = sanitize("x" * (MAX_LINE + 50) + "\nnext")
    first, second = safe.split("\n")
    assert len(first) == MAX_LINE + 1 and first.endswith("…")
    assert second == "next"


def test_fields_lose_colour_and_line_breaks() -> None:
    assert sanitize_field("web\x1b[31m\nevil\x1b]0;t\x07") == "web␤evil"
    assert sanitize_field(None) == ""
