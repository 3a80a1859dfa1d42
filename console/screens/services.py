"""The services view: scale, set image, update config, rollback, restart, remove, create;
enter shows a service's tasks, l its logs, d describes it (keys: ``console.actions``)."""

from __future__ import annotations

from typing import ClassVar

from msgspec.structs import replace
from textual.binding import BindingType

from console import actions, forms
from console.actions import Request
from console.feed import LogStream
from console.model import Snapshot
from console.render.rows import SERVICE_COLUMNS, Row, image, replicas, service_rows
from console.screens.base import ResourceScreen
from console.screens.describe import DescribeScreen
from console.screens.logs import LogsScreen
from console.screens.tasks import TasksScreen
from engine.api.objects import Service

__all__ = ["ServicesScreen"]


class ServicesScreen(ResourceScreen):
    VIEW = "services"
    COLUMNS = SERVICE_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW)

    def rows(self, snapshot: Snapshot) -> list[Row]:
        return service_rows(snapshot)

    def _service(self) -> Service | None:
        key = self.selected_key()
        return self.snapshot.service_by_id.get(key) if key else None

    def _change(self, name: str, service: Service, *args: object, done: str) -> None:
        self.act(Request(name, (service.id, *args), f"{service.spec.name}: {done}"))

    def on_resource_table_selected(self) -> None:
        self.action_tasks()

    def action_tasks(self) -> None:
        if (service := self._service()) is not None:
            self.open(TasksScreen(service_id=service.id))

    def action_logs(self) -> None:
        if (service := self._service()) is not None:
            stream = LogStream("services", service.id)
            self.open(LogsScreen(stream, service.spec.name or service.id))

    def action_describe(self) -> None:
        if (service := self._service()) is not None:
            self.open(DescribeScreen(service, service.spec.name or service.id))

    def action_scale(self) -> None:
        service = self._service()
        if service is None:
            return
        if service.spec.mode is not None and service.spec.mode.global_ is not None:
            self.notify("a global service runs one task per node: it cannot be scaled")
            return
        _, desired = replicas(service, self.snapshot)

        def scale(values: dict[str, str]) -> None:
            count = forms.parse_replicas(values)
            self._change("scale", service, count, done=f"scaled to {count}")

        fields = [("replicas", "replicas", str(desired))]
        self.ask(f"Scale {service.spec.name}", fields, scale)

    def action_image(self) -> None:
        service = self._service()
        if service is None:
            return

        def set_image(values: dict[str, str]) -> None:
            if wanted := values["image"]:
                self._change("image", service, wanted, done=f"rolling update to {wanted}")

        self.ask(
            f"Set the image of {service.spec.name}",
            [("image", "image", image(service))],
            set_image,
            "A rolling update replaces the tasks as the update config says; ctrl+l rolls it back.",
        )

    def action_update_config(self) -> None:
        service = self._service()
        if service is None:
            return
        config = service.spec.update_config

        def update(values: dict[str, str]) -> None:
            updated = forms.parse_update_config(values, config)
            self._change("update_config", service, updated, done="updating with the new config")

        fields = forms.update_config_fields(config)
        self.ask(f"Update {service.spec.name}", fields, update)

    def action_rollback(self) -> None:
        service = self._service()
        if service is None:
            return
        if service.previous_spec is None:
            self.notify(f"{service.spec.name} has no previous spec to roll back to")
            return
        before = image(replace(service, spec=service.previous_spec))
        self.confirm(
            f"Roll back {service.spec.name}?",
            f"Its previous spec comes back (image {before}); the tasks are replaced as the "
            "rollback config says.",
            lambda: self._change("rollback", service, done="rolling back"),
        )

    def action_restart(self) -> None:
        service = self._service()
        if service is None:
            return
        running, _ = replicas(service, self.snapshot)
        self.confirm(
            f"Restart {service.spec.name}?",
            f"All {running} running task(s) are replaced, as a rolling update (force update).",
            lambda: self._change("restart", service, done="restarting every task"),
        )

    def action_remove(self) -> None:
        service = self._service()
        if service is None:
            return
        running, _ = replicas(service, self.snapshot)
        self.confirm(
            f"Remove {service.spec.name}?",
            f"The service and its {running} running task(s) are stopped and deleted.",
            lambda: self._change("remove", service, done="removed"),
        )

    def action_create(self) -> None:
        def create(values: dict[str, str]) -> None:
            spec = forms.spec_from_form(values)
            self.act(Request("create", (spec,), f"{spec.name or 'service'} created"))

        self.ask("Create a service", forms.CREATE_FIELDS, create)
