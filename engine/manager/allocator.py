"""Allocator: gives services their published ports and moves NEW tasks on to PENDING.

Ingress ports published without a number get one from 30000-32767, as SwarmKit's port
allocator does. A task is handed to the scheduler (PENDING, "pending task scheduling") once its
service's endpoint is allocated.
"""

from __future__ import annotations

from msgspec.structs import replace

from engine.api.durations import format_timestamp
from engine.api.events import Event, EventCreate, EventUpdate
from engine.api.objects import Endpoint, Service, Task, TaskStatus
from engine.api.specs import EndpointSpec, PortConfig
from engine.api.types import TaskState
from engine.clock import Clock
from engine.manager.loop import ControlLoop, Dirty
from engine.store import (
    MemoryStore,
    ReadTx,
    Tx,
    by,
    find_services,
    find_tasks,
    get_service,
    get_task,
    update_service,
    update_task,
)

__all__ = ["DYNAMIC_PORTS", "Allocator", "allocated_ports"]

DYNAMIC_PORTS = range(30000, 32768)  # SwarmKit's dynamicPortStart..dynamicPortEnd


class Allocator(ControlLoop):
    def __init__(self, store: MemoryStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._dirty_services: Dirty[str] = Dirty()
        self._new_tasks: Dirty[str] = Dirty()

    def _handle(self, event: Event) -> None:
        match event:
            case EventCreate(obj=Service() as service) | EventUpdate(obj=Service() as service):
                self._dirty_services.add(service.id)
            case EventCreate(obj=Task() as task) if task.status.state == TaskState.NEW:
                self._new_tasks.add(task.id)

    def _init(self, tx: ReadTx) -> None:
        self._dirty_services.update(service.id for service in find_services(tx, by.all()))
        for task in find_tasks(tx, by.all()):
            if task.status.state == TaskState.NEW:
                self._new_tasks.add(task.id)

    def _tick(self) -> None:
        if self._dirty_services or self._new_tasks:
            services = self._take(self._dirty_services)
            tasks = self._take(self._new_tasks)
            self._store.update(lambda tx: self._allocate(tx, services, tasks))

    def _allocate(self, tx: Tx, service_ids: list[str], task_ids: list[str]) -> None:
        for service_id in sorted(service_ids):
            service = get_service(tx, service_id)
            if service is not None:
                endpoint = _endpoint(service, tx)
                if endpoint != service.endpoint:
                    update_service(tx, replace(service, endpoint=endpoint))
        timestamp = format_timestamp(self._clock.time())
        pending = TaskStatus(
            state=TaskState.PENDING, timestamp=timestamp, message="pending task scheduling"
        )
        for task_id in sorted(task_ids):
            task = get_task(tx, task_id)
            if task is not None and task.status.state == TaskState.NEW:
                if task.desired_state > TaskState.RUNNING:
                    continue  # removed before it was allocated; the reaper deletes it
                update_task(tx, replace(task, status=pending))


def allocated_ports(tx: ReadTx, except_service: str = "") -> dict[tuple[int, str], Service]:
    """Published ingress ports in use, by (port, protocol), with the service using each."""
    used: dict[tuple[int, str], Service] = {}
    for service in find_services(tx, by.all()):
        if service.id == except_service or service.endpoint is None:
            continue
        for port in service.endpoint.ports or ():
            if port.publish_mode in (None, "ingress") and port.published_port:
                used[(port.published_port, port.protocol or "tcp")] = service
    return used


def _endpoint(service: Service, tx: ReadTx) -> Endpoint:
    spec = service.spec.endpoint_spec or EndpointSpec(mode="vip")
    previous = {
        (port.target_port, port.protocol): port.published_port
        for port in (service.endpoint.ports if service.endpoint else None) or ()
    }
    used = allocated_ports(tx, except_service=service.id)
    ports: list[PortConfig] = []
    for port in spec.ports or ():
        protocol = port.protocol or "tcp"
        mode = port.publish_mode or "ingress"
        published = port.published_port or 0
        if not published and mode == "ingress":
            taken = {number for number, proto in used if proto == protocol}
            taken |= {p.published_port or 0 for p in ports if p.protocol == protocol}
            published = previous.get((port.target_port, protocol)) or next(
                number for number in DYNAMIC_PORTS if number not in taken
            )
        ports.append(
            replace(port, protocol=protocol, publish_mode=mode, published_port=published or None)
        )
    return Endpoint(spec=spec, ports=ports or None)
