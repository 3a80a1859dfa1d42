"""A compose file read into a stack, as ``docker stack deploy -c`` converts it (docker/cli's
``cli/compose/convert``): the specs of its services, networks, secrets and configs, named
``STACK_NAME`` and labelled with the stack's namespace.

    stack = load_stack(Path("docker-compose.yml"), "app")

The whole file is checked before anything is made of it, so a bad file deploys nothing: a key
compose does not have, a value of the wrong type, a duration Go cannot read, a secret or config
file that is not there, a service on a network the file does not declare are each an error
naming the file, the service (or the top-level section) and the field. Keys compose has but a
swarm does not use (``build``, ``depends_on``, ``restart``...) are left out with a warning, as
the docker CLI ignores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from engine.api.networks import (
    IPAMRequest,
    IPAMRequestConfig,
    NetworkAttachmentConfig,
    NetworkCreateRequest,
)
from engine.api.secrets import ConfigReference, ConfigSpec, FileTarget, SecretReference, SecretSpec
from engine.api.specs import (
    ContainerSpec,
    EndpointSpec,
    FailureAction,
    GlobalService,
    HealthConfig,
    Limit,
    Placement,
    PlacementPreference,
    PortConfig,
    ReplicatedService,
    ResourceObject,
    ResourceRequirements,
    RestartCondition,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    SpreadOver,
    TaskSpec,
    UpdateConfig,
    UpdateOrder,
)
from engine.stacks.bundle import DEFAULT_NETWORK
from engine.stacks.compose import load_compose
from engine.stacks.fields import PORT, FieldReader, kind_of
from engine.stacks.plan import IMAGE_LABEL, NAMESPACE_LABEL, Stack, scoped

__all__ = ["load_stack"]

TOP_KEYS = {"version", "name", "services", "networks", "volumes", "secrets", "configs"}
SERVICE_KEYS = {
    "image", "command", "entrypoint", "environment", "env_file", "labels", "ports", "expose",
    "networks", "secrets", "configs", "deploy", "healthcheck", "user", "working_dir",
    "hostname", "stop_grace_period", "stop_signal", "volumes", "tty", "init", "read_only",
    "stdin_open",
}  # fmt: skip
# Compose keys a swarm service has no use for: docker stack deploy ignores them, saying so.
UNUSED_KEYS = {
    "build", "depends_on", "container_name", "links", "external_links", "restart", "devices",
    "network_mode", "privileged", "security_opt", "userns_mode", "cgroup_parent", "cap_add",
    "cap_drop", "dns", "dns_search", "domainname", "extra_hosts", "ipc", "isolation",
    "logging", "mac_address", "pid", "shm_size", "sysctls", "tmpfs", "ulimits", "profiles",
    "platform", "credential_spec",
}  # fmt: skip
DEPLOY_KEYS = {
    "mode", "replicas", "labels", "update_config", "rollback_config", "restart_policy",
    "placement", "resources", "endpoint_mode",
}  # fmt: skip
UPDATE_KEYS = {"parallelism", "delay", "failure_action", "monitor", "max_failure_ratio", "order"}
RESTART_KEYS = {"condition", "delay", "max_attempts", "window"}
PLACEMENT_KEYS = {"constraints", "preferences", "max_replicas_per_node"}
HEALTH_KEYS = {"test", "interval", "timeout", "retries", "start_period", "disable"}
NETWORK_KEYS = {"driver", "driver_opts", "external", "internal", "attachable", "labels", "name"}
NETWORK_KEYS |= {"ipam", "enable_ipv6"}
FILE_KEYS = {"file", "external", "name", "labels"}  # a secret's or a config's
FILE_MODE = 0o444  # a secret's or config's file mode when the file names none (docker/cli)


def load_stack(path: Path, namespace: str) -> Stack:
    """The stack ``namespace`` that the compose file ``path`` describes, checked whole.

    Raises:
        BundleError: the file cannot be read or is not valid (the message names the file, the
            service and the field).
    """
    return _Reader(path, namespace).stack(load_compose(path))


class _Reader(FieldReader):
    def __init__(self, path: Path, namespace: str) -> None:
        super().__init__(path)
        self.namespace = namespace

    def stack(self, content: Mapping[str, Any]) -> Stack:
        self.keys("(top level)", dict(content), TOP_KEYS)
        networks = self.section("networks", content.get("networks"), NETWORK_KEYS)
        secrets = self.section("secrets", content.get("secrets"), FILE_KEYS)
        configs = self.section("configs", content.get("configs"), FILE_KEYS)
        services: dict[str, ServiceSpec] = {}
        used: set[str] = set()
        for name, service in sorted(content["services"].items()):
            at = f"services.{name}"
            self.keys(at, service, SERVICE_KEYS, UNUSED_KEYS)
            joined = self.networks_of(at, service, networks)
            used.update(joined)
            spec = self.service(at, str(name), service)
            template = spec.task_template or TaskSpec()
            container = replace(
                template.container_spec or ContainerSpec(),
                secrets=self.secret_refs(f"{at}.secrets", service.get("secrets"), secrets),
                configs=self.config_refs(f"{at}.configs", service.get("configs"), configs),
            )
            attached = [
                NetworkAttachmentConfig(target=self.network_name(n, networks), aliases=[str(name)])
                for n in joined
            ]
            template = replace(template, container_spec=container, networks=attached)
            services[spec.name or ""] = replace(spec, task_template=template)
        return Stack(
            namespace=self.namespace,
            source=str(self.path),
            services=services,
            networks={
                self.network_name(n, networks): self.network(n, networks)
                for n in sorted(used)
                if not networks.get(n, {}).get("external")
            },
            external_networks=frozenset(
                self.network_name(n, networks) for n in used if networks.get(n, {}).get("external")
            ),
            secrets=self.files("secrets", secrets, SecretSpec),
            configs=self.files("configs", configs, ConfigSpec),
            external_secrets=self.externals(secrets),
            external_configs=self.externals(configs),
            warnings=tuple(self.warnings),
        )

    def section(self, name: str, value: Any, known: set[str]) -> dict[str, dict[str, Any]]:
        """A top-level section of networks, secrets or configs: each entry's settings."""
        if value is None:
            return {}
        found = {}
        for key, settings in self.keys(name, value, set(map(str, value or ()))).items():
            at = f"{name}.{key}"
            settings = {} if settings is None else self.keys(at, settings, known)
            external = settings.get("external", False)
            if isinstance(external, dict):
                external = True
            if not isinstance(external, bool):
                self.fail(f"{at}.external", f"expected a boolean, not {kind_of(external)}")
            settings = {**settings, "external": external}
            if name != "networks" and not external and "file" not in settings:
                self.fail(at, "needs a file (or external: true)")
            found[str(key)] = settings
        return found

    def network_name(self, key: str, declared: dict[str, dict[str, Any]]) -> str:
        """A network's name in the swarm: its ``name``, an external one's key, else scoped."""
        settings = declared.get(key, {})
        if settings.get("name"):
            return self.text(f"networks.{key}.name", settings["name"]) or key
        return key if settings.get("external") else scoped(self.namespace, key)

    def network(self, key: str, declared: dict[str, dict[str, Any]]) -> NetworkCreateRequest:
        at, settings = f"networks.{key}", declared.get(key, {})
        labels = self.mapping(at, "labels", settings.get("labels"))
        options = self.mapping(at, "driver_opts", settings.get("driver_opts"))
        return NetworkCreateRequest(
            name=self.network_name(key, declared),
            driver=self.text(f"{at}.driver", settings.get("driver")) or "overlay",
            internal=self.boolean(f"{at}.internal", settings.get("internal")),
            attachable=self.boolean(f"{at}.attachable", settings.get("attachable")),
            labels={**labels, NAMESPACE_LABEL: self.namespace},
            options=options or None,
            enable_ipv6=self.boolean(f"{at}.enable_ipv6", settings.get("enable_ipv6")),
            ipam=self.ipam(f"{at}.ipam", settings.get("ipam")),
        )

    def ipam(self, at: str, value: Any) -> IPAMRequest | None:
        """A network's addresses: its IPAM driver and subnets (with ranges and gateways)."""
        if value is None:
            return None
        ipam = self.keys(at, value, {"driver", "config", "options"})
        configs = []
        for item in self.list_of(f"{at}.config", ipam.get("config")):
            given = self.keys(f"{at}.config", item, {"subnet", "ip_range", "gateway"})
            configs.append(
                IPAMRequestConfig(
                    subnet=self.text(f"{at}.config.subnet", given.get("subnet")),
                    ip_range=self.text(f"{at}.config.ip_range", given.get("ip_range")),
                    gateway=self.text(f"{at}.config.gateway", given.get("gateway")),
                )
            )
        return IPAMRequest(
            driver=self.text(f"{at}.driver", ipam.get("driver")),
            config=configs or None,
            options=self.mapping(at, "options", ipam.get("options")) or None,
        )

    def files(self, section: str, found: dict[str, dict[str, Any]], kind: Any) -> dict[str, Any]:
        specs = {}
        for key, settings in sorted(found.items()):
            if settings["external"]:
                continue
            at = f"{section}.{key}"
            path = self.path.parent / (self.text(f"{at}.file", settings["file"]) or "")
            try:
                data = path.read_bytes()
            except OSError as error:
                self.fail(f"{at}.file", f"{path}: {error.strerror}")
            name = self.text(f"{at}.name", settings.get("name")) or scoped(self.namespace, key)
            labels = self.mapping(at, "labels", settings.get("labels"))
            specs[name] = kind(
                name=name, labels={**labels, NAMESPACE_LABEL: self.namespace}, data=data
            )
        return specs

    def externals(self, found: dict[str, dict[str, Any]]) -> frozenset[str]:
        return frozenset(self.file_name(key, found) for key, s in found.items() if s["external"])

    def file_name(self, key: str, found: dict[str, dict[str, Any]]) -> str:
        settings = found[key]
        if settings.get("name"):
            return str(settings["name"])
        return key if settings["external"] else scoped(self.namespace, key)

    def file_refs(
        self, at: str, value: Any, declared: dict[str, dict[str, Any]], folder: str
    ) -> list[tuple[str, FileTarget]]:
        """The secrets or configs a service uses: each one's name in the swarm and its file
        (``folder``: where a config goes when the reference names no target)."""
        refs = []
        for item in self.list_of(at, value):
            given = {"source": item} if isinstance(item, str) else item
            given = self.keys(at, given, {"source", "target", "uid", "gid", "mode"})
            source = self.text(f"{at}.source", given.get("source")) or ""
            if source not in declared:
                self.fail(at, f"{source} is not declared under {at.rsplit('.', 1)[1]}")
            target = self.text(f"{at}.target", given.get("target")) or folder + source
            mode = self.integer(f"{at}.mode", given.get("mode"))
            target_file = FileTarget(
                name=target,
                uid=self.text(f"{at}.uid", given.get("uid")) or "0",
                gid=self.text(f"{at}.gid", given.get("gid")) or "0",
                mode=FILE_MODE if mode is None else mode,
            )
            refs.append((self.file_name(source, declared), target_file))
        return refs

    def secret_refs(
        self, at: str, value: Any, declared: dict[str, dict[str, Any]]
    ) -> list[SecretReference] | None:
        refs = self.file_refs(at, value, declared, "")
        return [SecretReference(file=f, secret_name=name) for name, f in refs] or None

    def config_refs(
        self, at: str, value: Any, declared: dict[str, dict[str, Any]]
    ) -> list[ConfigReference] | None:
        refs = self.file_refs(at, value, declared, "/")
        return [ConfigReference(file=f, config_name=name) for name, f in refs] or None

    # A service.

    def service(self, at: str, name: str, service: dict[str, Any]) -> ServiceSpec:
        image = service.get("image")
        if not image:
            self.fail(f"{at}.image", "a service needs an image")
        image = self.text(f"{at}.image", image) or ""
        deploy = self.keys(f"{at}.deploy", service.get("deploy") or {}, DEPLOY_KEYS)
        stack = {NAMESPACE_LABEL: self.namespace}
        env = self.env_files(at, service.get("env_file"))
        env |= self.mapping(at, "environment", service.get("environment"), from_shell=True)
        container = ContainerSpec(
            image=image,
            labels={**self.mapping(at, "labels", service.get("labels")), **stack},
            command=self.words(at, "entrypoint", service.get("entrypoint")),
            args=self.words(at, "command", service.get("command")),
            hostname=self.text(f"{at}.hostname", service.get("hostname")),
            env=[f"{key}={value}" for key, value in sorted(env.items())] or None,
            dir=self.text(f"{at}.working_dir", service.get("working_dir")),
            user=self.text(f"{at}.user", service.get("user")),
            tty=self.boolean(f"{at}.tty", service.get("tty")),
            open_stdin=self.boolean(f"{at}.stdin_open", service.get("stdin_open")),
            read_only=self.boolean(f"{at}.read_only", service.get("read_only")),
            init=self.boolean(f"{at}.init", service.get("init")),
            mounts=self.mounts(f"{at}.volumes", service.get("volumes")),
            stop_signal=self.text(f"{at}.stop_signal", service.get("stop_signal")),
            stop_grace_period=self.duration(
                f"{at}.stop_grace_period", service.get("stop_grace_period")
            ),
            healthcheck=self.healthcheck(f"{at}.healthcheck", service.get("healthcheck")),
        )
        return ServiceSpec(
            name=scoped(self.namespace, name),
            labels={
                **self.mapping(f"{at}.deploy", "labels", deploy.get("labels")),
                **stack,
                IMAGE_LABEL: image,
            },
            task_template=TaskSpec(
                container_spec=container,
                resources=self.resources(f"{at}.deploy.resources", deploy.get("resources")),
                restart_policy=self.restart(
                    f"{at}.deploy.restart_policy", deploy.get("restart_policy")
                ),
                placement=self.placement(f"{at}.deploy.placement", deploy.get("placement")),
            ),
            mode=self.mode(f"{at}.deploy", deploy),
            update_config=self.update(f"{at}.deploy.update_config", deploy.get("update_config")),
            rollback_config=self.update(
                f"{at}.deploy.rollback_config", deploy.get("rollback_config")
            ),
            endpoint_spec=self.endpoint(at, service, deploy),
        )

    def networks_of(self, at: str, service: dict[str, Any], declared: dict[str, Any]) -> list[str]:
        """The networks the service joins (checked: declared, or ``default``)."""
        value = service.get("networks")
        if value is None:
            names = [DEFAULT_NETWORK]
        elif isinstance(value, list):
            names = [self.scalar(at, "networks", item) for item in value]
        elif isinstance(value, dict):
            names = [str(key) for key in value]
        else:
            self.fail(f"{at}.networks", f"expected a list or a mapping, not {kind_of(value)}")
        for name in names:
            if name != DEFAULT_NETWORK and name not in declared:
                self.fail(f"{at}.networks", f"network {name} is not declared under networks")
        return names

    def mode(self, at: str, deploy: dict[str, Any]) -> ServiceMode:
        mode = self.text(f"{at}.mode", deploy.get("mode")) or "replicated"
        replicas = self.integer(f"{at}.replicas", deploy.get("replicas"))
        if mode == "global":
            if replicas is not None:
                self.fail(f"{at}.replicas", "a global service takes no replicas")
            return ServiceMode(global_=GlobalService())
        if mode != "replicated":
            self.fail(f"{at}.mode", f"{mode!r} is not replicated or global")
        return ServiceMode(
            replicated=ReplicatedService(replicas=1 if replicas is None else replicas)
        )

    def update(self, at: str, value: Any) -> UpdateConfig | None:
        if value is None:
            return None
        config = self.keys(at, value, UPDATE_KEYS)
        ratio = config.get("max_failure_ratio")
        if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, int | float)):
            self.fail(f"{at}.max_failure_ratio", f"expected a number, not {kind_of(ratio)}")
        return UpdateConfig(
            parallelism=self.integer(f"{at}.parallelism", config.get("parallelism")),
            delay=self.duration(f"{at}.delay", config.get("delay")),
            failure_action=self.choice(f"{at}.failure_action", config, FailureAction),
            monitor=self.duration(f"{at}.monitor", config.get("monitor")),
            max_failure_ratio=ratio,
            order=self.choice(f"{at}.order", config, UpdateOrder),
        )

    def restart(self, at: str, value: Any) -> RestartPolicy | None:
        if value is None:
            return None
        policy = self.keys(at, value, RESTART_KEYS)
        return RestartPolicy(
            condition=self.choice(f"{at}.condition", policy, RestartCondition),
            delay=self.duration(f"{at}.delay", policy.get("delay")),
            max_attempts=self.integer(f"{at}.max_attempts", policy.get("max_attempts")),
            window=self.duration(f"{at}.window", policy.get("window")),
        )

    def placement(self, at: str, value: Any) -> Placement | None:
        if value is None:
            return None
        placement = self.keys(at, value, PLACEMENT_KEYS)
        preferences = []
        for item in self.list_of(f"{at}.preferences", placement.get("preferences")):
            spread = self.keys(f"{at}.preferences", item, {"spread"}).get("spread")
            descriptor = self.text(f"{at}.preferences.spread", spread)
            preferences.append(PlacementPreference(spread=SpreadOver(spread_descriptor=descriptor)))
        constraints = self.list_of(f"{at}.constraints", placement.get("constraints"))
        return Placement(
            constraints=[self.scalar(at, "constraints", c) for c in constraints] or None,
            preferences=preferences or None,
            max_replicas=self.integer(
                f"{at}.max_replicas_per_node", placement.get("max_replicas_per_node")
            ),
        )

    def resources(self, at: str, value: Any) -> ResourceRequirements | None:
        if value is None:
            return None
        resources = self.keys(at, value, {"limits", "reservations"})
        limits = reservations = None
        for key in ("limits", "reservations"):
            if resources.get(key) is None:
                continue
            given = self.keys(f"{at}.{key}", resources[key], {"cpus", "memory", "pids"})
            cpus = self.cpus(f"{at}.{key}.cpus", given.get("cpus"))
            memory = self.memory(f"{at}.{key}.memory", given.get("memory"))
            if key == "limits":
                pids = self.integer(f"{at}.{key}.pids", given.get("pids"))
                limits = Limit(nano_cpus=cpus, memory_bytes=memory, pids=pids)
            else:
                reservations = ResourceObject(nano_cpus=cpus, memory_bytes=memory)
        return ResourceRequirements(limits=limits, reservations=reservations)

    def healthcheck(self, at: str, value: Any) -> HealthConfig | None:
        if value is None:
            return None
        check = self.keys(at, value, HEALTH_KEYS)
        if self.boolean(f"{at}.disable", check.get("disable")):
            return HealthConfig(test=["NONE"])
        test = check.get("test")
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        elif test is not None:
            test = [self.scalar(at, "test", word) for word in self.list_of(f"{at}.test", test)]
        return HealthConfig(
            test=test,
            interval=self.duration(f"{at}.interval", check.get("interval")),
            timeout=self.duration(f"{at}.timeout", check.get("timeout")),
            retries=self.integer(f"{at}.retries", check.get("retries")),
            start_period=self.duration(f"{at}.start_period", check.get("start_period")),
        )

    def endpoint(
        self, at: str, service: dict[str, Any], deploy: dict[str, Any]
    ) -> EndpointSpec | None:
        mode = self.text(f"{at}.deploy.endpoint_mode", deploy.get("endpoint_mode"))
        if mode not in (None, "vip", "dnsrr"):
            self.fail(f"{at}.deploy.endpoint_mode", f"{mode!r} is not vip or dnsrr")
        ports = []
        for item in self.list_of(f"{at}.ports", service.get("ports")):
            ports += self.port(f"{at}.ports", item)
        if mode is None and not ports:
            return None
        return EndpointSpec(mode=mode or "vip", ports=ports or None)

    def port(self, at: str, item: Any) -> list[PortConfig]:
        if isinstance(item, dict):
            given = self.keys(at, item, {"target", "published", "protocol", "mode"})
            target = self.integer(f"{at}.target", given.get("target"))
            if target is None:
                self.fail(at, "a port needs a target")
            mode = self.text(f"{at}.mode", given.get("mode")) or "ingress"
            if mode not in ("ingress", "host"):
                self.fail(f"{at}.mode", f"{mode!r} is not ingress or host")
            return [
                PortConfig(
                    protocol=self.text(f"{at}.protocol", given.get("protocol")) or "tcp",
                    target_port=target,
                    published_port=self.integer(f"{at}.published", given.get("published")),
                    publish_mode=mode,
                )
            ]
        match = PORT.match(self.scalar(at, "", item).strip())
        if match is None:
            self.fail(at, f"{item!r} is not a port")
        low, _, high = match["target"].partition("-")
        targets = range(int(low), int(high or low) + 1)
        published = match["published"]
        first = int(published.partition("-")[0]) if published else None
        return [
            PortConfig(
                protocol=match["protocol"] or "tcp",
                target_port=target,
                published_port=None if first is None else first + index,
                publish_mode="ingress",
            )
            for index, target in enumerate(targets)
        ]

    def mounts(self, at: str, value: Any) -> list[dict[str, Any]] | None:
        mounts = []
        for item in self.list_of(at, value):
            if isinstance(item, dict):
                given = self.keys(at, item, {"type", "source", "target", "read_only"})
                kind = self.text(f"{at}.type", given.get("type")) or "volume"
                source = self.text(f"{at}.source", given.get("source")) or ""
                target = self.text(f"{at}.target", given.get("target")) or ""
                read_only = bool(self.boolean(f"{at}.read_only", given.get("read_only")))
            else:
                parts = self.scalar(at, "", item).split(":")
                if len(parts) == 1:
                    kind, source, target, read_only = "volume", "", parts[0], False
                else:
                    source, target = parts[0], parts[1]
                    read_only = len(parts) > 2 and "ro" in parts[2].split(",")
                    kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
            if not target:
                self.fail(at, "a volume needs a target")
            mount: dict[str, Any] = {"Type": kind, "Target": target}
            if kind == "volume" and source:
                source = scoped(self.namespace, source)
                mount["VolumeOptions"] = {"Labels": {NAMESPACE_LABEL: self.namespace}}
            if source:
                mount["Source"] = source
            if read_only:
                mount["ReadOnly"] = True
            mounts.append(mount)
        return mounts or None
