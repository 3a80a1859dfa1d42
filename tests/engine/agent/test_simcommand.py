"""Simulated containers run the commands one-shot and demo tasks use: their output in the logs on
the right stream, the command's exit code."""

from __future__ import annotations

import pytest

from engine.agent.exec.simcommand import parse


async def run(
    argv: list[str], files: dict[str, bytes] | None = None
) -> tuple[list[tuple[str, str]], int, float]:
    program = parse(None, argv)
    assert program is not None, argv
    written: list[tuple[str, str]] = []
    slept = 0.0

    async def sleep(seconds: float) -> None:
        nonlocal slept
        slept += seconds

    code = await program.run(lambda stream, text: written.append((stream, text)), sleep, files)
    return written, code, slept


async def test_echo_and_its_flags() -> None:
    assert await run(["echo", "hello", "world"]) == ([("stdout", "hello world")], 0, 0)
    lines, code, _ = await run(["echo", "-e", "a\\tb\\nc"])
    assert lines == [("stdout", "a\tb"), ("stdout", "c")] and code == 0
    assert (await run(["echo", "-n", "x"]))[0] == [("stdout", "x")]  # written at the end


async def test_a_shell_list_with_its_operators_and_exit_code() -> None:
    lines, code, _ = await run(["sh", "-c", "echo a; exit 3"])
    assert lines == [("stdout", "a")] and code == 3
    lines, code, _ = await run(["sh", "-c", "false && echo never || echo instead; true"])
    assert lines == [("stdout", "instead")] and code == 0
    lines, code, _ = await run(["bash", "-c", "echo one\necho two\nfalse"])
    assert lines == [("stdout", "one"), ("stdout", "two")] and code == 1
    assert (await run(["sh", "-c", "exit 300"]))[1] == 300 % 256


async def test_printf_sleep_and_cat_of_its_own_files() -> None:
    lines, code, slept = await run(
        ["sh", "-c", "printf '%s=%d\\n' answer 42; sleep 1.5; cat /run/secrets/token /nope"],
        files={"/run/secrets/token": b"s3cret\n"},
    )
    assert lines == [
        ("stdout", "answer=42"),
        ("stdout", "s3cret"),
        ("stderr", "cat: can't open '/nope': No such file or directory"),
    ]
    assert code == 1 and slept == 1.5


async def test_a_for_loop_expands_its_variable() -> None:
    lines, code, slept = await run(["sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 1; done"])
    assert lines == [("stdout", f"tick {i}") for i in (1, 2, 3)] and code == 0 and slept == 3


async def test_a_loop_forever_repeats_until_stopped() -> None:
    program = parse(None, ["sh", "-c", "while true; do echo alive; sleep 2; done"])
    assert program is not None
    written: list[str] = []

    async def sleep(seconds: float) -> None:
        if len(written) >= 5:
            raise TimeoutError  # stops it, as a container stopped from outside
        return None

    with pytest.raises(TimeoutError):
        await program.run(lambda stream, text: written.append(text), sleep)
    assert written == ["alive"] * 5


@pytest.mark.parametrize(
    "argv",
    [
        ["nginx", "-g", "daemon off;"],
        ["ping", "8.8.8.8"],
        ["sh", "-c", "ps aux | grep x"],  # a pipe
        ["sh", "-c", "curl http://x && echo ok"],  # a program not simulated
        ["sh", "-c", "while sleep 1; do echo x; done"],
        ["sh", "-c", "for i in 1 2; do echo $i"],  # no done
        [],
    ],
)
def test_commands_not_simulated_are_not_parsed(argv: list[str]) -> None:
    assert parse(None, argv) is None


def test_the_entrypoint_and_its_arguments_together() -> None:
    assert parse(["sh", "-c"], ["echo hi"]) is not None
    assert parse(["echo"], ["hi"]) is not None
