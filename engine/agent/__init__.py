"""A node's agent: registers with the dispatcher, heartbeats, runs assigned tasks, reports.

Owns: the agent loop and the executors that run tasks (``exec``: the simulated one, later a
Docker one). Does not own: what tasks a node gets (the manager decides) or any shared state; it
talks to the manager only through engine.api.dispatch.
"""
