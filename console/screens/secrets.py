"""The secrets and configs views: names, the services that use each, labels, age; y shows one
as YAML (a secret never with its data, which the swarm never gives; a config with its data,
base64, as ``docker config inspect`` shows it), ctrl+d removes one no service uses (keys:
``console.actions``)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import BindingType

from console import actions
from console.render.resources import CONFIG_COLUMNS, SECRET_COLUMNS, config_rows, secret_rows
from console.screens.objects import ObjectsScreen

__all__ = ["ConfigsScreen", "SecretsScreen"]


class SecretsScreen(ObjectsScreen):
    VIEW = KINDS = "secrets"
    COLUMNS = SECRET_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW, COLUMNS)
    rows = staticmethod(secret_rows)


class ConfigsScreen(ObjectsScreen):
    VIEW = KINDS = "configs"
    COLUMNS = CONFIG_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW, COLUMNS)
    rows = staticmethod(config_rows)
