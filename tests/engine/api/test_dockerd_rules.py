"""What a request carries is read by dockerd's rules: Go's strconv, mime and encoding/json, and
docker/distribution's image reference grammar."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import make_mocked_request

from engine.api.codec import decode, go_quote
from engine.api.specs import ServiceSpec, UpdateConfig
from engine.errors import InvalidArgument
from engine.httpapi.params import check_json_content_type, go_parse_bool, go_parse_uint
from engine.manager.defaults import effective_update
from engine.manager.validation import is_normalized_named


@pytest.mark.parametrize(
    ("image", "valid"),
    [
        ("nginx", True),
        ("nginx:1.10", True),
        ("docker.io/library/nginx:latest", True),
        ("index.docker.io/nginx", True),
        ("localhost/foo", True),
        ("localhost:5000/foo/bar:tag", True),
        ("Registry.Example.com:443/a/b-c__d.e:v1.2-x", True),
        ("a--b", True),
        ("a__b", True),
        ("nginx@sha256:" + "0" * 64, True),
        ("nginx:1@sha512:" + "f" * 128, True),
        ("a" * 237, True),  # docker.io/library/ + 237 = 255 characters
        ("a" * 238, False),
        ("example.com/" + "a" * 243, True),
        ("example.com/" + "a" * 244, False),
        ("nginx:" + "t" * 128, True),
        ("nginx:" + "t" * 129, False),
        ("a" * 64, False),  # a 64-hex identifier, not a name
        ("Nginx", False),
        ("foo/Bar", False),
        ("A B", False),
        ("-name", False),
        ("nginx:", False),
        ("nginx:é", False),  # Go's \w is ASCII
        ("a___b", False),
        ("a..b", False),
        ("foo:bar/baz", False),
        ("foo.com:/bar", False),
        ("-foo.com/bar", False),
        ("/foo", False),
        ("foo/", False),
        ("nginx@sha256:" + "A" * 64, False),  # go-digest wants lowercase hex
        ("nginx@md5:" + "0" * 32, False),
        ("nginx@sha256:" + "0" * 63, False),
    ],
)
def test_images_are_checked_by_the_reference_grammar(image: str, valid: bool) -> None:
    assert is_normalized_named(image) is valid


@pytest.mark.parametrize(
    "image",
    ["a" * 100_000 + "!", "a-" * 50_000 + "!", "a." * 50_000 + "/x", "a" * 60 + "!"],
)
def test_an_image_that_almost_matches_is_refused_at_once(image: str) -> None:
    """A backtracking pattern took seconds for 24 characters and doubled with each more."""
    assert not is_normalized_named(image)


def test_go_quote_escapes_as_percent_q() -> None:
    assert go_quote("nginx") == '"nginx"'
    assert go_quote('a"b\\c\n\x01é\u200b') == '"a\\"b\\\\c\\n\\x01é\\u200b"'


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("0", 0),
        ("18446744073709551615", 2**64 - 1),
        ("", 'strconv.ParseUint: parsing "": invalid syntax'),
        ("-1", 'strconv.ParseUint: parsing "-1": invalid syntax'),
        ("+1", 'strconv.ParseUint: parsing "+1": invalid syntax'),
        (" 5", 'strconv.ParseUint: parsing " 5": invalid syntax'),
        ("1_000", 'strconv.ParseUint: parsing "1_000": invalid syntax'),
        ("٣", 'strconv.ParseUint: parsing "٣": invalid syntax'),
        (
            "18446744073709551616",
            'strconv.ParseUint: parsing "18446744073709551616": value out of range',
        ),
        # Go stops at the first digit that overflows, before the bad character after it.
        (
            "99999999999999999999x",
            'strconv.ParseUint: parsing "99999999999999999999x": value out of range',
        ),
    ],
)
def test_uint_parsing_follows_strconv(text: str, result: int | str) -> None:
    if isinstance(result, int):
        assert go_parse_uint(text) == result
    else:
        with pytest.raises(ValueError) as raised:
            go_parse_uint(text)
        assert str(raised.value) == result


def test_bool_parsing_follows_strconv() -> None:
    assert [go_parse_bool(text) for text in ("1", "t", "TRUE", "True", "0", "f", "False")] == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    with pytest.raises(ValueError, match=r'^strconv.ParseBool: parsing "yes": invalid syntax$'):
        go_parse_bool("yes")


UNSUPPORTED = "unsupported"


@pytest.mark.parametrize(
    ("content_type", "refusal"),
    [
        ("", None),
        ("application/json", None),
        ("Application/JSON; charset=utf-8", None),
        ("application/json;", None),
        ('application/json; a=""; b="x\\"y"', None),
        ("text/plain", UNSUPPORTED),
        ("application", UNSUPPORTED),
        ("/json", "mime: no media type"),
        ("application/", "mime: expected token after slash"),
        ("application json", "mime: expected slash after first token"),
        ("application/json/x", "mime: unexpected content after media subtype"),
        ("application/json; a", "mime: invalid media parameter"),
        ("application/json; ;", "mime: invalid media parameter"),
        ('application/json; a="open', "mime: invalid media parameter"),
        ("application/json; a=1; A=2", "mime: duplicate parameter name"),
    ],
)
def test_json_bodies_are_declared_as_check_for_json_wants(
    content_type: str, refusal: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    request = make_mocked_request("POST", "/services/create", headers=headers)
    if refusal is None:
        check_json_content_type(request)
        return
    if refusal == UNSUPPORTED:
        message = f"unsupported Content-Type header ({content_type}): must be 'application/json'"
    else:
        message = f"malformed Content-Type header ({content_type}): {refusal}"
    with pytest.raises(InvalidArgument) as raised:
        check_json_content_type(request)
    assert (raised.value.public_text(), raised.value.http_status) == (message, 400)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"TaskTemplate": {"ContainerSpec": {"StopGracePeriod": 2**63}}},
            "json: cannot unmarshal number 9223372036854775808 into Go struct field "
            "ContainerSpec.TaskTemplate.ContainerSpec.StopGracePeriod of type time.Duration",
        ),
        (
            {"taskTemplate": {"restartPolicy": {"window": -(2**63) - 1}}},
            "json: cannot unmarshal number -9223372036854775809 into Go struct field "
            "RestartPolicy.TaskTemplate.RestartPolicy.Window of type time.Duration",
        ),
        (
            {"TaskTemplate": {"Resources": {"Reservations": {"MemoryBytes": 2**63}}}},
            "json: cannot unmarshal number 9223372036854775808 into Go struct field "
            "Resources.TaskTemplate.Resources.Reservations.MemoryBytes of type int64",
        ),
        (
            {"Mode": {"Replicated": {"Replicas": 2**64}}},
            "json: cannot unmarshal number 18446744073709551616 into Go struct field "
            "ReplicatedService.Mode.Replicated.Replicas of type uint64",
        ),
        (
            {"EndpointSpec": {"Ports": [{"TargetPort": 80}, {"TargetPort": 2**32}]}},
            "json: cannot unmarshal number 4294967296 into Go struct field "
            "PortConfig.EndpointSpec.Ports.TargetPort of type uint32",
        ),
    ],
)
def test_a_number_beyond_its_go_type_is_refused_with_go_json_words(
    body: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        decode(json.dumps(body), ServiceSpec)
    assert raised.value.public_text() == message


def test_the_largest_numbers_a_go_type_holds_are_kept() -> None:
    spec = decode(
        json.dumps(
            {
                "TaskTemplate": {
                    "ContainerSpec": {"StopGracePeriod": 2**63 - 1},
                    "ForceUpdate": 2**64 - 1,
                },
                "UpdateConfig": {"Delay": -(2**63)},
            }
        ),
        ServiceSpec,
    )
    assert spec.task_template is not None and spec.task_template.container_spec is not None
    assert spec.task_template.container_spec.stop_grace_period == 2**63 - 1
    assert spec.task_template.force_update == 2**64 - 1
    assert spec.update_config is not None and spec.update_config.delay == -(2**63)


def test_an_update_monitor_of_zero_is_swarmkits_default() -> None:
    """moby's updateConfigToGRPC sends no Monitor for 0, so SwarmKit watches 5 s."""
    assert effective_update(UpdateConfig(parallelism=1, monitor=0)).monitor == 5.0
    assert effective_update(UpdateConfig(parallelism=1, monitor=2_000_000_000)).monitor == 2.0
