"""What the console's forms ask for, and what is typed into them turned into API values.

Each ``*_fields`` gives a form's fields (key, label, initial value); each parser takes the
submitted values and returns a value, or raises FormError saying which field is wrong.
"""

from __future__ import annotations

import re

from engine.api.codec import from_builtins
from engine.api.durations import SECOND, format_duration, parse_duration
from engine.api.objects import Node
from engine.api.specs import (
    ContainerSpec,
    EndpointSpec,
    Placement,
    PortConfig,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
)
from engine.errors import EngineError

__all__ = [
    "CREATE_FIELDS",
    "Fields",
    "FormError",
    "labels_fields",
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
    ("ports", "ports (published:target, comma separated)", ""),
    ("constraints", "constraints (node.role==worker, comma separated)", ""),
]


class FormError(ValueError):
    """What the user typed cannot make the value; the message says which field."""


_KIND_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "array": "a list",
    "object": "key: value pairs",
}
_EXPECTED = re.compile(r"Expected `([^`]*)`(?:, got `([^`]*)`)?(.*?) - at `\$\.?([^`]*)`")
_ENUM = re.compile(r"Invalid enum value (.*) - at `\$\.?([^`]*)`")


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
    return message


def parse_replicas(values: dict[str, str]) -> int:
    try:
        count = int(values["replicas"])
    except ValueError:
        count = -1
    if count < 0:
        raise FormError(f"not a number of replicas: {values['replicas']!r}")
    return count


def spec_from_form(values: dict[str, str]) -> ServiceSpec:
    """A service spec from the create form's fields."""
    if not values.get("image"):
        raise FormError("an image is needed")
    try:
        count = int(values.get("replicas") or "1")
    except ValueError:
        raise FormError(f"replicas: {values['replicas']!r} is not a number") from None
    ports = []
    for item in filter(None, (p.strip() for p in values.get("ports", "").split(","))):
        published, _, target = item.partition(":")
        try:
            ports.append(
                PortConfig(published_port=int(published), target_port=int(target), protocol="tcp")
            )
        except ValueError:
            raise FormError(f"ports: {item!r} is not published:target") from None
    constraints = [c.strip() for c in values.get("constraints", "").split(",") if c.strip()]
    return ServiceSpec(
        name=values.get("name") or None,
        mode=ServiceMode(replicated=ReplicatedService(replicas=count)),
        task_template=TaskSpec(
            container_spec=ContainerSpec(image=values["image"]),
            placement=Placement(constraints=constraints or None),
        ),
        endpoint_spec=EndpointSpec(mode="vip", ports=ports or None),
    )


def update_config_fields(config: UpdateConfig | None) -> Fields:
    config = config or UpdateConfig(parallelism=1)
    return [
        ("parallelism", "parallelism (0: all at once)", str(config.parallelism or 0)),
        ("delay", "delay between batches", format_duration(config.delay or 0)),
        (
            "failure_action",
            "on failure: pause, continue or rollback",
            config.failure_action.value if config.failure_action else "pause",
        ),
        (
            "order",
            "order: stop-first or start-first",
            config.order.value if config.order else "stop-first",
        ),
    ]


def parse_update_config(values: dict[str, str], config: UpdateConfig | None) -> UpdateConfig:
    """The update config the form says, keeping what it does not ask of ``config``."""
    config = config or UpdateConfig(parallelism=1)
    try:
        return from_builtins(
            {
                "Parallelism": int(values["parallelism"]),
                "Delay": parse_duration(values["delay"]),
                "FailureAction": values["failure_action"],
                "Monitor": config.monitor if config.monitor is not None else 5 * SECOND,
                "MaxFailureRatio": config.max_failure_ratio or 0.0,
                "Order": values["order"],
            },
            UpdateConfig,
        )
    except (ValueError, EngineError) as error:
        raise FormError(f"update config: {error}") from None


def labels_fields(node: Node) -> Fields:
    current = ",".join(f"{k}={v}" for k, v in sorted((node.spec.labels or {}).items()))
    return [("labels", "key=value, comma separated", current)]


def parse_labels(values: dict[str, str]) -> dict[str, str]:
    labels = {}
    for item in filter(None, (part.strip() for part in values["labels"].split(","))):
        key, _, value = item.partition("=")
        if not key.strip():
            raise FormError(f"labels: {item!r} has no key")
        labels[key.strip()] = value.strip()
    return labels
