"""swarmdeck's engine: Docker swarm mode, re-implemented, serving the Docker Engine API.

Subpackages own one layer each: ``api`` (values), ``store`` (state), ``manager`` (control loops),
``agent`` (nodes running tasks). ``embedded`` starts a whole cluster in one process.
"""

__version__ = "0.1.0"
