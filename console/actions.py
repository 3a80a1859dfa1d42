"""Every action of the console: one table of what each is (its key, where it applies, whether
it changes the cluster, whether it asks first), and the named coroutines that make the changes.

Bindings, the footer, ``?`` help, the command palette and ``--read-only`` all read ``ACTIONS``;
a view's keys are ``bindings(view)``. Only this module and ``console.feed`` await the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from msgspec.structs import replace
from textual.binding import Binding

from console.render.tables import column_keys
from engine.api.objects import ClusterSpec, Node, Service
from engine.api.specs import (
    ContainerSpec,
    NodeSpec,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
)
from engine.api.types import Availability, NodeRole
from engine.client import APIError, ClientError, EngineClient
from engine.stacks import Plan, Stack, StackError, deploy_stack, remove_stack

__all__ = [
    "ACTIONS",
    "CHANGES",
    "EVERYWHERE",
    "VIEWS",
    "Action",
    "Request",
    "action",
    "activate",
    "bindings",
    "create",
    "demote",
    "deploy",
    "drain",
    "edit",
    "footer_rank",
    "pause",
    "perform",
    "promote",
    "remove",
    "restart",
    "rollback",
    "rotate_ca",
    "rotate_manager_token",
    "rotate_worker_token",
    "scale",
    "set_image",
    "set_labels",
    "sort_keys",
    "update_config",
]

EVERYWHERE = "*"  # the app's own keys, whatever the view
TABLES = (
    "nodes",
    "services",
    "tasks",
    "metrics",
    "stacks",
    "networks",
    "secrets",
    "configs",
)  # the views that are tables
DESCRIBED = ("nodes", "services", "tasks", "stacks", "networks", "secrets", "configs")
MARKED = ("services", "nodes", "stacks", "networks", "secrets", "configs")
VIEWS = ("overview", *TABLES, "logs", "events", "describe", "swarm")


@dataclass(frozen=True)
class Action:
    """``name`` is the screen's (or the app's) ``action_<name>``; ``key`` its binding (keys
    separated by commas: the first is the one the footer shows)."""

    name: str
    key: str
    description: str  # in the footer
    help: str  # in ``?`` help and the command palette
    views: tuple[str, ...]
    mutates: bool = False  # hidden by --read-only
    confirm: bool = False  # asks first, saying what will happen
    typing: bool = False  # opens something to type into (see ``bindings``)
    show: bool = True  # in the footer
    # Keys that each run ``action_<name>(argument)``, as (key, argument); ``key`` then only
    # names them in help.
    variants: tuple[tuple[str, str], ...] = ()
    per_column: bool = False  # a variant per table column: shift and its underlined letter
    anywhere: bool = False  # works while keys go into an input and under a dialog


ACTIONS: tuple[Action, ...] = (
    Action("command_line", "colon", "View", "jump to a view by name", (EVERYWHERE,), typing=True),
    Action("help", "question_mark", "Help", "every key of this view", (EVERYWHERE,)),
    Action("quit", "q", "Quit", "quit the console", (EVERYWHERE,)),
    Action(
        "interrupt",
        "ctrl+c",
        "Quit",
        "quit the console, as q does, wherever the keys go",
        (EVERYWHERE,),
        show=False,
        anywhere=True,
    ),
    Action(
        "last_view", "minus", "Last view", "the view shown before the last :view", (EVERYWHERE,)
    ),
    Action("back", "escape", "Back", "back, or clear the marks, or clear the filter", VIEWS),
    Action(
        "filter",
        "slash",
        "Filter",
        "filter by a regular expression; ! first keeps what does not match",
        VIEWS,
        typing=True,
    ),
    Action(
        "sort",
        "shift+letter",
        "Sort",
        "sort by the column whose letter is underlined; again: the other way",
        TABLES,
        show=False,
        per_column=True,
    ),
    Action(
        "mark",
        "space",
        "Mark",
        "mark or unmark the row: scale, drain and remove act on every marked row",
        MARKED,
    ),
    Action(
        "save",
        "ctrl+s",
        "Save",
        "save what is shown (a table as CSV) in the data folder",
        (*TABLES, "events", "logs"),
    ),
    Action(
        "tasks",
        "enter",
        "Tasks",
        "the tasks of the selected row",
        ("services", "nodes", "networks"),
    ),
    Action("stack_services", "enter", "Services", "the services of the stack", ("stacks",)),
    Action("logs", "l", "Logs", "the logs of the selected row", ("services", "tasks")),
    Action("describe", "y,d", "YAML", "the selected object as YAML", DESCRIBED),
    Action(
        "edit",
        "e",
        "Edit",
        "edit the spec in $EDITOR; the diff is shown, then applied on this version only",
        ("services", "nodes"),
        True,
        True,
    ),
    Action("scale", "s", "Scale", "set a service's replicas", ("services",), True, typing=True),
    Action(
        "image", "i", "Image", "a rolling update to another image", ("services",), True, typing=True
    ),
    Action(
        "update_config",
        "u",
        "Update",
        "change how a service updates, then redeploy it",
        ("services",),
        True,
        typing=True,
    ),
    Action(
        "rollback", "ctrl+l", "Rollback", "back to the previous spec", ("services",), True, True
    ),
    Action(
        "restart", "r", "Restart", "replace every task (force update)", ("services",), True, True
    ),
    Action(
        "remove",
        "ctrl+d",
        "Remove",
        "remove the selected (or marked) rows: a stack with all it has; says what goes first",
        ("services", "stacks", "networks", "secrets", "configs"),
        True,
        True,
    ),
    Action("create", "c", "Create", "create a service", ("services",), True, typing=True),
    Action(
        "ports",
        "p",
        "Ports",
        "published ports, the nodes that answer, VIPs, task addresses and connections",
        ("services",),
    ),
    Action(
        "deploy",
        "c",
        "Deploy",
        "deploy a compose file or .dab: checked whole, its plan shown, applied on a yes",
        ("stacks",),
        True,
        typing=True,
    ),
    Action(
        "drain",
        "r",
        "Drain",
        "move a node's tasks elsewhere: says where each goes, or why it stays pending",
        ("nodes",),
        True,
        True,
    ),
    Action("pause", "c", "Pause", "a node takes no new tasks", ("nodes",), True, True),
    Action("activate", "u", "Activate", "a node takes tasks again", ("nodes",), True),
    Action("promote", "p", "Promote", "make a node a manager", ("nodes",), True, True),
    Action(
        "demote",
        "o",
        "Demote",
        "make a manager a worker (never the last one)",
        ("nodes",),
        True,
        True,
    ),
    Action("labels", "L", "Labels", "set a node's labels", ("nodes",), True, typing=True),
    Action("follow", "f", "Follow", "follow the logs, or pause them", ("logs",)),
    Action("wrap", "w", "Wrap", "wrap long lines", ("logs",)),
    Action("timestamps", "t", "Timestamps", "show each line's time", ("logs",)),
    Action(
        "since",
        "0-4",
        "Since",
        "which lines: 0 the last ones (tail), 1 a minute, 2 5 minutes, 3 15 minutes, 4 an hour",
        ("logs",),
        show=False,
        variants=(("0", "0"), ("1", "60"), ("2", "300"), ("3", "900"), ("4", "3600")),
    ),
    Action("tokens", "t", "Tokens", "show or hide the join tokens", ("swarm",)),
    Action(
        "rotate_worker_token",
        "w",
        "Rotate worker",
        "a new worker join token; the old one admits no one",
        ("swarm",),
        True,
        True,
    ),
    Action(
        "rotate_manager_token",
        "m",
        "Rotate manager",
        "a new manager join token; the old one admits no one",
        ("swarm",),
        True,
        True,
    ),
    Action(
        "rotate_ca",
        "R",
        "Rotate CA",
        "a new root CA; every node gets a new certificate",
        ("swarm",),
        True,
        True,
    ),
)
_BY_NAME = {a.name: a for a in ACTIONS}


def action(name: str) -> Action | None:
    return _BY_NAME.get(name)


def of_view(view: str) -> list[Action]:
    """The actions of ``view`` (not those of every view), in the table's order."""
    return [a for a in ACTIONS if view in a.views]


# The key bar's order (``console.widgets.keybar``): esc, then what is special to the view, in the
# table's order, then these, which most views have; what does not fit is left to ``?``.
_COMMON = ("filter", "describe", "edit", "mark", "save", "command_line", "last_view", "quit")


def footer_rank(view: str) -> Callable[[str], int | None]:
    """Where each action of ``view`` (and of the app) comes on the key bar (None: not there)."""
    specific = [a.name for a in of_view(view) if a.name not in (*_COMMON, "back")]
    ranks = {name: index for index, name in enumerate(("back", *specific, *_COMMON))}
    return ranks.get


def sort_keys(view: str, columns: Sequence[str]) -> tuple[str, ...]:
    """The key that sorts each of ``columns`` in ``view`` ("" for none): an upper-case letter
    (shift and the letter) that no other key of the view or of the app takes."""
    taken = {key for a in (*of_view(view), *of_view(EVERYWHERE)) for key in a.key.split(",")}
    return column_keys(columns, taken)


def bindings(view: str, columns: Sequence[str] = ()) -> list[Binding]:
    """The bindings of ``view``'s actions (``EVERYWHERE`` for the app's); a table view's
    ``columns`` for the keys that sort them.

    A typing action's key is a priority binding, handled as soon as the key arrives, so the
    keys typed right after it go into what it opened rather than to the view (``/web`` and
    enter, in one go, while the console is busy); while keys go into an input it is refused, and
    typed there instead. So is a key that works ``anywhere``.
    """
    made = []
    for a in of_view(view):
        variants = a.variants
        if a.per_column:
            keys = sort_keys(view, columns)
            variants = tuple((key, str(index)) for index, key in enumerate(keys) if key)
        if variants:
            made += [
                Binding(key, f"{a.name}({argument})", a.description, show=False)
                for key, argument in variants
            ]
        else:
            priority = a.typing or a.anywhere
            made.append(Binding(a.key, a.name, a.description, show=a.show, priority=priority))
    return made


# Changes to the cluster. Each reads the object again just before writing it, as the docker CLI
# does, so that it writes on the object's current version.


@dataclass(frozen=True)
class Request:
    """A change to make: the action named ``action``'s coroutine, called with the client and
    ``args``; ``done`` says it was made."""

    action: str
    args: tuple[object, ...]
    done: str


async def perform(client: EngineClient, request: Request, read_only: bool) -> str | None:
    """Makes the change; None, or why it was not made."""
    change = CHANGES.get(request.action)
    if change is None:
        return f"{request.action}: no such change"
    if read_only:
        return f"{request.action}: the console is read-only"
    try:
        await change(client, *request.args)
    except ClientError as error:
        return error.message
    except StackError as error:  # a stack the swarm changed under: nothing was done
        return str(error)
    return None


async def scale(client: EngineClient, service_id: str, replicas: int) -> None:
    mode = ServiceMode(replicated=ReplicatedService(replicas=replicas))
    await client.modify_service(service_id, lambda spec: replace(spec, mode=mode))


async def set_image(client: EngineClient, service_id: str, image: str) -> None:
    def change(spec: ServiceSpec) -> ServiceSpec:
        template = spec.task_template or TaskSpec()
        container = replace(template.container_spec or ContainerSpec(), image=image)
        return replace(spec, task_template=replace(template, container_spec=container))

    await client.modify_service(service_id, change)


async def update_config(client: EngineClient, service_id: str, config: UpdateConfig) -> None:
    """Sets the update config and redeploys with it."""
    await client.modify_service(
        service_id, lambda spec: _forced(replace(spec, update_config=config))
    )


async def rollback(client: EngineClient, service_id: str) -> None:
    await client.rollback_service(service_id)


async def restart(client: EngineClient, service_id: str) -> None:
    await client.modify_service(service_id, _forced)


async def remove(
    client: EngineClient, object_id: str, kind: str = "service", plan: Plan | None = None
) -> None:
    """Removes a service, network, secret or config (``kind``) by ID, or a stack by name with
    all it has, only if that is still what ``plan`` listed."""
    if kind == "stack":
        await remove_stack(client, object_id, expected=plan)
        return
    removers = {
        "service": client.remove_service,
        "network": client.remove_network,
        "secret": client.remove_secret,
        "config": client.remove_config,
    }
    await removers[kind](object_id)


async def create(client: EngineClient, spec: ServiceSpec) -> None:
    await client.create_service(spec)


async def edit(client: EngineClient, edited: Service | Node, spec: object) -> None:
    """Writes ``spec`` on ``edited`` at the version it was edited from: refused, with the
    reason, when the object changed since."""
    try:
        if isinstance(edited, Service):
            await client.update_service(edited, spec)  # type: ignore[arg-type]
        else:
            await client.update_node(edited, spec)  # type: ignore[arg-type]
    except APIError as error:
        if "out of sequence" not in error.message:
            raise
        raise APIError(
            f"it changed since version {edited.version.index} was edited: edit it again "
            f"({error.message})",
            error.status,
        ) from None


async def deploy(client: EngineClient, stack: Stack, plan: Plan) -> None:
    """Deploys ``stack`` (its services the file does not have removed) if its plan is still
    ``plan``; refused, nothing done, when the swarm changed since it was shown."""
    await deploy_stack(client, stack, prune=True, expected=plan)


async def drain(client: EngineClient, node_id: str) -> None:
    await _modify_node(client, node_id, availability=Availability.DRAIN)


async def pause(client: EngineClient, node_id: str) -> None:
    await _modify_node(client, node_id, availability=Availability.PAUSE)


async def activate(client: EngineClient, node_id: str) -> None:
    await _modify_node(client, node_id, availability=Availability.ACTIVE)


async def promote(client: EngineClient, node_id: str) -> None:
    await _modify_node(client, node_id, role=NodeRole.MANAGER)


async def demote(client: EngineClient, node_id: str) -> None:
    await _modify_node(client, node_id, role=NodeRole.WORKER)


async def set_labels(client: EngineClient, node_id: str, labels: dict[str, str]) -> None:
    await _modify_node(client, node_id, labels=labels)


async def rotate_worker_token(client: EngineClient) -> None:
    await client.modify_swarm(lambda spec: spec, rotateWorkerToken=True)


async def rotate_manager_token(client: EngineClient) -> None:
    await client.modify_swarm(lambda spec: spec, rotateManagerToken=True)


async def rotate_ca(client: EngineClient) -> None:
    """Bumps ``CAConfig.ForceRotate``, as ``docker swarm ca --rotate`` does."""

    def forced(spec: ClusterSpec) -> ClusterSpec:
        config = dict(spec.ca_config or {})
        config["ForceRotate"] = int(config.get("ForceRotate") or 0) + 1
        return replace(spec, ca_config=config)

    await client.modify_swarm(forced)


async def _modify_node(client: EngineClient, node_id: str, **changes: object) -> None:
    def change(spec: NodeSpec) -> NodeSpec:
        return replace(spec, **changes)

    await client.modify_node(node_id, change)


CHANGES: dict[str, Callable[..., Awaitable[None]]] = {
    "scale": scale,
    "image": set_image,
    "update_config": update_config,
    "rollback": rollback,
    "restart": restart,
    "remove": remove,
    "create": create,
    "deploy": deploy,
    "edit": edit,
    "drain": drain,
    "pause": pause,
    "activate": activate,
    "promote": promote,
    "demote": demote,
    "labels": set_labels,
    "rotate_worker_token": rotate_worker_token,
    "rotate_manager_token": rotate_manager_token,
    "rotate_ca": rotate_ca,
}  # the coroutine of each action that changes the cluster (``Action.mutates``)


def _forced(spec: ServiceSpec) -> ServiceSpec:
    """The spec with ForceUpdate bumped: every task is redeployed."""
    template = spec.task_template or TaskSpec()
    bumped = replace(template, force_update=(template.force_update or 0) + 1)
    return replace(spec, task_template=bumped)
