"""Checks of what clients send, with SwarmKit's and moby's messages. Nothing here writes."""

from __future__ import annotations

import re

from engine.api.codec import go_quote
from engine.api.durations import SECOND
from engine.api.simlabels import validate_sim_labels
from engine.api.specs import (
    ContainerSpec,
    EndpointSpec,
    HealthConfig,
    NodeSpec,
    ResourceObject,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
)
from engine.errors import InvalidArgument
from engine.manager import constraint, defaults
from engine.manager.secrets import validate_references

__all__ = [
    "is_normalized_named",
    "validate_for_daemon",
    "validate_name",
    "validate_node_spec",
    "validate_service_spec",
]

_DNS_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
# docker/distribution's reference grammar (reference/regexp.go), as SwarmKit's validateImage reads
# an image with reference.ParseNormalizedNamed. Each pattern here matches one piece, with no
# nested repetition to backtrack through: an image is only ever checked in linear time.
_PATH_COMPONENT = re.compile(r"[a-z0-9]++(?:(?:[._]|__|-++)[a-z0-9]++)*+")
_DOMAIN_COMPONENT = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*+(?<=[a-zA-Z0-9]))?")
_PORT = re.compile(r"[0-9]+")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # Go's \w is ASCII
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
# Digests go-digest's Parse accepts: an algorithm the daemon links in, lowercase hex of its size.
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
_LOWER_HEX = re.compile(r"[a-f0-9]+")
NAME_TOTAL_LENGTH_MAX = 255  # docker/distribution's NameTotalLengthMax, of the normalized name
MILLISECOND = SECOND // 1000
# Tasks are Python objects here: ten times the largest cluster the scheduler benchmark places
# (10,000 tasks) is the most one service may ask for before the manager spends minutes on it.
MAX_REPLICAS = 100_000
# What moby's converter knows, by SwarmKit's enumerations' names (it upper-cases what it reads).
MOUNT_TYPES = ("BIND", "VOLUME", "TMPFS", "NPIPE")
PROPAGATIONS = ("RPRIVATE", "PRIVATE", "RSHARED", "SHARED", "RSLAVE", "SLAVE")
PROTOCOLS = ("TCP", "UDP", "SCTP")
PUBLISH_MODES = ("INGRESS", "HOST")


def validate_for_daemon(spec: ServiceSpec) -> None:
    """Raises InvalidArgument, in moby's words, for what the Docker daemon refuses as it turns a
    spec into SwarmKit's (daemon/cluster/convert/service.go), before SwarmKit checks it."""
    task = spec.task_template or TaskSpec()
    runtime = task.runtime or "container"
    if runtime not in ("container", "plugin"):
        raise InvalidArgument("unsupported runtime", rpc=False)
    given = task.container_spec if runtime == "container" else task.plugin_spec
    if given is None:
        raise InvalidArgument("mismatched Runtime and *Spec fields", rpc=False)
    for mount in (task.container_spec.mounts if task.container_spec else None) or ():
        _convertible_mount(mount)
    endpoint_mode = spec.endpoint_spec.mode if spec.endpoint_spec else None
    if endpoint_mode not in (None, "", "vip", "dnsrr"):
        raise InvalidArgument(f"invalid resolution mode: {go_quote(endpoint_mode)}", rpc=False)
    mode = spec.mode or ServiceMode()
    modes = (mode.replicated, mode.global_, mode.replicated_job, mode.global_job)
    if sum(given is not None for given in modes) > 1:
        raise InvalidArgument("must specify only one service mode", rpc=False)


def _convertible_mount(mount: object) -> None:
    if not isinstance(mount, dict):
        raise InvalidArgument(
            f"json: cannot unmarshal {'array' if isinstance(mount, list) else 'value'} into Go "
            "struct field ContainerSpec.TaskTemplate.ContainerSpec.Mounts of type mount.Mount",
            rpc=False,
        )
    kind = json_field(mount, "Type")
    if kind and str(kind).upper() not in MOUNT_TYPES:
        raise InvalidArgument(f"invalid MountType: {go_quote(str(kind))}", rpc=False)
    bind = json_field(mount, "BindOptions")
    propagation = json_field(bind, "Propagation") if isinstance(bind, dict) else None
    if propagation and str(propagation).upper() not in PROPAGATIONS:
        raise InvalidArgument(f"invalid MountPropagation: {go_quote(str(propagation))}", rpc=False)


def json_field(value: dict[str, object], name: str) -> object:
    """A field of a JSON object as Go's decoder finds it: by name, whatever its case."""
    if name in value:
        return value[name]
    lowered = name.lower()
    return next((item for key, item in value.items() if key.lower() == lowered), None)


def validate_service_spec(spec: ServiceSpec) -> None:
    """Raises InvalidArgument for the first thing wrong with ``spec``, as SwarmKit's
    validateServiceSpec finds it (it leaves the rollback config as given)."""
    validate_name(spec.name or "")
    _validate_mode(spec)
    _validate_task(spec.task_template)
    _validate_update(spec.update_config)
    _validate_endpoint(spec.endpoint_spec)
    if spec.update_config is not None and defaults.is_job(spec):
        raise InvalidArgument("Jobs may not have an update config")


def validate_node_spec(spec: NodeSpec) -> None:
    """Raises InvalidArgument in moby's words (its converter reads none as the empty text)."""
    if spec.role is None:
        raise InvalidArgument('invalid Role: ""', rpc=False)
    if spec.availability is None:
        raise InvalidArgument('invalid Availability: ""', rpc=False)


def validate_name(name: str) -> None:
    """A service's or network's name: SwarmKit's validateAnnotations."""
    if not name:
        raise InvalidArgument("meta: name must be provided")
    if not _DNS_NAME.match(name):
        raise InvalidArgument("name must be valid as a DNS name component")
    if len(name) > 63:
        raise InvalidArgument("name must be 63 characters or fewer")


def _validate_mode(spec: ServiceSpec) -> None:
    mode = spec.mode
    if mode is None:
        return
    job = mode.replicated_job
    if job is not None and job.max_concurrent is not None and job.max_concurrent > MAX_REPLICAS:
        raise InvalidArgument(f"MaxConcurrent must be at most {MAX_REPLICAS}")
    if job is not None and (job.total_completions or 0) > MAX_REPLICAS:
        raise InvalidArgument(f"TotalCompletions must be at most {MAX_REPLICAS}")
    if mode.replicated is not None and (mode.replicated.replicas or 0) < 0:
        raise InvalidArgument("Number of replicas must be non-negative")
    if mode.replicated is not None and (mode.replicated.replicas or 0) > MAX_REPLICAS:
        raise InvalidArgument(f"Number of replicas must be at most {MAX_REPLICAS}")


def _validate_task(task: TaskSpec | None) -> None:
    if task is None or task.container_spec is None:
        raise InvalidArgument("ContainerSpec: missing in service spec")
    if task.plugin_spec is not None or task.network_attachment_spec is not None:
        raise InvalidArgument("RuntimeSpec: unimplemented runtime in service spec")
    validate_references(task.container_spec)
    resources = task.resources
    if resources is not None:
        _validate_resources(resources.reservations)
        if resources.limits is not None:
            _validate_resources(
                ResourceObject(
                    nano_cpus=resources.limits.nano_cpus,
                    memory_bytes=resources.limits.memory_bytes,
                )
            )
    _validate_restart(task.restart_policy)
    if task.placement is not None:
        if (task.placement.max_replicas or 0) < 0:
            raise InvalidArgument("Placement: max replicas per node cannot be negative")
        try:
            constraint.parse(task.placement.constraints)
        except ValueError as error:
            raise InvalidArgument(str(error)) from None
        # Any spread descriptor: one SwarmKit cannot read groups every node together.
    _validate_container(task.container_spec)


def _validate_resources(resources: ResourceObject | None) -> None:
    if resources is None:
        return
    cpus = resources.nano_cpus or 0
    if cpus != 0 and cpus < 1_000_000:
        raise InvalidArgument(f"invalid cpu value {cpus / 1e9:g}: Must be at least 0.001")
    memory = resources.memory_bytes or 0
    if memory != 0 and memory < 4 * 2**20:
        raise InvalidArgument(f"invalid memory value {memory}: Must be at least 4MiB")


def _validate_restart(policy: RestartPolicy | None) -> None:
    if policy is None:
        return
    if (policy.delay or 0) < 0:
        raise InvalidArgument("TaskSpec: restart-delay cannot be negative")
    if (policy.window or 0) < 0:
        raise InvalidArgument("TaskSpec: restart-window cannot be negative")
    if (policy.max_attempts or 0) < 0:
        raise InvalidArgument("TaskSpec: restart-max-attempts cannot be negative")


def _validate_container(container: ContainerSpec) -> None:
    if not container.image:
        raise InvalidArgument("ContainerSpec: image reference must be provided")
    if not is_normalized_named(container.image):
        raise InvalidArgument(
            f"ContainerSpec: {go_quote(container.image)} is not a valid repository/tag"
        )
    targets: set[str] = set()
    for mount in container.mounts or ():
        target = mount.get("Target") if isinstance(mount, dict) else None
        if target in targets:
            raise InvalidArgument(f"ContainerSpec: duplicate mount point: {target}")
        targets.add(target or "")
    _validate_health(container.healthcheck)
    try:
        validate_sim_labels(container.labels)
    except ValueError as error:
        raise InvalidArgument(f"ContainerSpec: {error}") from None


def is_normalized_named(image: str) -> bool:
    """Whether docker/distribution's ``reference.ParseNormalizedNamed`` accepts ``image``.

    A familiar name is normalized first ("nginx" is "docker.io/library/nginx"), and the 255
    characters a name may have count the normalized name.
    """
    if _IDENTIFIER.fullmatch(image):
        return False
    first, has_slash, rest = image.partition("/")
    if has_slash and (any(c in first for c in ".:") or first == "localhost"):
        domain, remainder = first, rest
    else:
        domain, remainder = "docker.io", image
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in remainder:
        remainder = "library/" + remainder
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        return False
    name, has_digest, digest = f"{domain}/{remainder}".partition("@")
    if has_digest and not _is_digest(digest):
        return False
    last_slash = name.rfind("/")
    colon = name.find(":", last_slash + 1)
    if colon != -1:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            return False
    return len(name) <= NAME_TOTAL_LENGTH_MAX and _is_name(name)


def _is_name(name: str) -> bool:
    """``[domain "/"] path-component ("/" path-component)*``."""
    first, *rest = name.split("/")
    if not all(_PATH_COMPONENT.fullmatch(component) for component in rest):
        return False
    if _PATH_COMPONENT.fullmatch(first):
        return True
    host, has_port, port = first.partition(":")
    return (
        bool(rest)
        and (not has_port or bool(_PORT.fullmatch(port)))
        and all(_DOMAIN_COMPONENT.fullmatch(part) for part in host.split("."))
    )


def _is_digest(digest: str) -> bool:
    algorithm, _, encoded = digest.partition(":")
    size = _DIGEST_HEX.get(algorithm)
    return size is not None and len(encoded) == size and bool(_LOWER_HEX.fullmatch(encoded))


def _validate_health(health: HealthConfig | None) -> None:
    if health is None:
        return
    for field, value in (
        ("Interval", health.interval),
        ("Timeout", health.timeout),
        ("StartPeriod", health.start_period),
    ):
        if value and value < MILLISECOND:
            raise InvalidArgument(f"ContainerSpec: {field} in HealthConfig cannot be less than 1ms")
    if (health.retries or 0) < 0:
        raise InvalidArgument("ContainerSpec: Retries in HealthConfig cannot be negative")


def _validate_update(config: UpdateConfig | None) -> None:
    if config is None:
        return
    if (config.delay or 0) < 0:
        raise InvalidArgument("TaskSpec: update-delay cannot be negative")
    if (config.monitor or 0) < 0:
        raise InvalidArgument("TaskSpec: update-monitor cannot be negative")
    ratio = config.max_failure_ratio or 0.0
    if ratio < 0 or ratio > 1:
        raise InvalidArgument(
            "TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1"
        )


def _validate_endpoint(endpoint: EndpointSpec | None) -> None:
    if endpoint is None:
        return
    mode = endpoint.mode or "vip"  # validate_for_daemon refused any other than vip or dnsrr
    seen: set[tuple[int, str]] = set()
    for port in endpoint.ports or ():
        protocol = port.protocol or "tcp"
        publish_mode = port.publish_mode or "ingress"
        if not port.target_port or port.target_port > 65535:
            raise InvalidArgument("EndpointSpec: target port must be between 1 and 65535")
        if (port.published_port or 0) > 65535:
            raise InvalidArgument("EndpointSpec: published port must be at most 65535")
        if mode == "dnsrr" and publish_mode == "ingress":
            raise InvalidArgument(
                "EndpointSpec: port published with ingress mode can't be used with dnsrr mode"
            )
        if port.published_port:
            key = (port.published_port, protocol)
            if key in seen:
                raise InvalidArgument("EndpointSpec: duplicate published ports provided")
            seen.add(key)
