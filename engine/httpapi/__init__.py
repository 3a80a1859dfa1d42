"""The Docker Engine API (v1.41) over HTTP, for the swarm parts: what the docker CLI and SDKs use.

Owns: routes, query parsing, Docker's error format, log streams and the event log. Does not own
any decision: every verb goes to the manager's control API through ``Backend``.
"""
