"""Placement constraints (`node.labels.zone==east`), parsed and matched as SwarmKit does: by the
scheduler, and by whoever previews where tasks can go (the console).

Only ``==`` and ``!=`` exist; constraints are ANDed; values compare case-insensitively, label keys
case-sensitively; a missing attribute compares as "" (so ``!=`` matches nodes without the label);
an unknown key matches no node.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from engine.api.objects import Node

__all__ = ["Constraint", "node_matches", "parse"]

_KEY = re.compile(r"^[a-z_][a-z0-9\-_.]+$", re.IGNORECASE)
_VALUE = re.compile(r"^[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+$", re.IGNORECASE)
_OPERATORS = ("==", "!=")
NODE_LABEL_PREFIX = "node.labels."
ENGINE_LABEL_PREFIX = "engine.labels."


@dataclass(frozen=True, slots=True)
class Constraint:
    key: str
    equal: bool
    value: str

    def match(self, actual: str) -> bool:
        return (actual.casefold() == self.value.casefold()) == self.equal


def parse(expressions: list[str] | None) -> list[Constraint]:
    """Parses constraint expressions.

    Raises:
        ValueError: with SwarmKit's message for the first malformed expression.
    """
    constraints = []
    for expression in expressions or ():
        for operator in _OPERATORS:
            if operator not in expression:
                continue
            key, value = (part.strip() for part in expression.split(operator, 1))
            if not _KEY.match(key):
                raise ValueError(f"key '{key}' is invalid")
            if not _VALUE.match(value):
                raise ValueError(f"value '{value}' is invalid")
            constraints.append(Constraint(key, operator == "==", value))
            break
        else:
            raise ValueError("constraint expected one operator from ==, !=")
    return constraints


def node_matches(constraints: list[Constraint], node: Node) -> bool:
    """Whether ``node`` satisfies every constraint."""
    return all(_matches(constraint, node) for constraint in constraints)


def _matches(constraint: Constraint, node: Node) -> bool:
    key = constraint.key.lower()
    description = node.description
    if key == "node.id":
        return constraint.match(node.id)
    if key == "node.hostname":
        return constraint.match(node.hostname)
    if key == "node.role":
        return constraint.match(node.spec.role.value if node.spec.role else "worker")
    if key == "node.ip":
        return _match_ip(constraint, node.status.addr or "")
    if key == "node.platform.os":
        platform = description.platform if description else None
        return constraint.match((platform.os if platform else None) or "")
    if key == "node.platform.arch":
        platform = description.platform if description else None
        return constraint.match((platform.architecture if platform else None) or "")
    if key.startswith(NODE_LABEL_PREFIX) and len(key) > len(NODE_LABEL_PREFIX):
        label = constraint.key[len(NODE_LABEL_PREFIX) :]
        return constraint.match((node.spec.labels or {}).get(label, ""))
    if key.startswith(ENGINE_LABEL_PREFIX) and len(key) > len(ENGINE_LABEL_PREFIX):
        label = constraint.key[len(ENGINE_LABEL_PREFIX) :]
        engine = description.engine if description else None
        return constraint.match(((engine.labels if engine else None) or {}).get(label, ""))
    return False


def _match_ip(constraint: Constraint, addr: str) -> bool:
    try:
        network = ipaddress.ip_network(constraint.value, strict=False)
        inside = ipaddress.ip_address(addr) in network
    except ValueError:
        return False
    return inside == constraint.equal
