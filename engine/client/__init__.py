"""THE interface the console uses: an async Docker Engine API client and target resolution.

Owns: talking HTTP to whatever serves the Engine API (our engine or a real Docker swarm
manager) through a Transport, and turning answers into engine.api values or the errors of
engine.client.errors. Does not own: any swarm logic, or serving the API (engine.httpapi; an
AppTransport serves an application it is given, without importing engine.httpapi).
FakeTransport, for tests, is in engine.client.fake.
"""

from engine.client.client import EngineClient, ListDecoder, LogEntry, open_client
from engine.client.errors import APIError, ClientError, ConnectError, NotFound, UnreadableAnswer
from engine.client.ssh import ssh_bridge
from engine.client.target import Target, TargetError, resolve_target
from engine.client.transport import AppTransport, HTTPTransport, Response, Transport
from engine.client.usage import Usage, UsageReader, parse_usage, read_engine_files

__all__ = [
    "APIError",
    "AppTransport",
    "ClientError",
    "ConnectError",
    "EngineClient",
    "HTTPTransport",
    "ListDecoder",
    "LogEntry",
    "NotFound",
    "Response",
    "Target",
    "TargetError",
    "Transport",
    "UnreadableAnswer",
    "Usage",
    "UsageReader",
    "open_client",
    "parse_usage",
    "read_engine_files",
    "resolve_target",
    "ssh_bridge",
]
