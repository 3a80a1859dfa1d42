"""The commands a simulated container runs: what one-shot and demo tasks use, run for real.

``parse`` reads a container's command (``echo hello``, ``sh -c 'echo a; exit 3'``) and gives a
``Program``, or None for a command it does not know (the container then runs as a long-lived
process, as before, and says so in its first log line). ``Program.run`` writes each line to
the stream it goes to and returns the exit code, sleeping on the engine's clock.

Understood: ``echo [-n] [-e]``, ``printf FORMAT [ARG...]`` (``%s %d %i %%`` and backslash
escapes), ``cat FILE`` (the container's own files), ``sleep N``, ``true``, ``false``,
``exit [N]``; and ``sh -c`` / ``bash -c`` scripts of those joined by ``;``, ``&&``, ``||`` and
newlines, with ``while true; do ...; done``, ``while :; do ...; done`` and
``for NAME in WORDS; do ...; done`` (``$NAME`` and ``${NAME}`` expanded).

    program = parse(None, ["sh", "-c", "echo a; exit 3"])
    code = await program.run(write, clock.sleep, files)   # writes ("stdout", "a"), returns 3
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["SHELLS", "Program", "parse"]

SHELLS = ("sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/bash", "ash", "/bin/ash")
MAX_SLEEP = 10 * 365 * 24 * 3600.0  # seconds: `sleep infinity` is this long
BUILTINS = ("echo", "printf", "cat", "sleep", "true", "false", "exit", ":")

Write = Callable[[str, str], None]  # (stream, line)
Sleep = Callable[[float], Awaitable[None]]


class _Exit(Exception):  # the shell's exit, not an error
    def __init__(self, code: int) -> None:
        self.code = code


@dataclass(frozen=True)
class _Simple:
    argv: tuple[str, ...]


@dataclass(frozen=True)
class _Loop:
    body: _List
    variable: str | None = None  # a for loop's; None: while true
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class _List:
    """Commands joined by ``;`` (``None``), ``&&`` or ``||``: (joiner before it, command)."""

    items: tuple[tuple[str | None, _Simple | _Loop], ...] = ()


@dataclass
class _Run:
    write: Write
    sleep: Sleep
    files: Mapping[str, bytes]
    variables: dict[str, str] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)  # stdout written without a newline yet


@dataclass(frozen=True)
class Program:
    """A parsed command; ``run`` runs it."""

    script: _List

    async def run(
        self, write: Write, sleep: Sleep, files: Mapping[str, bytes] | None = None
    ) -> int:
        """Runs it to the end: each line written as it comes; the exit code."""
        state = _Run(write, sleep, files or {})
        try:
            code = await _run_list(self.script, state)
        except _Exit as exit_:
            code = exit_.code
        if state.pending:
            write("stdout", "".join(state.pending))
        return code


def parse(command: list[str] | None, args: list[str] | None) -> Program | None:
    """The program of a container whose command (entrypoint) and arguments are these; None for
    one this simulator does not run (an image's own entrypoint among them)."""
    argv = [*(command or ()), *(args or ())]
    if not argv:
        return None
    try:
        if argv[0] in SHELLS and len(argv) >= 3 and argv[1] == "-c":
            script = _parse_script(argv[2])
        elif argv[0] in BUILTINS:
            script = _List(((None, _Simple(tuple(argv))),))
        else:
            return None
    except ValueError:
        return None
    return Program(script)


# Parsing.

_JOINERS = (";", "&&", "||")  # newlines are read as ";"


def _parse_script(text: str) -> _List:
    tokens = _tokens(text)
    script, rest = _parse_list(tokens, ())
    if rest:
        raise ValueError(f"unexpected {rest[0]!r}")
    return script


def _tokens(text: str) -> list[str]:
    """Words and the operators ``;`` ``&&`` ``||`` and newlines, as a shell splits them."""
    lexer = shlex.shlex(text.replace("\n", " ; "), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    tokens = list(lexer)
    for token in tokens:
        if set(token) <= set(";&|") and token not in (";", "&&", "||"):
            raise ValueError(f"unsupported operator {token!r}")  # pipes, background, ;;
    return tokens


def _parse_list(tokens: list[str], ends: tuple[str, ...]) -> tuple[_List, list[str]]:
    items: list[tuple[str | None, _Simple | _Loop]] = []
    joiner: str | None = None
    while tokens and tokens[0] not in ends:
        if tokens[0] in _JOINERS:
            joiner = None if tokens[0] == ";" else tokens[0]
            tokens = tokens[1:]
            continue
        command, tokens = _parse_command(tokens, ends)
        items.append((joiner if items else None, command))
        joiner = None
    return _List(tuple(items)), tokens


def _parse_command(tokens: list[str], ends: tuple[str, ...]) -> tuple[_Simple | _Loop, list[str]]:
    head = tokens[0]
    if head == "while":
        condition = tokens[1:3]
        if condition not in (["true", ";"], [":", ";"]) or tokens[3:4] != ["do"]:
            raise ValueError("only `while true; do ...; done` loops")
        body, rest = _parse_list(tokens[4:], ("done",))
        return _Loop(body), _after_done(rest)
    if head == "for":
        if len(tokens) < 4 or tokens[2] != "in":
            raise ValueError("a for loop is `for NAME in WORDS; do ...; done`")
        words_end = tokens.index("do") if "do" in tokens else -1
        if words_end < 0:
            raise ValueError("a for loop without do")
        words = tuple(word for word in tokens[3:words_end] if word != ";")
        body, rest = _parse_list(tokens[words_end + 1 :], ("done",))
        return _Loop(body, tokens[1], words), _after_done(rest)
    argv = []
    while tokens and tokens[0] not in _JOINERS and tokens[0] not in ends:
        argv.append(tokens[0])
        tokens = tokens[1:]
    if argv[0] not in BUILTINS:
        raise ValueError(f"{argv[0]}: not simulated")
    return _Simple(tuple(argv)), tokens


def _after_done(tokens: list[str]) -> list[str]:
    if not tokens or tokens[0] != "done":
        raise ValueError("a loop without done")
    return tokens[1:]


# Running.


async def _run_list(script: _List, state: _Run) -> int:
    code = 0
    for joiner, command in script.items:
        if (joiner == "&&" and code != 0) or (joiner == "||" and code == 0):
            continue
        code = await (
            _run_loop(command, state) if isinstance(command, _Loop) else _run(command, state)
        )
    return code


async def _run_loop(loop: _Loop, state: _Run) -> int:
    code = 0
    if loop.variable is None:
        while True:
            code = await _run_list(loop.body, state)
            await state.sleep(0)  # a loop that never sleeps still lets the engine run
    for word in loop.words:
        for value in _expand(word, state).split() or [""]:
            state.variables[loop.variable] = value
            code = await _run_list(loop.body, state)
    return code


async def _run(command: _Simple, state: _Run) -> int:
    name, *args = (_expand(word, state) for word in command.argv)
    match name:
        case "true" | ":":
            return 0
        case "false":
            return 1
        case "exit":
            raise _Exit(_number(args[0]) % 256 if args else 0)
        case "sleep":
            await state.sleep(_seconds(args))
            return 0
        case "echo":
            return _echo(args, state)
        case "printf":
            if not args:
                _line(state, "stderr", "printf: usage: printf FORMAT [ARGUMENT]...")
                return 1
            _out(state, _printf(args[0], args[1:]))
            return 0
        case "cat":
            return _cat(args, state)
    raise AssertionError(name)


def _echo(args: list[str], state: _Run) -> int:
    newline, escapes = True, False
    while args and args[0] in ("-n", "-e", "-ne", "-en", "-E"):
        newline = newline and "n" not in args[0]
        escapes = "e" in args[0] or (escapes and args[0] != "-E")
        args = args[1:]
    text = " ".join(args)
    _out(state, (_unescape(text) if escapes else text) + ("\n" if newline else ""))
    return 0


def _cat(args: list[str], state: _Run) -> int:
    code = 0
    for path in args:
        data = state.files.get(path)
        if data is None:
            _line(state, "stderr", f"cat: can't open '{path}': No such file or directory")
            code = 1
        else:
            _out(state, data.decode("utf-8", "replace"))
    return code


def _out(state: _Run, text: str) -> None:
    """Standard output: whole lines go out as they end, the rest waits for its newline."""
    *lines, rest = text.split("\n")
    for line in lines:
        state.write("stdout", "".join(state.pending) + line)
        state.pending.clear()
    if rest:
        state.pending.append(rest)


def _line(state: _Run, stream: str, text: str) -> None:
    state.write(stream, text)


_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")


def _expand(word: str, state: _Run) -> str:
    return _VARIABLE.sub(lambda m: state.variables.get(m.group(1) or m.group(2), ""), word)


def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 2  # sh: exit: Illegal number


def _seconds(args: list[str]) -> float:
    if not args or args[0] == "infinity":
        return MAX_SLEEP
    try:
        return max(0.0, min(MAX_SLEEP, float(args[0].rstrip("s"))))
    except ValueError:
        return 0.0


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "r": "\r", "a": "\a", "e": "\x1b", "0": "\0"}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), text)


def _printf(format_: str, args: list[str]) -> str:
    values = iter(args)

    def field(match: re.Match[str]) -> str:
        kind = match.group(1)
        if kind == "%":
            return "%"
        value = next(values, "")
        if kind in "di":
            try:
                return str(int(value or 0))
            except ValueError:
                return "0"
        return value

    return re.sub(r"%([sdi%])", field, _unescape(format_))
