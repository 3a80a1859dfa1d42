"""Placement constraints, for the manager's components: ``engine.api.constraint``, where they
live so that whoever holds API values (the console's previews too) can match them."""

from engine.api.constraint import Constraint, node_matches, parse

__all__ = ["Constraint", "node_matches", "parse"]
