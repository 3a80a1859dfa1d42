"""The docker executor's pure parts: container state, log lines, usage, the create config."""

from __future__ import annotations

from engine.agent.exec.docker import DockerContainer, DockerExecutor, _log_line
from engine.agent.exec.dockerconfig import LABELS, container_config, grace_seconds
from engine.api.durations import SECOND
from engine.api.logs import LogLine, split_frame
from engine.api.objects import Endpoint, Service, Task
from engine.api.specs import (
    ContainerSpec,
    EndpointSpec,
    HealthConfig,
    Limit,
    PortConfig,
    ResourceRequirements,
    ServiceSpec,
    TaskSpec,
)
from engine.api.types import TaskState
from engine.api.usage import container_usage


def test_container_state_from_an_inspect() -> None:
    container = DockerContainer("c1", "t1", "local/busybox:1")
    container.update(
        {
            "State": {
                "Status": "running",
                "Running": True,
                "Pid": 42,
                "ExitCode": 0,
                "StartedAt": "2026-01-01T00:00:00.5Z",
                "Health": {"Status": "starting"},
            }
        }
    )
    assert (container.pid, container.exit_code, container.health) == (42, None, "starting")
    assert container.started == 1767225600.5
    container.update({"State": {"Status": "exited", "Running": False, "Pid": 0, "ExitCode": 137}})
    assert (container.pid, container.exit_code, container.health) == (0, 137, None)
    assert container.usage(0) is None  # no usage once it has stopped


async def test_a_containers_bound_ports_are_read_from_its_inspect() -> None:
    container = DockerContainer("c1", "t1", "i")
    ports = {
        "80/tcp": [
            {"HostIp": "::", "HostPort": "32769"},
            {"HostIp": "0.0.0.0", "HostPort": "32768"},
        ],
        "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
        "9000/tcp": None,  # exposed, not bound
    }
    container.update({"State": {"Running": True, "Pid": 7}, "NetworkSettings": {"Ports": ports}})
    assert container.ports == {"80/tcp": 32768, "53/udp": 5353}
    executor = DockerExecutor("unix:///nowhere.sock", lambda service_id: None)
    executor.containers["t1"] = container
    assert executor.endpoint("t1", 80, "tcp") is None  # the node's address is not known yet
    executor.address = "10.213.0.12"
    assert executor.endpoint("t1", 80, "tcp") == ("10.213.0.12", 32768)
    assert executor.endpoint("t1", 80, "udp") is None
    assert executor.endpoint("t2", 80, "tcp") is None
    container.update({"State": {"Status": "exited", "Running": False, "ExitCode": 0}})
    assert executor.endpoint("t1", 80, "tcp") is None  # stopped
    await executor.close()


def test_a_created_container_has_no_exit_code_yet() -> None:
    container = DockerContainer("c1", "t1", "i")
    container.update({"State": {"Status": "created", "Running": False, "ExitCode": 0}})
    assert container.exit_code is None


def test_log_lines_keep_their_time_and_stream() -> None:
    framed = bytes((2, 0, 0, 0, 0, 0, 0, 40)) + b"2026-01-01T00:00:01.000000000Z oops \x1b]0\n"
    stream, payload, rest, muxed = split_frame(framed, True)
    assert (stream, rest, muxed) == ("stderr", len(framed), True)
    assert payload is not None
    assert _log_line(stream, payload) == LogLine(1767225601.0, "stderr", "oops \x1b]0")
    assert _log_line("stdout", b"no stamp\n") == LogLine(0.0, "stdout", "no stamp")


def test_usage_counts_memory_as_docker_stats_does() -> None:
    v1 = {
        "cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}},
        "memory_stats": {"usage": 10_000, "stats": {"total_inactive_file": 4_000}},
    }
    v2 = {"memory_stats": {"usage": 10_000, "stats": {"inactive_file": 1_000}}}
    assert container_usage(v1) == (2.5, 6_000)
    assert container_usage(v2) == (0.0, 9_000)
    assert container_usage({}) == (0.0, 0)


def test_the_grace_period_is_swarms() -> None:
    assert grace_seconds(None) == 10
    assert grace_seconds(1_500_000_000) == 2


def test_a_task_becomes_a_container_as_swarm_makes_it() -> None:
    spec = ServiceSpec(
        name="web",
        task_template=TaskSpec(
            container_spec=ContainerSpec(
                image="local/busybox:1",
                command=["httpd"],
                args=["-f", "-p", "80"],
                env=["A=1"],
                labels={"team": "ops"},
                healthcheck=HealthConfig(test=["CMD", "true"], interval=SECOND, retries=2),
                stop_grace_period=3 * SECOND,
            ),
            resources=ResourceRequirements(limits=Limit(nano_cpus=SECOND // 2)),
        ),
        endpoint_spec=EndpointSpec(ports=[PortConfig(target_port=80, published_port=8080)]),
    )
    service = Service(
        id="s1",
        spec=spec,
        endpoint=Endpoint(
            ports=[
                PortConfig(protocol="tcp", target_port=80, published_port=8080),
                PortConfig(
                    protocol="udp", target_port=53, published_port=5353, publish_mode="host"
                ),
            ]
        ),
    )
    task = Task(
        id="t1",
        service_id="s1",
        slot=1,
        spec=spec.task_template or TaskSpec(),
        desired_state=TaskState.RUNNING,
    )
    config = container_config(
        task, "local/busybox:1", "web.1.t1", "n1", service, bridge=True, dns=["10.213.0.11"]
    )
    assert (config["Entrypoint"], config["Cmd"], config["Env"]) == (
        ["httpd"], ["-f", "-p", "80"], ["A=1"],
    )  # fmt: skip
    assert config["Labels"] == {
        "team": "ops",
        LABELS["node"]: "n1",
        LABELS["service"]: "s1",
        LABELS["service_name"]: "web",
        LABELS["task"]: "t1",
        LABELS["task_name"]: "web.1.t1",
    }
    assert config["Healthcheck"]["Test"] == ["CMD", "true"]
    assert config["StopTimeout"] == 3
    host = config["HostConfig"]
    assert host["NanoCpus"] == SECOND // 2 and host["NetworkMode"] == "bridge"
    # Through the mesh: on a port the engine picks; in host mode: on the node's own.
    assert host["PortBindings"] == {"80/tcp": [{"HostPort": ""}], "53/udp": [{"HostPort": "5353"}]}
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert (host["Dns"], host["DnsOptions"]) == (["10.213.0.11"], ["ndots:0"])
    alone = container_config(task, "local/busybox:1", "web.1.t1", "n1", service, bridge=False)
    assert (
        alone["HostConfig"]["NetworkMode"] == "none" and "PortBindings" not in alone["HostConfig"]
    )
