"""Compose files read into stacks as docker stack deploy converts them, checked whole; and the
plan of a deploy or removal, set against what a swarm has."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.api.networks import NetworkResource
from engine.api.objects import Config, Endpoint, Service
from engine.api.secrets import ConfigSpec
from engine.api.specs import PortConfig, ServiceSpec
from engine.stacks import (
    BundleError,
    Current,
    StackError,
    load_stack,
    plan_deploy,
    plan_removal,
)

STACKS = Path(__file__).parents[2] / "integration" / "stacks"


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "docker-compose.yml"
    path.write_text(text)
    return path


def test_a_compose_file_becomes_specs_named_and_labelled_for_its_stack() -> None:
    stack = load_stack(STACKS / "wordpress.yml", "blog")
    assert sorted(stack.services) == ["blog_db", "blog_nginx", "blog_wordpress"]
    assert sorted(stack.networks) == ["blog_backend", "blog_frontend"]
    assert stack.external_networks == {"proxy"}
    assert sorted(stack.secrets) == ["blog_db_password", "blog_db_root_password"]
    assert stack.secrets["blog_db_password"].data == (
        (STACKS / "secrets" / "db_password.txt").read_bytes()
    )
    wordpress = stack.services["blog_wordpress"]
    assert wordpress.mode is not None and wordpress.mode.replicated is not None
    assert wordpress.mode.replicated.replicas == 3
    assert wordpress.update_config is not None
    assert wordpress.update_config.delay == 10 * 10**9
    template = wordpress.task_template
    assert template is not None and template.container_spec is not None
    secret = (template.container_spec.secrets or [])[0]
    assert (secret.secret_name, secret.file and secret.file.uid) == ("blog_db_password", "33")
    assert [n.target for n in template.networks or ()] == ["blog_backend", "blog_frontend"]
    assert (wordpress.labels or {})["com.docker.stack.namespace"] == "blog"


def test_a_network_keeps_its_driver_settings_and_addresses(tmp_path: Path) -> None:
    text = (
        "services: {web: {image: x, networks: [back]}}\n"
        "networks: {back: {internal: true, ipam: {config: [{subnet: 10.9.0.0/24}]}}}"
    )
    network = load_stack(written(tmp_path, text), "app").networks["app_back"]
    assert (network.driver, network.internal) == ("overlay", True)
    assert network.ipam is not None and network.ipam.config is not None
    assert network.ipam.config[0].subnet == "10.9.0.0/24"


BAD = [
    ("services: {web: {image: x, colour: red}}", "services.web.colour: unknown key"),
    (
        "services: {web: {image: x, deploy: {replicas: three}}}",
        "services.web.deploy.replicas: expected a whole number, not 'three'",
    ),
    (
        "services: {web: {image: x, deploy: {update_config: {delay: 10 seconds}}}}",
        "services.web.deploy.update_config.delay: '10 seconds' is not a duration",
    ),
    (
        "services: {web: {image: x, secrets: [token]}}\nsecrets: {token: {file: ./nope.txt}}",
        "secrets.token.file: ",
    ),
    (
        "services: {web: {image: x, networks: [front]}}",
        "services.web.networks: network front is not declared under networks",
    ),
    ("services: {web: {image: x, ports: [eighty]}}", "services.web.ports: 'eighty' is not a port"),
    ("services: {web: {image: x, labels: 3}}", "services.web.labels: expected a mapping or a list"),
    (
        "services: {web: {image: x, networks: [n]}}\nnetworks: {n: {ipam: {config: [{cidr: x}]}}}",
        "networks.n.ipam.config.cidr: unknown key",
    ),
]


@pytest.mark.parametrize(("text", "words"), BAD)
def test_a_bad_compose_file_names_the_file_and_the_field(
    tmp_path: Path, text: str, words: str
) -> None:
    path = written(tmp_path, text)
    with pytest.raises(BundleError) as raised:
        load_stack(path, "app")
    assert str(raised.value).startswith(f"{path}: ")
    assert words in str(raised.value)


def test_a_plan_names_what_changes_and_nothing_else(tmp_path: Path) -> None:
    before = load_stack(
        written(tmp_path, "services: {a: {image: x}, b: {image: y}, c: {image: z}}"), "app"
    )
    current = Current(
        services=[Service(id=f"id-{name}", spec=spec) for name, spec in before.services.items()],
        networks=[NetworkResource(name="app_default", id="n1", scope="swarm")],
    )
    after = load_stack(
        written(tmp_path, "services: {a: {image: x}, b: {image: y2}, d: {image: w}}"), "app"
    )
    plan = plan_deploy(after, current, prune=True)
    assert plan.lines() == [
        "~ update service app_b: Labels.com.docker.stack.image, ContainerSpec.Image",
        "+ create service app_d",
        "- remove service app_c",
        "  unchanged: app_a",
    ]
    assert plan_deploy(after, current).names("remove") == []  # no prune, nothing removed


def test_a_plan_refuses_what_cannot_be_done(tmp_path: Path) -> None:
    configs = "configs: {site: {file: ./site.conf}}"
    (tmp_path / "site.conf").write_text("new")
    stack = load_stack(written(tmp_path, "services: {a: {image: x}}\n" + configs), "app")
    old = Config(id="c1", spec=ConfigSpec(name="app_site", data=b"old"))
    with pytest.raises(StackError, match="config app_site: its data changed"):
        plan_deploy(stack, Current(configs=[old]))
    external = "services: {a: {image: x, networks: [p]}}\nnetworks: {p: {external: true}}"
    stack = load_stack(written(tmp_path, external), "app")
    with pytest.raises(StackError, match="network 'p' is declared as external"):
        plan_deploy(stack, Current())
    with pytest.raises(StackError, match="Nothing found in stack: app"):
        plan_removal("app", Current())


def test_a_plan_refuses_a_published_port_another_service_has(tmp_path: Path) -> None:
    """The swarm would refuse it halfway through the deploy: the plan refuses it first, and a
    service of the stack itself keeps its own port."""
    port = PortConfig(protocol="tcp", target_port=80, published_port=8080)
    web = Service(id="w1", spec=ServiceSpec(name="web"), endpoint=Endpoint(ports=[port]))
    stack = load_stack(written(tmp_path, "services: {a: {image: x, ports: ['8080:80']}}"), "app")
    path = tmp_path / "docker-compose.yml"
    with pytest.raises(StackError) as raised:
        plan_deploy(stack, Current(services=[web]))
    assert str(raised.value) == (
        f"{path}: service app_a: port 8080/tcp is already published by service web"
    )
    own = Service(id="a1", spec=stack.services["app_a"], endpoint=Endpoint(ports=[port]))
    assert plan_deploy(stack, Current(services=[own])).lines() == [
        "+ create network app_default",
        "  unchanged: app_a",
    ]
    twice = "services: {a: {image: x, ports: ['8080:80']}, b: {image: y, ports: ['8080:81']}}"
    with pytest.raises(StackError, match="service app_b: port 8080/tcp is already published"):
        plan_deploy(load_stack(written(tmp_path, twice), "app"), Current())
