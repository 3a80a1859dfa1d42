"""The manager: the control loops that turn specs into running tasks, and the control API.

Owns: orchestrators (create and shut down tasks), the allocator, the scheduler (picks nodes), the
dispatcher (node sessions, heartbeats, assignments), the task reaper (deletes history) and the
control API (validates requests, writes the store). ``Manager`` composes them. It does not run
tasks (engine.agent) or speak HTTP (engine.httpapi).
"""
