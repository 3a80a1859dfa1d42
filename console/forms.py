"""What the console's forms ask for, and what is typed into them turned into API values.

Each ``*_fields`` gives a form's fields (key, label, initial value); each parser takes the
submitted values and returns a value, or raises FormError naming every field that is wrong and
why, in plain words. The same mistake reads the same in every form: the messages come from the
few functions below (``whole_number``, ``one_of``...).
"""

from __future__ import annotations

import re

from engine.api import constraint
from engine.api.durations import SECOND, format_duration, parse_duration
from engine.api.objects import Node
from engine.api.specs import (
    ContainerSpec,
    EndpointSpec,
    FailureAction,
    Placement,
    PortConfig,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
    UpdateOrder,
)

__all__ = [
    "CREATE_FIELDS",
    "Fields",
    "FormError",
    "labels_fields",
    "parse_image",
    "parse_labels",
    "parse_replicas",
    "parse_update_config",
    "plain_error",
    "spec_from_form",
    "update_config_fields",
]

Fields = list[tuple[str, str, str]]  # (key, label, initial value)

CREATE_FIELDS: Fields = [
    ("name", "name", ""),
    ("image", "image", "nginx:latest"),
    ("replicas", "replicas", "1"),
    ("ports", "ports (published:target, such as 8080:80; comma separated)", ""),
    ("constraints", "constraints (node.role==worker, comma separated)", ""),
]
MAX_PORT = 65535


class FormError(ValueError):
    """What the user typed cannot make the value: ``errors`` says, for each field that is
    wrong (by key), why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class _Errors(dict[str, str]):
    """The errors of a form as its fields are read; ``check`` raises them all at once."""

    def check(self) -> None:
        if self:
            raise FormError(dict(self))


# The wording of each mistake, the same wherever it is made.


def whole_number(typed: str, least: int = 0) -> str:
    wanted = f"a whole number of {least} or more"
    return f"{typed!r} is not {wanted}" if typed else needed(wanted)


def needed(what: str) -> str:
    return f"{what} is needed"


def one_of(typed: str, choices: tuple[str, ...]) -> str:
    return f"{typed!r} is not one of {', '.join(choices)}"


def _whole(errors: _Errors, key: str, typed: str, least: int = 0) -> int:
    try:
        value = int(typed)
    except ValueError:
        value = least - 1
    if value < least:
        errors[key] = whole_number(typed, least)
    return value


def parse_replicas(values: dict[str, str]) -> int:
    errors = _Errors()
    count = _whole(errors, "replicas", values["replicas"])
    errors.check()
    return count


def parse_image(values: dict[str, str]) -> str:
    image = values.get("image", "").strip()
    if not image:
        raise FormError({"image": needed("an image")})
    if any(char.isspace() for char in image):
        raise FormError({"image": f"{image!r} has a space: an image name has none"})
    return image


def spec_from_form(values: dict[str, str]) -> ServiceSpec:
    """A service spec from the create form's fields."""
    errors = _Errors()
    image = ""
    try:
        image = parse_image(values)
    except FormError as error:
        errors.update(error.errors)
    count = _whole(errors, "replicas", values.get("replicas") or "1")
    ports = []
    for item in filter(None, (p.strip() for p in values.get("ports", "").split(","))):
        published, colon, target = item.partition(":")
        numbers = [_port(part) for part in (published, target)] if colon else []
        if None in numbers or not numbers:
            errors["ports"] = f"{item!r} is not published:target, ports of 1-{MAX_PORT}"
            break
        ports.append(PortConfig(published_port=numbers[0], target_port=numbers[1], protocol="tcp"))
    constraints = [c.strip() for c in values.get("constraints", "").split(",") if c.strip()]
    try:
        constraint.parse(constraints)
    except ValueError as error:
        errors["constraints"] = f"{error} (such as node.role==worker)"
    errors.check()
    return ServiceSpec(
        name=values.get("name") or None,
        mode=ServiceMode(replicated=ReplicatedService(replicas=count)),
        task_template=TaskSpec(
            container_spec=ContainerSpec(image=image),
            placement=Placement(constraints=constraints or None),
        ),
        endpoint_spec=EndpointSpec(mode="vip", ports=ports or None),
    )


def _port(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and 1 <= int(text) <= MAX_PORT else None


# FailureAction's values, the default (pause) first
_ACTIONS = tuple(sorted((action.value for action in FailureAction), key=lambda v: v != "pause"))
_ORDERS = tuple(order.value for order in UpdateOrder)


def update_config_fields(config: UpdateConfig | None) -> Fields:
    config = config or UpdateConfig(parallelism=1)
    return [
        ("parallelism", "parallelism (0: all at once)", str(config.parallelism or 0)),
        ("delay", "delay between batches", format_duration(config.delay or 0)),
        (
            "failure_action",
            f"on failure ({', '.join(_ACTIONS)})",
            config.failure_action.value if config.failure_action else "pause",
        ),
        (
            "order",
            f"order ({', '.join(_ORDERS)})",
            config.order.value if config.order else "stop-first",
        ),
    ]


def parse_update_config(values: dict[str, str], config: UpdateConfig | None) -> UpdateConfig:
    """The update config the form says, keeping what it does not ask of ``config``."""
    config = config or UpdateConfig(parallelism=1)
    errors = _Errors()
    parallelism = _whole(errors, "parallelism", values["parallelism"])
    delay = 0
    try:
        delay = parse_duration(values["delay"])
    except ValueError:
        errors["delay"] = f"{values['delay']!r} is not a duration (such as 5s, 1m30s)"
    action, order = values["failure_action"], values["order"]
    if action not in _ACTIONS:
        errors["failure_action"] = one_of(action, _ACTIONS)
    if order not in _ORDERS:
        errors["order"] = one_of(order, _ORDERS)
    errors.check()
    return UpdateConfig(
        parallelism=parallelism,
        delay=delay,
        failure_action=FailureAction(action),
        monitor=config.monitor if config.monitor is not None else 5 * SECOND,
        max_failure_ratio=config.max_failure_ratio or 0.0,
        order=UpdateOrder(order),
    )


def labels_fields(node: Node) -> Fields:
    current = ",".join(f"{k}={v}" for k, v in sorted((node.spec.labels or {}).items()))
    return [("labels", "key=value, comma separated", current)]


def parse_labels(values: dict[str, str]) -> dict[str, str]:
    """Labels from ``key=value`` items: a key is needed, and has no space in it."""
    labels = {}
    for item in filter(None, (part.strip() for part in values["labels"].split(","))):
        key, _, value = item.partition("=")
        key = key.strip()
        if not key:
            raise FormError({"labels": f"{item!r}: {needed('a key')} before the ="})
        if any(char.isspace() for char in key):
            raise FormError({"labels": f"{item!r}: a key has no space in it"})
        labels[key] = value.strip()
    return labels


_EXPECTED = re.compile(r"Expected `([^`]*)`(?:, got `([^`]*)`)?(.*?) - at `\$\.?([^`]*)`")
_ENUM = re.compile(r"Invalid enum value (.*) - at `\$\.?([^`]*)`")
# Go's encoding/json, as the daemon words a value its field's type cannot hold.
_GO = re.compile(
    r"json: cannot unmarshal (\w+)( \S+)? into Go struct field \w+\.(\S+) of type (\S+)"
)
_KIND_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "string": "text",
    "bool": "true or false",
    "array": "a list",
    "object": "key: value pairs",
    "number": "a number",
    "time.Duration": "a duration in nanoseconds",
}
_GO_INTEGERS = {"int": "", "int64": "", "uint64": " of at least 0", "uint32": " of at least 0"}


def _words(kinds: str) -> str:
    named = [_KIND_WORDS.get(kind.strip(), kind.strip()) for kind in kinds.split("|")]
    return " or ".join(word for word in named if word != "null")


def plain_error(message: str) -> str:
    """An API value's error (``Expected `int | null`, got `str` - at `$.Mode...```) in plain
    words: ``Mode.Replicated.Replicas: a whole number is needed, not text``."""
    message = message.removeprefix("invalid JSON: ")
    if found := _EXPECTED.search(message):
        wanted, got, bound, where = found.groups()
        where = where.replace("[...]", "") or "the spec"
        text = f"{where}: {_words(wanted)}{bound.replace('>=', 'of at least')} is needed"
        return text + (f", not {_words(got)}" if got else "")
    if found := _ENUM.search(message):
        value, where = found.groups()
        return f"{where}: {value} is not one of the values it takes"
    if found := _GO.search(message):
        got, number, where, go_type = found.groups()
        if go_type in _GO_INTEGERS:
            wanted = f"a whole number{_GO_INTEGERS[go_type]}"
            if number and got == "number":
                return f"{where}: {wanted} is needed, not{number}"
            return f"{where}: {wanted} is needed, not {_words(got)}"
        return f"{where}: {_words(go_type)} is needed, not {_words(got)}"
    return message
