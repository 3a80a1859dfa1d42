"""What deploying or removing a stack will do, worked out before anything is done, and doing it.

A ``Stack`` is what a compose file or a bundle asks for: specs by name. ``plan_deploy`` sets it
against what the swarm has (``Current``, as ``read_current`` reads it, or as a console's poll
holds it) and says, a step a line, what is created, updated (and which fields change) and
removed; what is the same already is left alone. ``deploy_stack`` and ``remove_stack`` read
the swarm again, plan again, and refuse when the plan is not the one shown (the swarm changed
in between), then make the calls ``docker stack deploy`` and ``docker stack rm`` make, in
their order: networks, secrets, configs, then services to deploy; services, secrets, configs,
then networks to remove.

    stack = load_stack(Path("docker-compose.yml"), "app")
    plan = plan_deploy(stack, await read_current(client), prune=True)
    print("\\n".join(plan.lines()))
    await deploy_stack(client, stack, prune=True, expected=plan)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from msgspec.structs import replace

from engine.api.codec import to_builtins
from engine.api.networks import NetworkCreateRequest, NetworkResource
from engine.api.objects import Config, Secret, Service
from engine.api.secrets import ConfigSpec, SecretSpec
from engine.api.specs import ContainerSpec, EndpointSpec, ServiceSpec, TaskSpec
from engine.client import EngineClient

__all__ = [
    "IMAGE_LABEL",
    "NAMESPACE_LABEL",
    "NOT_A_MANAGER",
    "Current",
    "Plan",
    "Stack",
    "StackError",
    "Step",
    "deploy_stack",
    "plan_deploy",
    "plan_removal",
    "read_current",
    "remove_stack",
    "scoped",
    "stack_of",
]

NAMESPACE_LABEL = "com.docker.stack.namespace"  # what marks a stack's objects (docker/cli)
IMAGE_LABEL = "com.docker.stack.image"  # the image as the file names it (docker/cli)
NOT_A_MANAGER = (
    'this node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again"
)
DEFAULT_RUNTIME = "container"  # SwarmKit's, when a spec names none
DEFAULT_ENDPOINT_MODE = "vip"  # likewise
DEFAULT_ISOLATION = "default"  # the daemon's, when a container spec names none
DEFAULT_PROTOCOL, DEFAULT_PUBLISH_MODE = "tcp", "ingress"  # a published port's, likewise
CHANGED_SHOWN = 4  # fields named for an updated service; the rest are counted


class StackError(Exception):
    """The stack cannot be deployed (or removed) as asked; nothing was done."""


def scoped(namespace: str, name: str) -> str:
    """A stack's object name: ``NAMESPACE_NAME``."""
    return f"{namespace}_{name}"


def stack_of(labels: Mapping[str, str] | None) -> str:
    """The stack an object belongs to ("" for none), by its labels."""
    return (labels or {}).get(NAMESPACE_LABEL, "")


@dataclass(frozen=True)
class Stack:
    """What a file asks for, by name in the swarm. A secret's data is in its spec: it is sent
    once, to create it, and never shown."""

    namespace: str
    source: str  # the file, as messages name it
    services: Mapping[str, ServiceSpec] = field(default_factory=dict)
    networks: Mapping[str, NetworkCreateRequest] = field(default_factory=dict)
    secrets: Mapping[str, SecretSpec] = field(default_factory=dict)
    configs: Mapping[str, ConfigSpec] = field(default_factory=dict)
    external_networks: frozenset[str] = frozenset()
    external_secrets: frozenset[str] = frozenset()
    external_configs: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Current:
    """What the swarm has: every service, network, secret (without its data) and config."""

    services: Sequence[Service] = ()
    networks: Sequence[NetworkResource] = ()
    secrets: Sequence[Secret] = ()
    configs: Sequence[Config] = ()


Kind = Literal["network", "secret", "config", "service"]
Verb = Literal["create", "update", "remove"]
_SIGNS = {"create": "+", "update": "~", "remove": "-"}
_DONE = {"create": "Creating", "update": "Updating", "remove": "Removing"}


@dataclass(frozen=True)
class Step:
    verb: Verb
    kind: Kind
    name: str
    changes: tuple[str, ...] = ()  # an update's changed fields
    object_id: str = field(default="", compare=False)

    def line(self) -> str:
        """The step as a plan shows it: ``+ create service app_web``."""
        text = f"{_SIGNS[self.verb]} {self.verb} {self.kind} {self.name}"
        if self.changes:
            shown = list(self.changes[:CHANGED_SHOWN])
            if len(self.changes) > CHANGED_SHOWN:
                shown.append(f"{len(self.changes) - CHANGED_SHOWN} more")
            text += f": {', '.join(shown)}"
        return text


@dataclass(frozen=True)
class Plan:
    namespace: str
    steps: tuple[Step, ...]
    unchanged: tuple[str, ...] = ()  # services the file asks for as they are

    def lines(self) -> list[str]:
        """Each step, then what stays as it is."""
        lines = [step.line() for step in self.steps]
        if self.unchanged:
            lines.append(f"  unchanged: {', '.join(self.unchanged)}")
        return lines or ["nothing to do"]

    def names(self, verb: Verb, kind: Kind = "service") -> list[str]:
        return [s.name for s in self.steps if s.verb == verb and s.kind == kind]


def plan_deploy(stack: Stack, current: Current, prune: bool = False) -> Plan:
    """What deploying ``stack`` onto ``current`` does; with ``prune``, the stack's services the
    file no longer has are removed.

    Raises:
        StackError: an external network, secret or config that is not there, a config whose
            data changed (a config cannot be changed: give it a new name), a published port
            another service has (each names the file).
    """
    ns = stack.namespace
    source = stack.source
    networks = {n.name: n for n in current.networks}
    for name in sorted(stack.external_networks):
        found = networks.get(name)
        if found is None:
            raise StackError(
                f"{source}: network {name!r} is declared as external, but could not be found"
            )
        if found.scope != "swarm":
            raise StackError(
                f"{source}: network {name!r} is declared as external, but it is not swarm-scoped"
            )
    secrets = {s.name: s for s in current.secrets}
    configs = {c.name: c for c in current.configs}
    for kind, wanted, have in (
        ("secret", stack.external_secrets, secrets),
        ("config", stack.external_configs, configs),
    ):
        for name in sorted(wanted - set(have)):
            raise StackError(
                f"{source}: {kind} {name!r} is declared as external, but could not be found"
            )
    _check_ports(stack, current)
    steps = [
        Step("create", "network", name) for name in sorted(stack.networks) if name not in networks
    ]
    steps += [
        Step("create", "secret", name) for name in sorted(stack.secrets) if name not in secrets
    ]
    for name, config_spec in sorted(stack.configs.items()):
        config = configs.get(name)
        if config is None:
            steps.append(Step("create", "config", name))
        elif config.spec.data != config_spec.data:
            raise StackError(
                f"{source}: config {name}: its data changed, and a config cannot be changed: "
                "give it a new name"
            )
    mine = {s.spec.name: s for s in current.services if stack_of(s.spec.labels) == ns}
    names = {n.id: n.name for n in current.networks}
    unchanged = []
    for name, spec in sorted(stack.services.items()):
        service = mine.get(name)
        if service is None:
            steps.append(Step("create", "service", name))
            continue
        changes = spec_changes(_comparable(service.spec, names), _comparable(spec, names))
        if changes:
            steps.append(Step("update", "service", name, changes, service.id))
        else:
            unchanged.append(name)
    if prune:
        steps += [
            Step("remove", "service", name, object_id=service.id)
            for name, service in sorted(mine.items())
            if name not in stack.services and name is not None
        ]
    return Plan(ns, tuple(steps), tuple(unchanged))


def _check_ports(stack: Stack, current: Current) -> None:
    """Refuses a published port that a service outside the stack, or another of the file's,
    has already (the swarm would refuse it halfway through the deploy)."""
    taken = {
        (port.published_port, port.protocol or "tcp"): service.spec.name or service.id
        for service in current.services
        if stack_of(service.spec.labels) != stack.namespace
        for port in (service.endpoint.ports if service.endpoint else None) or ()
        if port.published_port
    }
    for name, spec in sorted(stack.services.items()):
        for port in (spec.endpoint_spec.ports if spec.endpoint_spec else None) or ():
            if not port.published_port:
                continue
            key = (port.published_port, port.protocol or "tcp")
            other = taken.get(key)
            if other is not None:
                raise StackError(
                    f"{stack.source}: service {name}: port {key[0]}/{key[1]} is already "
                    f"published by service {other}"
                )
            taken[key] = name


def plan_removal(namespace: str, current: Current) -> Plan:
    """What removing the stack ``namespace`` removes, in ``docker stack rm``'s order.

    Raises:
        StackError: nothing in the swarm belongs to it.
    """
    steps: list[Step] = []
    groups: list[tuple[Kind, list[tuple[str, str, Mapping[str, str] | None]]]] = [
        ("service", [(s.spec.name or s.id, s.id, s.spec.labels) for s in current.services]),
        ("secret", [(s.name, s.id, s.spec.labels) for s in current.secrets]),
        ("config", [(c.name, c.id, c.spec.labels) for c in current.configs]),
        ("network", [(n.name, n.id, n.labels) for n in current.networks]),
    ]
    for kind, found in groups:
        steps += [
            Step("remove", kind, name, object_id=object_id)
            for name, object_id, labels in sorted(found)
            if stack_of(labels) == namespace
        ]
    if not steps:
        raise StackError(f"Nothing found in stack: {namespace}")
    return Plan(namespace, tuple(steps))


async def read_current(client: EngineClient) -> Current:
    """What the swarm has that a plan for ``namespace`` looks at: every service (the ports
    they publish), network, secret and config (external ones may be anyone's)."""
    services, networks, secrets, configs = await asyncio.gather(
        client.services(), client.networks(), client.secrets(), client.configs()
    )
    return Current(services, networks, secrets, configs)


async def _checked(client: EngineClient, planned: Plan, expected: Plan | None) -> None:
    """Refuses a target that is not a swarm manager, and a plan that is not ``expected``."""
    info = await client.info()
    if not (info.get("Swarm") or {}).get("ControlAvailable"):
        raise StackError(NOT_A_MANAGER)
    if expected is not None and planned.steps != expected.steps:
        raise StackError(
            f"stack {planned.namespace} changed since the plan was made: nothing done; "
            "look at the new plan first"
        )


async def deploy_stack(
    client: EngineClient, stack: Stack, prune: bool = False, expected: Plan | None = None
) -> list[str]:
    """Deploys ``stack``; what was done, a line a step (``Creating service app_web``).

    Raises:
        StackError: the target is not a swarm manager, the stack cannot be deployed, or its
            plan is not ``expected`` any more; nothing was done.
        ClientError: an API call failed (the engine's words); what was done before stays.
    """
    current = await read_current(client)
    plan = plan_deploy(stack, current, prune)
    await _checked(client, plan, expected)
    done = []
    secret_ids = {s.name: s.id for s in current.secrets}
    config_ids = {c.name: c.id for c in current.configs}
    creating = [s for s in plan.steps if s.verb == "create" and s.kind != "service"]
    for step in creating:
        done.append(f"Creating {step.kind} {step.name}")
        if step.kind == "network":
            await client.create_network(stack.networks[step.name])
        elif step.kind == "secret":
            secret_ids[step.name] = await client.create_secret(stack.secrets[step.name])
        else:
            config_ids[step.name] = await client.create_config(stack.configs[step.name])
    services = {s.spec.name: s for s in current.services}
    for step in plan.steps:
        if step.kind != "service":
            continue
        if step.verb == "remove":
            done.append(f"Removing service {step.name}")
            await client.remove_service(step.object_id)
            continue
        spec = _resolved(stack.services[step.name], secret_ids, config_ids)
        if step.verb == "create":
            done.append(f"Creating service {step.name}")
            await client.create_service(spec)
            continue
        service = services[step.name]
        done.append(f"Updating service {step.name} (id: {service.id})")
        old = service.spec.task_template
        force = old.force_update if old is not None else None  # kept, as the docker CLI keeps it
        template = replace(spec.task_template or TaskSpec(), force_update=force)
        await client.update_service(service, replace(spec, task_template=template))
    return done


async def remove_stack(
    client: EngineClient, namespace: str, expected: Plan | None = None
) -> list[str]:
    """Removes every object of the stack ``namespace``; what was removed, a line each.

    Raises:
        StackError: nothing belongs to it, or what does is not what ``expected`` listed.
        ClientError: an API call failed; what was removed before stays removed.
    """
    plan = plan_removal(namespace, await read_current(client))
    await _checked(client, plan, expected)
    removers = {
        "service": client.remove_service,
        "secret": client.remove_secret,
        "config": client.remove_config,
        "network": client.remove_network,
    }
    done = []
    for step in plan.steps:
        done.append(f"Removing {step.kind} {step.name}")
        await removers[step.kind](step.object_id)
    return done


def _resolved(
    spec: ServiceSpec, secrets: Mapping[str, str], configs: Mapping[str, str]
) -> ServiceSpec:
    """``spec`` with the IDs of the secrets and configs it names, as the docker CLI sends it."""
    template = spec.task_template or TaskSpec()
    container = template.container_spec or ContainerSpec()
    if not container.secrets and not container.configs:
        return spec
    container = replace(
        container,
        secrets=[
            replace(ref, secret_id=secrets.get(ref.secret_name or "", ""))
            for ref in container.secrets or ()
        ]
        or None,
        configs=[
            replace(ref, config_id=configs.get(ref.config_name or "", ""))
            for ref in container.configs or ()
        ]
        or None,
    )
    return replace(spec, task_template=replace(template, container_spec=container))


def _comparable(spec: ServiceSpec, network_names: Mapping[str, str]) -> dict[str, Any]:
    """A spec as a plan compares it: networks by name (the swarm keeps their IDs), secrets
    and configs by name (their IDs are the swarm's), force updates left out, and what the
    swarm fills in when it is not given (the runtime, the isolation, the endpoint mode, a
    port's protocol and publish mode) as it fills it."""
    template = spec.task_template or TaskSpec()
    container = template.container_spec or ContainerSpec()
    container = replace(
        container,
        secrets=[replace(r, secret_id=None) for r in container.secrets or ()] or None,
        configs=[replace(r, config_id=None) for r in container.configs or ()] or None,
        isolation=container.isolation or DEFAULT_ISOLATION,
    )
    networks = [
        replace(n, target=network_names.get(n.target or "", n.target))
        for n in template.networks or spec.networks or ()
    ]
    template = replace(
        template,
        container_spec=container,
        networks=networks or None,
        force_update=None,
        runtime=template.runtime or DEFAULT_RUNTIME,
    )
    endpoint = spec.endpoint_spec or EndpointSpec()
    ports = [
        replace(
            port,
            protocol=port.protocol or DEFAULT_PROTOCOL,
            publish_mode=port.publish_mode or DEFAULT_PUBLISH_MODE,
        )
        for port in endpoint.ports or ()
    ]
    endpoint = replace(endpoint, mode=endpoint.mode or DEFAULT_ENDPOINT_MODE, ports=ports or None)
    filled = replace(spec, task_template=template, networks=None, endpoint_spec=endpoint)
    value: dict[str, Any] = to_builtins(filled)
    return value


def spec_changes(before: Any, after: Any, at: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The fields that differ between two specs as builtins, each named by the last two parts
    of its path (``ContainerSpec.Image``, ``Labels.com.example.tier``); a field set on one
    side only differs too."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[str] = []
        for key in sorted(before.keys() | after.keys()):
            found += spec_changes(before.get(key), after.get(key), (*at, str(key)))
        return tuple(found)
    return () if before == after else (".".join(at[-2:]),)
