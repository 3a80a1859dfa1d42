"""What a call to the endpoint can raise::

    ClientError             anything a call to the endpoint can raise; .message, .status
    ├── ConnectError        the endpoint could not be reached or the connection dropped (status 0)
    ├── APIError            the endpoint answered an error status; .status is it
    │   └── NotFound        404: no such object (or no such route)
    └── UnreadableAnswer    the answer is not what the API says (bad JSON, bad frames; status 0)

``message`` is what a user can be shown: the endpoint's own ``{"message": ...}`` for an
APIError, "cannot reach URL: why" for a ConnectError.
"""

from __future__ import annotations

__all__ = ["APIError", "ClientError", "ConnectError", "NotFound", "UnreadableAnswer"]


class ClientError(Exception):
    """Anything a call to the endpoint can raise; ``status`` is 0 unless the endpoint answered
    with an error status."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ConnectError(ClientError):
    """The endpoint could not be reached, or the connection dropped while it answered."""


class APIError(ClientError):
    """The endpoint answered with an error status (``status``) and said why (``message``)."""


class NotFound(APIError):
    """The endpoint answered 404: the object (or the route) does not exist."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message, status)


class UnreadableAnswer(ClientError):
    """The endpoint answered, but not as the API says it does (bad JSON, a broken stream)."""
