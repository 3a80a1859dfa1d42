"""The control API: defaults filled in, bad specs rejected with a clear error and no change."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from engine.api.codec import decode
from engine.api.specs import (
    ContainerSpec,
    EndpointSpec,
    GlobalJob,
    GlobalService,
    PortConfig,
    ReplicatedJob,
    ReplicatedService,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
)
from engine.api.types import NodeRole, TaskState
from engine.errors import (
    AlreadyExists,
    EngineError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    SequenceConflict,
    Unimplemented,
)
from tests.conftest import Sim, make_spec


def _template(**changes: object) -> TaskSpec:
    return replace(TaskSpec(container_spec=ContainerSpec(image="nginx")), **changes)


BAD_SPECS = [
    pytest.param(
        ServiceSpec(
            name="x",
            mode=ServiceMode(replicated=ReplicatedService(replicas=-1)),
            task_template=_template(),
        ),
        "Number of replicas must be non-negative",
        id="negative replicas",
    ),
    pytest.param(
        ServiceSpec(
            name="x",
            mode=ServiceMode(replicated=ReplicatedService(replicas=2**63)),
            task_template=_template(),
        ),
        "Number of replicas must be at most 100000",
        id="absurd replicas",
    ),
    pytest.param(
        ServiceSpec(
            name="x",
            mode=ServiceMode(replicated=ReplicatedService(replicas=1), global_=GlobalService()),
            task_template=_template(),
        ),
        "must specify only one service mode",
        id="both replicated and global",
    ),
    pytest.param(
        ServiceSpec(
            name="x",
            mode=ServiceMode(replicated=ReplicatedService(replicas=1), global_job=GlobalJob()),
            task_template=_template(),
        ),
        "must specify only one service mode",
        id="a job and a service",
    ),
    pytest.param(
        ServiceSpec(name="x", task_template=_template(restart_policy=RestartPolicy(delay=-1))),
        "TaskSpec: restart-delay cannot be negative",
        id="negative restart delay",
    ),
    pytest.param(
        ServiceSpec(name="x", task_template=_template(restart_policy=RestartPolicy(window=-5))),
        "TaskSpec: restart-window cannot be negative",
        id="negative restart window",
    ),
    pytest.param(
        ServiceSpec(name="x", task_template=_template(), update_config=UpdateConfig(delay=-1)),
        "TaskSpec: update-delay cannot be negative",
        id="negative update delay",
    ),
    pytest.param(
        ServiceSpec(
            name="x", task_template=_template(), update_config=UpdateConfig(max_failure_ratio=2)
        ),
        "maxfailureratio cannot be less than 0 or bigger than 1",
        id="failure ratio above one",
    ),
    pytest.param(
        ServiceSpec(name="x", task_template=TaskSpec()),
        r"^mismatched Runtime and \*Spec fields$",
        id="no container",
    ),
    pytest.param(
        ServiceSpec(name="x", task_template=_template(runtime="attachment")),
        "^unsupported runtime$",
        id="a runtime the daemon does not run",
    ),
    pytest.param(
        ServiceSpec(name="x", task_template=_template(), endpoint_spec=EndpointSpec(mode="nope")),
        '^invalid resolution mode: "nope"$',
        id="an unknown endpoint mode",
    ),
    pytest.param(
        ServiceSpec(
            name="x",
            task_template=_template(
                container_spec=ContainerSpec(
                    image="nginx", mounts=[{"Type": "nfs", "Target": "/x"}]
                )
            ),
        ),
        '^invalid MountType: "nfs"$',
        id="an unknown mount type",
    ),
    pytest.param(
        ServiceSpec(
            name="x",
            mode=ServiceMode(replicated_job=ReplicatedJob()),
            task_template=_template(),
            update_config=UpdateConfig(parallelism=1),
        ),
        "Jobs may not have an update config",
        id="a job with an update config",
    ),
    pytest.param(
        ServiceSpec(name="x", task_template=TaskSpec(container_spec=ContainerSpec())),
        "ContainerSpec: image reference must be provided",
        id="no image",
    ),
    pytest.param(
        ServiceSpec(name="x", task_template=TaskSpec(container_spec=ContainerSpec(image="A B"))),
        'ContainerSpec: "A B" is not a valid repository/tag',
        id="bad image",
    ),
    pytest.param(
        ServiceSpec(name="not a dns name", task_template=_template()),
        "name must be valid as a DNS name component",
        id="bad name",
    ),
    pytest.param(
        ServiceSpec(
            name="x",
            task_template=_template(),
            endpoint_spec=EndpointSpec(
                mode="dnsrr", ports=[PortConfig(target_port=80, published_port=8080)]
            ),
        ),
        "port published with ingress mode can't be used with dnsrr mode",
        id="dnsrr with ingress port",
    ),
    pytest.param(
        ServiceSpec(
            name="x",
            task_template=_template(),
            endpoint_spec=EndpointSpec(
                ports=[
                    PortConfig(target_port=80, published_port=8080),
                    PortConfig(target_port=81, published_port=8080),
                ]
            ),
        ),
        "duplicate published ports provided",
        id="duplicate published ports",
    ),
    pytest.param(
        ServiceSpec(
            name="x",
            task_template=TaskSpec(
                container_spec=ContainerSpec(
                    image="nginx", labels={"swarmdeck.sim.exit-after": "soon"}
                )
            ),
        ),
        'invalid duration "soon"',
        id="malformed simulation duration",
    ),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
async def test_bad_specs_are_rejected_and_change_nothing(
    sim: Sim, spec: ServiceSpec, message: str
) -> None:
    before = sim.cluster.store.version
    with pytest.raises(InvalidArgument, match=message):
        sim.control.create_service(spec)
    assert sim.control.list_services() == []
    assert sim.cluster.store.version == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"Name": "x", "Mode": {"Replicated": {"Replicas": -2}}}',
        b'{"Name": "x", "Mode": {"Unknown": {}}}',
        b'{"Name": "x", "TaskTemplate": {"RestartPolicy": {"Delay": "10x"}}}',
        b'{"Name": "x", "TaskTemplate": {"RestartPolicy": {"Delay": 1.5e400}}}',
    ],
)
async def test_bad_json_never_reaches_the_store(sim: Sim, body: bytes) -> None:
    before = sim.cluster.store.version
    with pytest.raises(InvalidArgument):
        sim.control.create_service(decode(body, ServiceSpec))
    assert sim.cluster.store.version == before


async def test_defaults_are_filled_in_as_the_docker_daemon_does(sim: Sim) -> None:
    created = sim.control.create_service(ServiceSpec(name="web", task_template=_template()))
    assert created.spec.mode == ServiceMode(replicated=ReplicatedService(replicas=1))
    assert created.spec.endpoint_spec == EndpointSpec(mode="vip")
    assert created.spec.task_template is not None
    assert created.spec.task_template.runtime == "container"
    await sim.converge("web", 1)


async def test_a_service_without_a_name_gets_a_random_one(sim: Sim) -> None:
    created = sim.control.create_service(ServiceSpec(task_template=_template()))
    assert created.spec.name and "_" in created.spec.name


async def test_names_conflict(sim: Sim) -> None:
    sim.control.create_service(make_spec())
    with pytest.raises(AlreadyExists, match="name conflicts with an existing object"):
        sim.control.create_service(make_spec())


async def test_ingress_ports_conflict_across_services(sim: Sim) -> None:
    ports = EndpointSpec(ports=[PortConfig(target_port=80, published_port=8080)])
    first = sim.control.create_service(replace(make_spec(), endpoint_spec=ports))
    await sim.advance(1)
    with pytest.raises(
        InvalidArgument, match=f"port '8080' is already in use by service 'web' \\({first.id}\\)"
    ):
        sim.control.create_service(replace(make_spec(name="other"), endpoint_spec=ports))


async def test_unpublished_ingress_ports_get_one_from_30000(sim: Sim) -> None:
    ports = EndpointSpec(ports=[PortConfig(target_port=80)])
    sim.control.create_service(replace(make_spec(), endpoint_spec=ports))
    await sim.advance(1)
    endpoint = sim.control.get_service("web").endpoint
    assert endpoint is not None and endpoint.ports is not None
    assert endpoint.ports[0].published_port == 30000
    assert endpoint.ports[0].publish_mode == "ingress"


async def test_a_stale_version_is_update_out_of_sequence(sim: Sim) -> None:
    service = sim.control.create_service(make_spec())
    sim.scale("web", 2)
    with pytest.raises(SequenceConflict, match="update out of sequence") as raised:
        sim.control.update_service(service.id, service.version.index, service.spec)
    assert raised.value.http_status == 500
    assert raised.value.rpc_text() == "rpc error: code = Unknown desc = update out of sequence"


async def test_changing_mode_or_name_is_unimplemented(sim: Sim) -> None:
    service = sim.control.create_service(make_spec())
    as_global = replace(service.spec, mode=ServiceMode(global_=GlobalService()))
    with pytest.raises(Unimplemented, match="service mode change is not allowed"):
        sim.control.update_service(service.id, service.version.index, as_global)
    with pytest.raises(Unimplemented):
        sim.control.update_service(
            service.id, service.version.index, replace(service.spec, name="renamed")
        )


async def test_rollback_swaps_spec_and_previous_spec(sim: Sim) -> None:
    service = sim.control.create_service(make_spec(image="nginx:1.10"))
    with pytest.raises(FailedPrecondition, match="does not have a previous spec"):
        sim.control.update_service(service.id, service.version.index, None, rollback=True)
    newer = replace(make_spec(image="nginx:1.11"))
    updated = sim.control.update_service(service.id, service.version.index, newer)
    rolled = sim.control.update_service(service.id, updated.version.index, None, rollback=True)
    assert rolled.spec.task_template.container_spec.image == "nginx:1.10"  # type: ignore[union-attr]
    assert rolled.previous_spec is not None
    assert rolled.previous_spec.task_template.container_spec.image == "nginx:1.11"  # type: ignore[union-attr]
    assert rolled.update_status is not None
    assert rolled.update_status.message == "manually requested rollback"


async def test_services_and_nodes_resolve_by_id_name_and_prefix(sim: Sim) -> None:
    service = sim.control.create_service(make_spec())
    assert sim.control.get_service(service.id) == service
    assert sim.control.get_service("web") == service
    assert sim.control.get_service(service.id[:6]) == service
    with pytest.raises(NotFound, match="service nope not found"):
        sim.control.get_service("nope")
    node = sim.node("swarm-node-1")
    assert sim.control.get_node(node.id[:5]).id == node.id


async def test_the_last_manager_cannot_be_demoted(sim: Sim) -> None:
    master = sim.node("swarm-master")
    with pytest.raises(FailedPrecondition, match="demote the last manager"):
        sim.control.update_node(
            master.id, master.version.index, replace(master.spec, role=NodeRole.WORKER)
        )


async def test_promote_and_demote(sim: Sim) -> None:
    promoted = sim.update_node("swarm-node-1", role=NodeRole.MANAGER)
    assert promoted.manager_status is not None
    demoted = sim.update_node("swarm-node-1", role=NodeRole.WORKER)
    assert demoted.manager_status is None


async def test_removing_nodes(sim: Sim) -> None:
    sim.control.create_service(make_spec(replicas=3))
    await sim.converge("web", 3)
    with pytest.raises(FailedPrecondition, match="is not down and can't be removed"):
        sim.control.remove_node("swarm-node-1")
    with pytest.raises(FailedPrecondition, match="must be demoted to worker before removal"):
        sim.control.remove_node("swarm-master", force=True)
    sim.control.remove_node("swarm-node-1", force=True)
    assert {n.description.hostname for n in sim.control.list_nodes()} == {  # type: ignore[union-attr]
        "swarm-master",
        "swarm-node-2",
    }
    orphaned = [t for t in sim.tasks("web") if t.status.state == TaskState.ORPHANED]
    assert len(orphaned) == 1
    await sim.converge("web", 3)


def test_engine_errors_carry_docker_status_codes() -> None:
    assert [cls("x").http_status for cls in (InvalidArgument, NotFound, AlreadyExists)] == [
        400,
        404,
        409,
    ]
    assert issubclass(SequenceConflict, EngineError)
