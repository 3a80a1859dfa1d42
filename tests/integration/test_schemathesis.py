"""Schemathesis against the implemented paths of the v1.41 spec (the swagger file beside this).

For every implemented operation it generates requests from the spec and checks that no answer is
a server error the spec does not document for that operation, that no answer is an unhandled
error, and that content types and bodies match the spec's schemas. Client errors (4xx) are what
bad input gets; the spec leaves many of them out, and Docker answers them all the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, response_schema_conformance

from tests.integration.served import served_over_tcp

SPEC = Path(__file__).with_name("docker-engine-api-v1.41.yaml")
# What the engine serves; logs and events stream until told to stop, so the fuzz test covers them.
IMPLEMENTED = (
    r"^/(_ping|version|info|swarm|nodes|nodes/\{id\}|nodes/\{id\}/update|services"
    r"|services/create|services/\{id\}|services/\{id\}/update|tasks|tasks/\{id\}"
    r"|networks|networks/\{id\}|networks/create|networks/prune)$"
)

schema = schemathesis.openapi.from_path(SPEC).include(path_regex=IMPLEMENTED)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with served_over_tcp() as (url, _):
        yield url + "/v1.41"


def assert_no_undocumented_server_error(case: schemathesis.Case, response: object) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    if status < 500:
        return
    documented = {str(code) for code in case.operation.definition.raw.get("responses", {})}
    assert str(status) in documented, f"{case.method} {case.path}: undocumented {status}"
    message = response.json().get("message", "")  # type: ignore[attr-defined]
    assert not message.startswith("internal error"), message


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_implemented_paths_conform_to_the_spec(case: schemathesis.Case, base_url: str) -> None:
    response = case.call(base_url=base_url, timeout=10)
    case.validate_response(
        response,
        checks=[content_type_conformance, response_schema_conformance],
    )
    assert_no_undocumented_server_error(case, response)
