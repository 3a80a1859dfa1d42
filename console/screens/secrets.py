"""The secrets and configs views: names, the services that use each, labels, age; y shows one
as YAML (a secret never with its data, which the swarm never gives; a config with its data,
base64, as ``docker config inspect`` shows it), ctrl+d removes one no service uses (keys:
``console.actions``)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import BindingType

from console import actions
from console.model import Snapshot
from console.render.resources import CONFIG_COLUMNS, SECRET_COLUMNS, config_rows, secret_rows
from console.render.rows import Row
from console.screens.objects import ObjectsScreen

__all__ = ["ConfigsScreen", "SecretsScreen"]


class SecretsScreen(ObjectsScreen):
    VIEW = "secrets"
    KIND = "secret"
    COLUMNS = SECRET_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW, COLUMNS)

    def rows(self, snapshot: Snapshot) -> list[Row]:
        return secret_rows(snapshot)

    def objects(self, snapshot: Snapshot) -> dict[str, tuple[str, object]]:
        return {s.id: (s.name, s) for s in snapshot.secrets}


class ConfigsScreen(ObjectsScreen):
    VIEW = "configs"
    KIND = "config"
    COLUMNS = CONFIG_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW, COLUMNS)

    def rows(self, snapshot: Snapshot) -> list[Row]:
        return config_rows(snapshot)

    def objects(self, snapshot: Snapshot) -> dict[str, tuple[str, object]]:
        return {c.id: (c.name, c) for c in snapshot.configs}
