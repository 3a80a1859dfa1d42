"""Networks and published ports through the real docker CLI, answered as a Docker 20.10 swarm
manager answers them: ``docker network ls/inspect/create/rm/prune`` with their filters and
errors, ``service create --network``, VIPs and task addresses, ``--network-add/--network-rm``,
dynamic ports, port conflicts, and ``--publish-add/--publish-rm``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Engine, wait_until
from tests.integration.test_api_errors import call
from tests.integration.test_docker_cli import converged
from tests.integration.test_swarm_join import free_port, start_node


def ls(engine: Engine, *filters: str) -> list[str]:
    """The names ``docker network ls`` shows, with ``filters`` (``driver=overlay``...)."""
    args = [arg for value in filters for arg in ("--filter", value)]
    return sorted(engine.docker("network", "ls", "--format", "{{.Name}}", *args).split())


def inspect(engine: Engine, kind: str, name: str) -> Any:
    return engine.docker_json(kind, "inspect", name)[0]


def allocated(engine: Engine, network: str) -> Any:
    """The network once the allocator has given it its subnet."""
    return wait_until(
        lambda: (found := inspect(engine, "network", network))["IPAM"]["Config"] and found,
        10,
        f"{network} allocated",
    )


def service_create(engine: Engine, name: str, *args: str, image: str = "nginx:1.10") -> str:
    return engine.docker("service", "create", "--detach", "--name", name, *args, image).strip()


def endpoint(engine: Engine, service: str) -> Any:
    return wait_until(
        lambda: inspect(engine, "service", service).get("Endpoint"), 10, f"{service}'s endpoint"
    )


def vips(engine: Engine, service: str) -> list[tuple[str, str]]:
    """A service's VIPs, by network name."""
    names = {n["Id"]: n["Name"] for n in engine.docker_json("network", "inspect", *ls(engine))}
    return [
        (names.get(vip["NetworkID"], vip["NetworkID"]), vip.get("Addr", ""))
        for vip in endpoint(engine, service).get("VirtualIPs") or ()
    ]


def task_addresses(engine: Engine, service: str) -> list[dict[str, list[str]]]:
    """The addresses of each running task of a service, by network name."""
    ids = engine.docker("service", "ps", "-q", "--filter", "desired-state=running", service)
    return [
        {a["Network"]["Spec"]["Name"]: a["Addresses"] for a in task["NetworksAttachments"] or ()}
        for task in engine.docker_json("inspect", *ids.split())
    ]


def removed(engine: Engine, network: str) -> None:
    """Removes ``network`` once nothing uses it: a removed service's tasks hold it until they
    have stopped."""

    def gone() -> bool:
        engine.docker("network", "rm", network, check=False)
        return network not in ls(engine)

    wait_until(gone, 20, f"{network} removed")


def refused(engine: Engine, *args: str) -> str:
    """What the CLI says when the engine refuses ``args``."""
    out = engine.docker(*args, check=False)
    assert "Error response from daemon" in out, out
    return out


def test_network_ls_shows_what_a_swarm_manager_shows(engine: Engine) -> None:
    rows = engine.docker("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
    assert {"bridge bridge local", "docker_gwbridge bridge local", "host host local"} <= set(
        rows.splitlines()
    )
    assert {"none null local", "ingress overlay swarm"} <= set(rows.splitlines())
    ingress = allocated(engine, "ingress")
    assert ingress["Ingress"] is True
    assert ingress["Scope"] == "swarm"
    assert len(ingress["Id"]) == 25
    assert ingress["IPAM"] == {
        "Driver": "default",
        "Options": {},
        "Config": [{"Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1"}],
    }
    assert ingress["Options"] == {"com.docker.network.driver.overlay.vxlanid_list": "4096"}
    bridge = inspect(engine, "network", "bridge")
    assert (bridge["Scope"], len(bridge["Id"])) == ("local", 64)


def test_an_overlay_network_is_created_inspected_and_removed(engine: Engine) -> None:
    made = engine.docker(
        "network",
        "create",
        "-d",
        "overlay",
        "--attachable",
        "--label",
        "team=a",
        "--opt",
        "encrypted=false",
        "front",
    ).strip()
    front = allocated(engine, "front")
    assert front["Id"] == made
    assert (front["Driver"], front["Attachable"], front["Internal"]) == ("overlay", True, False)
    assert front["Labels"] == {"team": "a"}
    assert front["Options"]["encrypted"] == "false"
    config = front["IPAM"]["Config"][0]
    assert config["Subnet"].endswith(".0/24") and config["Subnet"].startswith("10.0.")
    assert inspect(engine, "network", made[:6])["Name"] == "front"  # by a unique ID prefix

    engine.docker(
        "network",
        "create",
        "-d",
        "overlay",
        "--internal",
        "--subnet",
        "10.20.0.0/16",
        "--gateway",
        "10.20.0.254",
        "back",
    )
    back = allocated(engine, "back")
    assert back["Internal"] is True
    assert back["IPAM"]["Config"] == [{"Subnet": "10.20.0.0/16", "Gateway": "10.20.0.254"}]

    engine.docker("network", "rm", "front", "back")
    assert "front" not in ls(engine)
    out = engine.docker("network", "inspect", "front", check=False)
    assert "network front not found" in out


def test_network_ls_filters(engine: Engine) -> None:
    engine.docker("network", "create", "-d", "overlay", "--label", "tier=web", "filt-a")
    engine.docker("network", "create", "-d", "overlay", "filt-b")
    assert ls(engine, "label=tier=web") == ["filt-a"]
    assert ls(engine, "name=filt") == ["filt-a", "filt-b"]
    assert ls(engine, "driver=null") == ["none"]
    assert {"filt-a", "filt-b", "ingress"} <= set(ls(engine, "scope=swarm"))
    assert "bridge" not in ls(engine, "scope=swarm")
    assert ls(engine, "type=builtin") == ["bridge", "host", "none"]
    assert ls(engine, "dangling=false") == ["bridge", "host", "none"]
    assert {"filt-a", "docker_gwbridge", "ingress"} <= set(ls(engine, "type=custom"))
    made = inspect(engine, "network", "filt-b")["Id"]
    assert ls(engine, f"id={made[:8]}") == ["filt-b"]
    assert "invalid filter: 'type'='odd'" in refused(engine, "network", "ls", "-f", "type=odd")
    out = refused(engine, "network", "ls", "-f", "dangling=maybe")
    assert "invalid value for filter 'dangling'" in out
    assert "Invalid filter 'colour'" in refused(engine, "network", "ls", "-f", "colour=red")
    engine.docker("network", "rm", "filt-a", "filt-b")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-d", "overlay", "ingress"], "network with name ingress already exists"),
        (["bridged"], "use the overlay driver (docker network create -d overlay), not bridge"),
        (["-d", "weird", "w"], 'plugin "weird" not found'),
        (["-d", "overlay", "bad name"], "name must be valid as a DNS name component"),
        (
            ["-d", "overlay", "--subnet", "10.0.0.0/16", "clash"],
            "failed allocating pools and gateway IP for network clash: Pool overlaps with other "
            "one on this address space",
        ),
        (
            ["-d", "overlay", "--ingress", "second-ingress"],
            "rpc error: code = AlreadyExists desc = ingress network (",
        ),
        (["-d", "overlay", "--scope", "local", "l"], "cannot downgrade network scope"),
        (["bridge"], "bridge is a pre-defined network and cannot be created"),
    ],
)
def test_a_network_create_that_cannot_be_done_is_refused(
    engine: Engine, args: list[str], message: str
) -> None:
    before = ls(engine)
    assert message in refused(engine, "network", "create", *args)
    assert ls(engine) == before


async def test_bad_subnets_are_refused_with_dockerds_words(engine: Engine) -> None:
    body = {"Name": "x", "Driver": "overlay", "IPAM": {"Config": [{"Subnet": "banana"}]}}
    status, answer, _ = await call(engine, "POST", "/networks/create", body)
    assert (status, answer) == (
        400,
        {"message": "Invalid subnet banana : invalid CIDR address: banana"},
    )
    body = {
        "Name": "gw",
        "Driver": "overlay",
        "IPAM": {"Config": [{"Subnet": "10.30.0.0/24", "Gateway": "10.31.0.1"}]},
    }  # the CLI checks this itself; the API checks it too
    status, answer, _ = await call(engine, "POST", "/networks/create", body)
    message = "ipam configuration: subnet 10.30.0.0/24 does not contain gateway 10.31.0.1"
    assert (status, answer) == (
        400,
        {"message": f"rpc error: code = InvalidArgument desc = {message}"},
    )
    status, answer, _ = await call(engine, "DELETE", "/networks/nope")
    assert (status, answer) == (404, {"message": "network nope not found"})
    status, _, _ = await call(engine, "DELETE", "/networks/host")
    assert status == 403


def test_services_on_networks_get_vips_and_their_tasks_addresses(engine: Engine) -> None:
    engine.docker("network", "create", "-d", "overlay", "app")
    engine.docker("network", "create", "-d", "overlay", "data")
    app, data = allocated(engine, "app"), allocated(engine, "data")
    service_create(
        engine,
        "meshed",
        "--replicas",
        "2",
        "--network",
        "app",
        "--network",
        "data",
        "-p",
        "18080:80",
    )
    converged(engine, "meshed", 2)
    spec = inspect(engine, "service", "meshed")["Spec"]["TaskTemplate"]["Networks"]
    assert spec == [{"Target": app["Id"]}, {"Target": data["Id"]}]
    assert [name for name, _ in vips(engine, "meshed")] == ["ingress", "app", "data"]
    subnet = {n: allocated(engine, n)["IPAM"]["Config"][0]["Subnet"] for n in ("app", "data")}
    for name, addr in vips(engine, "meshed")[1:]:
        assert addr.rsplit(".", 1)[0] == subnet[name].rsplit(".", 1)[0] and addr.endswith("/24")
    tasks = task_addresses(engine, "meshed")
    assert len(tasks) == 2 and all(set(t) == {"ingress", "app", "data"} for t in tasks)
    every = [a for t in tasks for addresses in t.values() for a in addresses]
    every += [addr for _, addr in vips(engine, "meshed")]
    assert len(every) == len(set(every)) == 9  # no address given twice

    service_create(engine, "rr", "--network", "app", "--endpoint-mode", "dnsrr")
    converged(engine, "rr", 1)
    assert vips(engine, "rr") == []
    assert list(task_addresses(engine, "rr")[0]) == ["app"]

    meshed = inspect(engine, "service", "meshed")["ID"]
    rr = inspect(engine, "service", "rr")["ID"]
    out = refused(engine, "network", "rm", "app")
    assert f"network {app['Id']} is in use by service {min(meshed, rr)}" in out
    assert "app" in ls(engine)


async def test_the_ingress_network_stays_while_a_service_publishes_through_it(
    engine: Engine,
) -> None:
    service_create(engine, "published", "-p", "18081:80")
    service_id = inspect(engine, "service", "published")["ID"]
    ingress = inspect(engine, "network", "ingress")["Id"]
    status, answer, _ = await call(engine, "DELETE", f"/networks/{ingress}")
    assert status == 400
    assert answer == {
        "message": "rpc error: code = FailedPrecondition desc = ingress network cannot be "
        f"removed because service {service_id} depends on it"
    }
    engine.docker("service", "rm", "published")


def test_network_add_and_rm_move_a_services_vips(engine: Engine) -> None:
    engine.docker("network", "create", "-d", "overlay", "one")
    engine.docker("network", "create", "-d", "overlay", "two")
    service_create(engine, "mover", "--network", "one")
    converged(engine, "mover", 1)
    first = dict(vips(engine, "mover"))
    assert list(first) == ["one"]
    engine.docker("service", "update", "--detach", "--network-add", "two", "mover")
    wait_until(lambda: [n for n, _ in vips(engine, "mover")] == ["one", "two"], 10, "two added")
    assert dict(vips(engine, "mover"))["one"] == first["one"]  # a VIP kept is the same
    engine.docker("service", "update", "--detach", "--network-rm", "one", "mover")
    wait_until(lambda: [n for n, _ in vips(engine, "mover")] == ["two"], 10, "one removed")
    wait_until(lambda: [list(t) for t in task_addresses(engine, "mover")] == [["two"]], 20)
    engine.docker("service", "rm", "mover")
    removed(engine, "one")
    removed(engine, "two")


def test_network_prune_removes_what_nothing_uses(engine: Engine) -> None:
    engine.docker("network", "create", "-d", "overlay", "--label", "keep=yes", "kept")
    engine.docker("network", "create", "-d", "overlay", "unused")
    engine.docker("network", "create", "-d", "overlay", "busy")
    service_create(engine, "busybody", "--network", "busy")
    out = engine.docker("network", "prune", "--force", "--filter", "label!=keep=yes")
    assert "unused" in out and "kept" not in out and "busy" not in out
    assert {"kept", "busy", "ingress"} <= set(ls(engine))
    assert "unused" not in ls(engine)
    engine.docker("service", "rm", "busybody")
    engine.docker("network", "rm", "kept")


def test_docker_events_show_network_create_update_and_remove(engine: Engine) -> None:
    since = str(int(time.time()))
    made = engine.docker("network", "create", "-d", "overlay", "evented").strip()
    allocated(engine, "evented")
    engine.docker("network", "rm", "evented")
    until = str(int(time.time()) + 2)
    out = engine.docker(
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "network=evented",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}} {{.Scope}}",
    )
    assert out.splitlines() == [
        f"network create {made} evented swarm",
        f"network update {made} evented swarm",
        f"network remove {made} evented swarm",
    ]


def test_published_ports_dynamic_and_conflicting(engine: Engine) -> None:
    service_create(engine, "dyn", "-p", "80", "-p", "81")
    wait_until(lambda: all(p.get("PublishedPort") for p in endpoint(engine, "dyn")["Ports"]), 10)
    ports = endpoint(engine, "dyn")["Ports"]
    numbers = [p["PublishedPort"] for p in ports]
    assert all(30000 <= n <= 32767 for n in numbers) and len(set(numbers)) == 2
    dyn = inspect(engine, "service", "dyn")["ID"]

    service_create(engine, "fixed", "-p", "18090:80")
    fixed = inspect(engine, "service", "fixed")["ID"]
    ingress = f"port '18090' is already in use by service 'fixed' ({fixed}) as an ingress port"
    assert ingress in refused(
        engine, "service", "create", "--name", "c1", "-p", "18090:80", "nginx"
    )
    host_vs_ingress = ["-p", "mode=host,published=18090,target=80"]
    assert ingress in refused(
        engine, "service", "create", "--name", "c2", *host_vs_ingress, "nginx"
    )
    taken = f"port '{numbers[0]}' is already in use by service 'dyn' ({dyn}) as an ingress port"
    assert taken in refused(
        engine, "service", "create", "--name", "c3", "-p", f"{numbers[0]}:80", "nginx"
    )

    service_create(engine, "hosted", "-p", "mode=host,published=18091,target=80")
    hosted = inspect(engine, "service", "hosted")["ID"]
    host = f"port '18091' is already in use by service 'hosted' ({hosted}) as a host-published port"
    assert host in refused(engine, "service", "create", "--name", "c4", "-p", "18091:80", "nginx")
    service_create(engine, "hosted-too", "-p", "mode=host,published=18091,target=80")  # allowed
    twice = ["-p", "18092:80", "-p", "18092:81"]
    assert "EndpointSpec: duplicate published ports provided" in refused(
        engine, "service", "create", "--name", "c5", *twice, "nginx"
    )
    service_create(engine, "both", "-p", "18093:80", "-p", "18093:80/udp")  # tcp and udp: fine
    assert "c1" not in engine.docker("service", "ls", "--format", "{{.Name}}").split()


def test_publish_add_and_rm_on_update(engine: Engine) -> None:
    service_create(engine, "edge", "-p", "18100:80", "-p", "82")
    wait_until(lambda: len(endpoint(engine, "edge").get("Ports") or ()) == 2, 10)
    dynamic = next(p for p in endpoint(engine, "edge")["Ports"] if p["TargetPort"] == 82)
    engine.docker("service", "update", "--detach", "--publish-add", "18101:81", "edge")
    wait_until(lambda: len(endpoint(engine, "edge")["Ports"]) == 3, 10, "three ports")
    engine.docker("service", "update", "--detach", "--publish-rm", "80", "edge")
    wait_until(lambda: len(endpoint(engine, "edge")["Ports"]) == 2, 10, "two ports")
    ports = {p["TargetPort"]: p["PublishedPort"] for p in endpoint(engine, "edge")["Ports"]}
    assert ports == {81: 18101, 82: dynamic["PublishedPort"]}  # the dynamic one kept its port
    engine.docker("service", "update", "--detach", "--image", "nginx:1.11", "edge")  # its own port
    service_create(engine, "reuse", "-p", "18100:80")  # the port removed is free again
    engine.docker(
        "service", "update", "--detach", "--publish-rm", "81", "--publish-rm", "82", "edge"
    )
    wait_until(lambda: not endpoint(engine, "edge").get("Ports"), 10, "no ports")
    assert [name for name, _ in vips(engine, "edge")] == []  # off the ingress network too


def test_swarm_init_takes_its_address_pool(tmp_path: Path) -> None:
    node = start_node(tmp_path, "pooled")
    try:
        assert ls(node) == ["bridge", "host", "none"]  # outside a swarm: the node's own
        listen = f"127.0.0.1:{free_port()}"
        out = node.docker(
            "swarm",
            "init",
            "--listen-addr",
            listen,
            "--default-addr-pool",
            "10.20.0.0/16",
            "--default-addr-pool-mask-length",
            "30",
            check=False,
        )
        assert "subnet size is out of range: 30" in out
        assert ls(node) == ["bridge", "host", "none"]
        node.docker(
            "swarm",
            "init",
            "--listen-addr",
            listen,
            "--default-addr-pool",
            "10.20.0.0/16",
            "--default-addr-pool-mask-length",
            "26",
        )
        assert allocated(node, "ingress")["IPAM"]["Config"] == [
            {"Subnet": "10.20.0.0/26", "Gateway": "10.20.0.1"}
        ]
        node.docker("network", "create", "-d", "overlay", "pooled-net")
        assert allocated(node, "pooled-net")["IPAM"]["Config"] == [
            {"Subnet": "10.20.0.64/26", "Gateway": "10.20.0.65"}
        ]
        info = node.docker("info")
        assert "Default Address Pool: 10.20.0.0/16" in info and "SubnetSize: 26" in info
        assert "docker_gwbridge" in ls(node)
    finally:
        assert node.stop() == 0
