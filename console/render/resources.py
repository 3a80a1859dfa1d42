"""Rows of the stacks, networks, secrets and configs tables, from a snapshot.

A stack is what ``docker stack deploy`` labelled with its namespace: services, networks,
secrets and configs (``Snapshot.stacks``). A secret's row has its name, the services that use
it, its labels and age: a secret's data never reaches the console, and a config's is not shown
in a table either (its YAML shows it, base64, as ``docker config inspect`` does).
"""

from __future__ import annotations

from collections.abc import Mapping

from console.model import Snapshot, StackParts
from console.render.formatting import short_age
from console.render.rows import Row, replicas
from console.sanitize import sanitize_field
from engine.api.naming import SHORT_ID
from engine.api.objects import Config, Secret

__all__ = [
    "CONFIG_COLUMNS",
    "NETWORK_COLUMNS",
    "SECRET_COLUMNS",
    "STACK_COLUMNS",
    "config_rows",
    "labels_text",
    "network_rows",
    "secret_rows",
    "stack_rows",
]

STACK_COLUMNS = ("NAME", "SERVICES", "REPLICAS", "NETWORKS", "SECRETS", "CONFIGS", "CHANGED")
NETWORK_COLUMNS = ("NAME", "DRIVER", "SCOPE", "SUBNET", "SERVICES", "TASKS", "ID")
SECRET_COLUMNS = ("NAME", "SERVICES", "LABELS", "AGE", "ID")
CONFIG_COLUMNS = SECRET_COLUMNS
_UPDATING = ("updating", "rollback_started")


def stack_rows(snapshot: Snapshot) -> list[Row]:
    """A row a stack: how many services, their replicas running of desired (summed), its
    networks, secrets and configs, and how long since one of its services last changed."""
    return [_stack_row(name, parts, snapshot) for name, parts in snapshot.stacks.items()]


def _stack_row(name: str, parts: StackParts, snapshot: Snapshot) -> Row:
    running = desired = 0
    converged = True
    for service in parts.services:
        ran, wanted = replicas(service, snapshot)
        running, desired = running + ran, desired + wanted
        converged = converged and ran >= wanted
    updating = any(
        (s.update_status.state if s.update_status else "") in _UPDATING for s in parts.services
    )
    state = "busy" if updating else "ok" if converged else "bad" if not running else "warn"
    stamps = [s.updated_at or s.created_at for s in parts.services]
    latest = max((stamp for stamp in stamps if stamp), default=None)
    return Row(
        name,
        (
            sanitize_field(name),
            str(len(parts.services)),
            f"{running}/{desired}",
            str(len(parts.networks)),
            str(len(parts.secrets)),
            str(len(parts.configs)),
            short_age(latest, snapshot.now) if latest else "",
        ),
        state,
    )


def network_rows(snapshot: Snapshot) -> list[Row]:
    """A row a network: driver, scope, subnets, the services attached (or with a VIP on it)
    and how many of their tasks have an address on it."""
    rows = []
    for network in sorted(snapshot.networks, key=lambda n: n.name):
        users = snapshot.users.get(network.id, [])
        tasks = len(snapshot.tasks_by_network.get(network.id, ()))
        rows.append(
            Row(
                network.id,
                (
                    sanitize_field(network.name),
                    sanitize_field(network.driver),
                    sanitize_field(network.scope),
                    sanitize_field(",".join(network.subnets)),
                    sanitize_field(", ".join(users), 80),
                    str(tasks) if network.scope == "swarm" else "",
                    network.id[:SHORT_ID],
                ),
                "ok" if users else "off",
            )
        )
    return rows


def secret_rows(snapshot: Snapshot) -> list[Row]:
    return _file_rows(snapshot.secrets, snapshot)


def config_rows(snapshot: Snapshot) -> list[Row]:
    return _file_rows(snapshot.configs, snapshot)


def _file_rows(objects: tuple[Secret, ...] | tuple[Config, ...], snapshot: Snapshot) -> list[Row]:
    """A row a secret or config: its name, the services that use it, its labels and age;
    never its data."""
    rows = []
    for obj in sorted(objects, key=lambda o: o.name):
        users = snapshot.users.get(obj.id, [])
        rows.append(
            Row(
                obj.id,
                (
                    sanitize_field(obj.name),
                    sanitize_field(", ".join(users), 80),
                    labels_text(obj.spec.labels),
                    short_age(obj.created_at, snapshot.now),
                    obj.id[:SHORT_ID],
                ),
                "ok" if users else "off",
            )
        )
    return rows


def labels_text(labels: Mapping[str, str] | None) -> str:
    """Labels as ``key=value`` by key, made safe to show."""
    return sanitize_field(",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())), 120)
