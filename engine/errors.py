"""The engine's exception tree, one class per gRPC status code that SwarmKit answers with.

    EngineError
    ├── InvalidArgument      bad spec or parameter (HTTP 400)
    ├── FailedPrecondition   the request does not fit the object's state (HTTP 400)
    ├── NotFound             no such object (HTTP 404)
    ├── AlreadyExists        name conflicts with an existing object (HTTP 409)
    ├── PermissionDenied     the peer's certificate does not allow it (HTTP 403)
    ├── Unauthenticated      a key that is not the right one (HTTP 401)
    ├── SequenceConflict     a write carried a stale version: "update out of sequence" (HTTP 500)
    ├── Unimplemented        the change is not supported, e.g. renaming a service (HTTP 501)
    └── Unavailable          the manager cannot answer now (HTTP 503)

The message is SwarmKit's ``desc``; ``str(error)`` is the message alone. ``public_text()`` is what
a Docker daemon answers: the ``rpc error: code = ... desc = ...`` form for errors from SwarmKit,
the plain message for its own (``rpc=False``: bad JSON, a name that resolves to nothing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TypeVar

__all__ = [
    "AlreadyExists",
    "EngineError",
    "FailedPrecondition",
    "Failure",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "SequenceConflict",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "first_error",
    "the_one",
]

T = TypeVar("T")


class EngineError(Exception):
    """Base of every error the engine reports to a caller."""

    code = "Unknown"
    http_status = 500

    def __init__(self, message: str, *, rpc: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.rpc = rpc

    def rpc_text(self) -> str:
        return f"rpc error: code = {self.code} desc = {self.message}"

    def public_text(self) -> str:
        """What a Docker daemon answers: SwarmKit's errors in gRPC form, its own plain."""
        return self.rpc_text() if self.rpc else self.message


class InvalidArgument(EngineError):
    code = "InvalidArgument"
    http_status = 400


class FailedPrecondition(EngineError):
    code = "FailedPrecondition"
    http_status = 400


class NotFound(EngineError):
    code = "NotFound"
    http_status = 404


class AlreadyExists(EngineError):
    code = "AlreadyExists"
    http_status = 409


class PermissionDenied(EngineError):
    code = "PermissionDenied"
    http_status = 403


class Unauthenticated(EngineError):
    code = "Unauthenticated"
    http_status = 401


class SequenceConflict(EngineError):
    """A write carried a version older than the stored object's (SwarmKit's ErrSequenceConflict)."""

    code = "Unknown"
    http_status = 500

    def __init__(self, message: str = "update out of sequence", *, rpc: bool = True) -> None:
        super().__init__(message, rpc=rpc)


class Unimplemented(EngineError):
    code = "Unimplemented"
    http_status = 501


class Unavailable(EngineError):
    code = "Unavailable"
    http_status = 503


class Failure:
    """What a long-running part (a cluster's components, a node's) failed on, once it did:
    ``error``, and ``wait()`` for it."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self._happened = asyncio.Event()

    def record(self, error: BaseException) -> None:
        self.error = first_error(error)
        self._happened.set()

    async def wait(self) -> BaseException:
        await self._happened.wait()
        assert self.error is not None
        return self.error


def first_error(error: BaseException) -> BaseException:
    """The first error an exception group holds (an error that is not a group, itself): what a
    task group that failed failed on, to say."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def the_one(what: str, reference: str, searches: Iterable[Sequence[T]]) -> T:
    """The one match of the first search that has any (by name, then by ID prefix, say), as the
    Docker daemon finds an object by what a user typed.

    Raises:
        InvalidArgument: that search has more than one ("network x is ambiguous (2 matches
            found)").
        NotFound: none has any ("network x not found").
    """
    for matches in searches:
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(
                f"{what} {reference} is ambiguous ({len(matches)} matches found)", rpc=False
            )
    raise NotFound(f"{what} {reference} not found", rpc=False)
