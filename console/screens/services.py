"""The services view: scale, set image, update config, rollback, restart, remove, create, edit;
enter shows a service's tasks, l its logs, y its YAML (with its VIPs and its tasks' addresses
first), p where it answers (keys: ``console.actions``). Scale and remove act on every marked
service. Opened from a stack, it shows that stack's services."""

from __future__ import annotations

from typing import ClassVar

from msgspec.structs import replace
from textual.binding import BindingType

from console import actions, forms
from console.actions import Request
from console.feed import LogStream
from console.model import Snapshot
from console.render.endpoints import endpoint_lines
from console.render.plans import scale_plan
from console.render.rows import SERVICE_COLUMNS, Row, image, replicas, service_rows
from console.screens.describe import DescribeScreen, TextScreen
from console.screens.logs import LogsScreen
from console.screens.resource import ResourceScreen
from console.screens.tasks import TasksScreen
from engine.api.objects import Service

__all__ = ["ServicesScreen"]


class ServicesScreen(ResourceScreen):
    VIEW = "services"
    COLUMNS = SERVICE_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW, COLUMNS)

    def __init__(self, stack: str | None = None) -> None:
        super().__init__()
        self.stack = stack
        if stack is not None:
            self.title = f"services of stack {stack}"

    def rows(self, snapshot: Snapshot) -> list[Row]:
        rows = service_rows(snapshot)
        if self.stack is None:
            return rows
        parts = snapshot.stacks.get(self.stack)
        mine = {s.id for s in parts.services} if parts is not None else set()
        return [row for row in rows if row.key in mine]

    def _service(self) -> Service | None:
        key = self.selected_key()
        return self.snapshot.service_by_id.get(key) if key else None

    def _services(self) -> list[Service]:
        """The marked services, or the selected one."""
        found = self.snapshot.service_by_id
        return [found[key] for key in self.targets() if key in found]

    def _request(self, name: str, service: Service, *args: object, done: str) -> Request:
        return Request(name, (service.id, *args), f"{service.spec.name}: {done}")

    def _change(self, name: str, service: Service, *args: object, done: str) -> None:
        self.act(self._request(name, service, *args, done=done))

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
            notes = endpoint_lines(service, self.snapshot)
            self.open(DescribeScreen(service, service.spec.name or service.id, notes))

    def action_ports(self) -> None:
        if (service := self._service()) is not None:
            text = "\n".join(endpoint_lines(service, self.snapshot))
            self.open(TextScreen(f"endpoints of {service.spec.name or service.id}", text))

    def action_edit(self) -> None:
        if (service := self._service()) is not None:
            self.edit(service, service.spec.name or service.id)

    def action_scale(self) -> None:
        chosen = self._services()
        scalable = [s for s in chosen if s.spec.mode is None or s.spec.mode.global_ is None]
        if not scalable:
            if chosen:
                self.notify("a global service runs one task per node: it cannot be scaled")
            return
        skipped = [s.spec.name or s.id for s in chosen if s not in scalable]
        _, desired = replicas(scalable[0], self.snapshot)

        def scale(values: dict[str, str]) -> None:
            count = forms.parse_replicas(values)
            done = f"scaled to {count}"

            def go() -> None:
                self.act(*(self._request("scale", s, count, done=done) for s in scalable))

            plans = [(s, scale_plan(self.snapshot, s, count)) for s in scalable]
            short = [f"{s.spec.name}: {plan}" for s, plan in plans if plan]
            if short:  # room runs out: say so first
                self.confirm(f"Scale {names} to {count}?", "\n".join(short), go)
            else:
                go()

        names = ", ".join(s.spec.name or s.id for s in scalable)
        title = f"Scale {names}" if len(scalable) == 1 else f"Scale {len(scalable)} services"
        note = f"{names}." if len(scalable) > 1 else ""
        if skipped:
            note += f" Not {', '.join(skipped)}: global, one task per node."
        self.ask(title, [("replicas", "replicas", str(desired))], scale, note.strip())

    def action_image(self) -> None:
        service = self._service()
        if service is None:
            return

        def set_image(values: dict[str, str]) -> None:
            wanted = forms.parse_image(values)
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
        chosen = self._services()
        if not chosen:
            return
        lines = [
            f"{s.spec.name}: the service and its {replicas(s, self.snapshot)[0]} running "
            "task(s) are stopped and deleted."
            for s in chosen
        ]
        title = f"Remove {chosen[0].spec.name}?" if len(chosen) == 1 else None
        self.confirm(
            title or f"Remove {len(chosen)} services?",
            "\n".join(lines),
            lambda: self.act(*(self._request("remove", s, done="removed") for s in chosen)),
        )

    def action_create(self) -> None:
        def create(values: dict[str, str]) -> None:
            spec = forms.spec_from_form(values)
            self.act(Request("create", (spec,), f"{spec.name or 'service'} created"))

        self.ask("Create a service", forms.CREATE_FIELDS, create)
