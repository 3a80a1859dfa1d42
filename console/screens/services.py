"""The services view: scale (s), set image (i), update config (u), rollback (ctrl+l), restart
(r), remove (ctrl+d), create (c); enter shows tasks, l logs, d describe."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from msgspec.structs import replace
from textual.binding import Binding, BindingType

from console.model import Snapshot
from console.render.rows import SERVICE_COLUMNS, Row, image, replicas, service_rows
from console.screens.base import ResourceScreen, typing_binding
from console.screens.dialogs import FormDialog
from engine.api.codec import from_builtins
from engine.api.durations import SECOND, format_duration, parse_duration
from engine.api.objects import Service
from engine.api.specs import (
    ContainerSpec,
    EndpointSpec,
    Placement,
    PortConfig,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
)
from engine.errors import EngineError

__all__ = ["ServicesScreen", "spec_from_form"]


class FormError(ValueError):
    """What the user typed cannot make a spec; the message says which field."""


def spec_from_form(values: dict[str, str]) -> ServiceSpec:
    """A service spec from the create dialog's fields."""
    if not values.get("image"):
        raise FormError("an image is needed")
    try:
        count = int(values.get("replicas") or "1")
    except ValueError:
        raise FormError(f"replicas: {values['replicas']!r} is not a number") from None
    ports = []
    for item in filter(None, (p.strip() for p in values.get("ports", "").split(","))):
        published, _, target = item.partition(":")
        try:
            ports.append(
                PortConfig(published_port=int(published), target_port=int(target), protocol="tcp")
            )
        except ValueError:
            raise FormError(f"ports: {item!r} is not published:target") from None
    constraints = [c.strip() for c in values.get("constraints", "").split(",") if c.strip()]
    return ServiceSpec(
        name=values.get("name") or None,
        mode=ServiceMode(replicated=ReplicatedService(replicas=count)),
        task_template=TaskSpec(
            container_spec=ContainerSpec(image=values["image"]),
            placement=Placement(constraints=constraints or None),
        ),
        endpoint_spec=EndpointSpec(mode="vip", ports=ports or None),
    )


def _forced(spec: ServiceSpec) -> ServiceSpec:
    """The spec with ForceUpdate bumped: every task is redeployed."""
    template = spec.task_template or TaskSpec()
    bumped = replace(template, force_update=(template.force_update or 0) + 1)
    return replace(spec, task_template=bumped)


class ServicesScreen(ResourceScreen):
    VIEW = "services"
    COLUMNS = SERVICE_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = [
        *ResourceScreen.BINDINGS,
        Binding("enter", "tasks", "Tasks"),
        Binding("l", "logs", "Logs"),
        Binding("d", "describe", "Describe"),
        typing_binding("s", "scale", "Scale"),
        typing_binding("i", "image", "Image"),
        typing_binding("u", "update_config", "Update"),
        Binding("ctrl+l", "rollback", "Rollback"),
        Binding("r", "restart", "Restart"),
        Binding("ctrl+d", "remove", "Remove"),
        typing_binding("c", "create", "Create"),
    ]

    def rows(self, snapshot: Snapshot) -> list[Row]:
        return service_rows(snapshot)

    def _service(self) -> Service | None:
        key = self.table.selected_key
        return self.deck.snapshot.service_by_id.get(key) if key else None

    def on_resource_table_selected(self) -> None:
        self.action_tasks()

    def action_tasks(self) -> None:
        service = self._service()
        if service is not None:
            self.deck.open_tasks(service_id=service.id)

    def action_logs(self) -> None:
        service = self._service()
        if service is not None:
            self.deck.open_logs("services", service.id, service.spec.name or service.id)

    def action_describe(self) -> None:
        service = self._service()
        if service is not None:
            self.deck.open_describe(service)

    def _change(
        self, service: Service, change: Callable[[ServiceSpec], ServiceSpec], what: str
    ) -> None:
        """Applies ``change`` to the service's current spec (read again just before)."""
        self.deck.act(lambda client: client.modify_service(service.id, change), what)

    def action_scale(self) -> None:
        service = self._service()
        if service is None:
            return
        if service.spec.mode is not None and service.spec.mode.global_ is not None:
            self.notify("a global service runs one task per node: it cannot be scaled")
            return
        _, desired = replicas(service, self.deck.snapshot)

        def submitted(values: dict[str, str] | None) -> None:
            if values is None:
                return
            try:
                count = int(values["replicas"])
                if count < 0:
                    raise ValueError
            except ValueError:
                self.notify(f"not a number of replicas: {values['replicas']!r}", severity="error")
                return
            mode = ServiceMode(replicated=ReplicatedService(replicas=count))
            what = f"{service.spec.name} scaled to {count}"
            self._change(service, lambda spec: replace(spec, mode=mode), what)

        self.app.push_screen(
            FormDialog(f"Scale {service.spec.name}", [("replicas", "replicas", str(desired))]),
            submitted,
        )

    def action_image(self) -> None:
        service = self._service()
        if service is None:
            return

        def submitted(values: dict[str, str] | None) -> None:
            if not values or not values["image"]:
                return
            wanted = values["image"]

            def change(spec: ServiceSpec) -> ServiceSpec:
                template = spec.task_template or TaskSpec()
                container = replace(template.container_spec or ContainerSpec(), image=wanted)
                return replace(spec, task_template=replace(template, container_spec=container))

            self._change(service, change, f"{service.spec.name}: rolling update to {wanted}")

        self.app.push_screen(
            FormDialog(
                f"Set the image of {service.spec.name}",
                [("image", "image", image(service))],
                "A rolling update replaces the tasks as the update config says; ctrl+l rolls "
                "it back.",
            ),
            submitted,
        )

    def action_update_config(self) -> None:
        service = self._service()
        if service is None:
            return
        config = service.spec.update_config or UpdateConfig(parallelism=1)
        fields = [
            ("parallelism", "parallelism (0: all at once)", str(config.parallelism or 0)),
            ("delay", "delay between batches", format_duration(config.delay or 0)),
            (
                "failure_action",
                "on failure: pause, continue or rollback",
                (config.failure_action.value if config.failure_action else "pause"),
            ),
            (
                "order",
                "order: stop-first or start-first",
                (config.order.value if config.order else "stop-first"),
            ),
        ]

        def submitted(values: dict[str, str] | None) -> None:
            if values is None:
                return
            try:
                updated = from_builtins(
                    {
                        "Parallelism": int(values["parallelism"]),
                        "Delay": parse_duration(values["delay"]),
                        "FailureAction": values["failure_action"],
                        "Monitor": config.monitor if config.monitor is not None else 5 * SECOND,
                        "MaxFailureRatio": config.max_failure_ratio or 0.0,
                        "Order": values["order"],
                    },
                    UpdateConfig,
                )
            except (ValueError, EngineError) as error:
                self.notify(f"update config: {error}", severity="error")
                return
            self._change(
                service,
                lambda spec: _forced(replace(spec, update_config=updated)),
                f"{service.spec.name}: updating with the new config",
            )

        self.app.push_screen(FormDialog(f"Update {service.spec.name}", fields), submitted)

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
            lambda: self.deck.act(
                lambda client: client.rollback_service(service.id),
                f"{service.spec.name}: rolling back",
            ),
        )

    def action_restart(self) -> None:
        service = self._service()
        if service is None:
            return
        running, _ = replicas(service, self.deck.snapshot)
        self.confirm(
            f"Restart {service.spec.name}?",
            f"All {running} running task(s) are replaced, as a rolling update (force update).",
            lambda: self._change(service, _forced, f"{service.spec.name}: restarting every task"),
        )

    def action_remove(self) -> None:
        service = self._service()
        if service is None:
            return
        running, _ = replicas(service, self.deck.snapshot)
        self.confirm(
            f"Remove {service.spec.name}?",
            f"The service and its {running} running task(s) are stopped and deleted.",
            lambda: self.deck.act(
                lambda client: client.remove_service(service.id), f"{service.spec.name} removed"
            ),
        )

    def action_create(self) -> None:
        def submitted(values: dict[str, str] | None) -> None:
            if values is None:
                return
            try:
                spec = spec_from_form(values)
            except FormError as error:
                self.notify(str(error), severity="error")
                return
            self.deck.act(
                lambda client: client.create_service(spec), f"{spec.name or 'service'} created"
            )

        self.app.push_screen(
            FormDialog(
                "Create a service",
                [
                    ("name", "name", ""),
                    ("image", "image", "nginx:latest"),
                    ("replicas", "replicas", "1"),
                    ("ports", "ports (published:target, comma separated)", ""),
                    ("constraints", "constraints (node.role==worker, comma separated)", ""),
                ],
            ),
            submitted,
        )
