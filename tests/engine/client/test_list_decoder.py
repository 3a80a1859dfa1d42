"""Polled lists: an element whose JSON did not change is the same object as last poll."""

from __future__ import annotations

import json

import pytest

from engine.api.objects import Task
from engine.api.types import TaskState
from engine.client import ClientError
from engine.client.client import ListDecoder


def body(*states: str) -> bytes:
    return json.dumps(
        [
            {"ID": f"t{i}", "DesiredState": "running", "Status": {"State": state}}
            for i, state in enumerate(states)
        ]
    ).encode()


def test_unchanged_elements_are_reused_and_changed_ones_decoded() -> None:
    decoder = ListDecoder(Task)
    first = decoder.decode(body("running", "running", "pending"))
    second = decoder.decode(body("running", "failed", "pending"))
    assert [t.status.state for t in second] == [
        TaskState.RUNNING,
        TaskState.FAILED,
        TaskState.PENDING,
    ]
    assert second[0] is first[0] and second[2] is first[2]
    assert second[1] is not first[1]
    third = decoder.decode(body("running"))  # only what the last answer held is remembered
    assert third[0] is second[0]
    assert decoder.decode(body("running", "running"))[1] is not first[1]


@pytest.mark.parametrize(
    "answer",
    [
        b"",
        b"{",
        b'{"ID": "t1"}',
        b'[{"ID": 5}]',
        b'[{"Status": {"State": "dancing"}}]',
        b"[" * 5000,
    ],
    ids=["empty", "open", "object", "wrong-type", "bad-enum", "deep"],
)
def test_an_unreadable_answer_is_a_client_error_and_forgets_nothing(answer: bytes) -> None:
    decoder = ListDecoder(Task)
    first = decoder.decode(body("running"))
    with pytest.raises(ClientError, match="unreadable answer"):
        decoder.decode(answer)
    assert decoder.decode(body("running"))[0] is first[0]
