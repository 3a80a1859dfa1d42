"""THE interface the console uses: an async Docker Engine API client and target resolution.

Owns: talking HTTP to whatever serves the Engine API (our engine or a real Docker swarm
manager) and turning answers into engine.api values. Does not own: any swarm logic.
"""

from engine.client.client import ClientError, EngineClient, ListDecoder, LogEntry
from engine.client.ssh import ssh_bridge
from engine.client.target import Target, TargetError, resolve_target
from engine.client.usage import Usage, UsageReader, parse_usage, read_engine_files

__all__ = [
    "ClientError",
    "EngineClient",
    "ListDecoder",
    "LogEntry",
    "Target",
    "TargetError",
    "Usage",
    "UsageReader",
    "parse_usage",
    "read_engine_files",
    "resolve_target",
    "ssh_bridge",
]
