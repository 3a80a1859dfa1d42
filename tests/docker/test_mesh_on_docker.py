"""The routing mesh with the docker executor: the lab's three Docker Engines (no swarm mode for
our tasks, no IPVS) as our nodes. Each node's address answers a published port and carries the
connection to a container on any node."""

from __future__ import annotations

from tests.docker.conftest import IMAGE, Swarm, wait_until
from tests.docker.test_docker_executor import running
from tests.integration.conftest import Engine

# Serves a page naming its container (its hostname is its short ID), stops at once on SIGTERM.
HTTPD = (
    'echo "hello from $(hostname)" > /www/index.html; trap "exit 0" TERM; '
    "httpd -f -p 80 -h /www & wait $!"
)


def containers_of(engine: Engine, service: str) -> dict[str, str]:
    """The running tasks' containers of ``service``: short container ID to node hostname."""
    found = {}
    for task in running(engine, service):
        node = engine.docker_json("node", "inspect", task["NodeID"])[0]
        container = str(task["Status"]["ContainerStatus"]["ContainerID"])  # type: ignore[index]
        found[container[:12]] = node["Description"]["Hostname"]
    return found


def test_every_node_answers_a_published_port_for_a_container_on_another(
    ours: Engine, swarm: Swarm
) -> None:
    addresses = {node.name: node.address for node in swarm.lab.nodes}
    for node in swarm.lab.nodes:
        assert ours.docker_json("node", "inspect", node.name)[0]["Status"]["Addr"] == node.address
    ours.docker(
        "service", "create", "--detach", "--name", "web", "--publish", "8080:80",
        "--stop-grace-period", "2s", IMAGE, "sh", "-c", HTTPD,
    )  # fmt: skip
    task = wait_until(lambda: containers_of(ours, "web"), 60, "a running task")
    [(container, home)] = task.items()
    # The container binds port 80 on a port its engine picked, not on 8080.
    bound = swarm.docker("port", container, "80/tcp", node=home)
    assert bound and ":8080" not in bound
    for node, address in addresses.items():
        page = wait_until(
            lambda node=node, address=address: swarm.http_get(node, address, 8080),
            30,
            f"an answer on {node}'s address",
        )
        assert page == f"hello from {container}"
    others = [node for node in addresses if node != home]
    assert others
    # From one node's namespace to another's address: the lab's network carries it.
    assert swarm.http_get(others[0], addresses[others[-1]], 8080) == f"hello from {container}"

    ours.docker("service", "scale", "--detach", "web=3")
    everyone = wait_until(
        lambda: len(found := containers_of(ours, "web")) == 3 and found, 60, "three running tasks"
    )
    assert set(everyone.values()) == set(addresses)  # spread over the nodes
    for node, address in addresses.items():

        def answered(node: str = node, address: str = address) -> bool:
            pages = {swarm.http_get(node, address, 8080) for _ in range(6)}
            return pages == {f"hello from {c}" for c in everyone}

        assert wait_until(answered, 30, f"every task answering through {node}")

    ours.docker("service", "scale", "--detach", "web=1")
    left = wait_until(
        lambda: len(found := containers_of(ours, "web")) == 1 and found, 60, "one task left"
    )
    [kept] = left
    for node, address in addresses.items():
        pages = {swarm.http_get(node, address, 8080) for _ in range(4)}
        assert pages == {f"hello from {kept}"}


def test_a_task_reaches_another_service_by_its_name(ours: Engine, swarm: Swarm) -> None:
    """``web`` is its VIP, which balances over its tasks; ``tasks.web`` its tasks' addresses,
    each reaching its own task; both answered by the node's resolver, wherever a task runs."""
    ours.docker("network", "create", "--driver", "overlay", "front")
    ours.docker(
        "service", "create", "--detach", "--name", "web", "--network", "front",
        "--replicas", "2", "--publish", "8080:80", "--stop-grace-period", "2s",
        IMAGE, "sh", "-c", HTTPD,
    )  # fmt: skip
    ours.docker(
        "service", "create", "--detach", "--name", "client", "--network", "front",
        "--stop-grace-period", "1s", IMAGE, "sleep", "600",
    )  # fmt: skip
    webs = wait_until(
        lambda: len(found := containers_of(ours, "web")) == 2 and found, 60, "two web tasks"
    )
    [(client, node)] = wait_until(lambda: containers_of(ours, "client"), 60, "a client").items()
    [vip] = [
        v["Addr"].split("/")[0]
        for v in ours.docker_json("service", "inspect", "web")[0]["Endpoint"]["VirtualIPs"]
        if v["NetworkID"] == ours.docker("network", "inspect", "-f", "{{.ID}}", "front").strip()
    ]

    def in_client(*command: str) -> str:
        return swarm.docker("exec", client, *command, node=node)

    resolv = in_client("cat", "/etc/resolv.conf")
    assert f"nameserver {swarm.lab.node(node).address}" in resolv and "ndots:0" in resolv
    assert f"Address: {vip}" in in_client("nslookup", "web")

    def balanced() -> bool:
        pages = {in_client("wget", "-qO-", "http://web").strip() for _ in range(6)}
        return pages == {f"hello from {web}" for web in webs}

    assert wait_until(balanced, 30, "web's tasks answering through its VIP")
    listed = in_client("nslookup", "tasks.web")
    addresses = [line.split()[-1] for line in listed.splitlines() if line.startswith("Address:")][
        1:
    ]  # the first is the server's
    assert len(addresses) == 2 and vip not in addresses
    pages = {in_client("wget", "-qO-", f"http://{address}").strip() for address in addresses}
    assert pages == {f"hello from {web}" for web in webs}  # each address, its own task
    network = ours.docker_json("network", "inspect", "front")[0]
    subnet = network["IPAM"]["Config"][0]["Subnet"]
    local_routes = swarm.in_node(node, "ip", "route", "show", "table", "local")
    assert f"local {subnet} dev lo" in local_routes

    assert ours.stop() == 0  # the nodes' namespaces are left as they were found
    for lab_node in swarm.lab.nodes:
        assert subnet not in swarm.in_node(lab_node.name, "ip", "route", "show", "table", "local")
        assert ":53 " not in swarm.in_node(lab_node.name, "ss", "-lnu")
