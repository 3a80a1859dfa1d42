"""The engine's exception tree, one class per gRPC status code that SwarmKit answers with.

    EngineError
    ├── InvalidArgument      bad spec or parameter (HTTP 400)
    ├── FailedPrecondition   the request does not fit the object's state (HTTP 400)
    ├── NotFound             no such object (HTTP 404)
    ├── AlreadyExists        name conflicts with an existing object (HTTP 409)
    ├── SequenceConflict     a write carried a stale version: "update out of sequence" (HTTP 500)
    ├── Unimplemented        the change is not supported, e.g. renaming a service (HTTP 501)
    └── Unavailable          the manager cannot answer now (HTTP 503)

The message is SwarmKit's ``desc``; ``str(error)`` is the message alone, and ``rpc_text()`` is the
``rpc error: code = ... desc = ...`` form that a Docker daemon passes on to its clients.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "EngineError",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "SequenceConflict",
    "Unavailable",
    "Unimplemented",
]


class EngineError(Exception):
    """Base of every error the engine reports to a caller."""

    code = "Unknown"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def rpc_text(self) -> str:
        return f"rpc error: code = {self.code} desc = {self.message}"


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


class SequenceConflict(EngineError):
    """A write carried a version older than the stored object's (SwarmKit's ErrSequenceConflict)."""

    code = "Unknown"
    http_status = 500

    def __init__(self, message: str = "update out of sequence") -> None:
        super().__init__(message)


class Unimplemented(EngineError):
    code = "Unimplemented"
    http_status = 501


class Unavailable(EngineError):
    code = "Unavailable"
    http_status = 503
