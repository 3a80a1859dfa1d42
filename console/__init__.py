"""The swarmdeck console: a terminal operations view of a swarm.

Owns: the ``swarmdeck`` command and everything shown on screen. Reaches clusters only through
engine.client and engine.api values (and engine.embedded to start the default target).
"""
