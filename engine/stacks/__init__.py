"""Applications: compose files and Distributed Application Bundles turned into Engine API calls.

Owns: reading compose files into bundles (``compose``) and into stacks, checked whole
(``stackfile``), the ``.dab`` format (``bundle``), planning a stack's deploy or removal and
making it through the Engine API client (``plan``; a bundle's stack: ``deploy``), and the
``swarmdeck bundle`` / ``swarmdeck stack deploy`` commands (``cli``). The console's stacks
view plans and deploys with the same functions. It runs on
the client's side, so it works against our engine and a real Docker swarm alike: it uses
engine.api and engine.client, nothing of the manager or the store. ``docker stack deploy -c``
needs none of it: the docker CLI converts compose files itself.
"""

from engine.stacks.bundle import (
    BUNDLE_VERSION,
    Bundle,
    BundleError,
    BundlePort,
    BundleService,
    bundle_json,
    load_bundle,
)
from engine.stacks.compose import compose_bundle, compose_images, load_compose
from engine.stacks.deploy import bundle_stack, service_spec
from engine.stacks.plan import (
    NAMESPACE_LABEL,
    Current,
    Plan,
    Stack,
    StackError,
    Step,
    deploy_stack,
    plan_deploy,
    plan_removal,
    read_current,
    remove_stack,
    stack_of,
)
from engine.stacks.stackfile import load_stack

__all__ = [
    "BUNDLE_VERSION",
    "NAMESPACE_LABEL",
    "Bundle",
    "BundleError",
    "BundlePort",
    "BundleService",
    "Current",
    "Plan",
    "Stack",
    "StackError",
    "Step",
    "bundle_json",
    "bundle_stack",
    "compose_bundle",
    "compose_images",
    "deploy_stack",
    "load_bundle",
    "load_compose",
    "load_stack",
    "plan_deploy",
    "plan_removal",
    "read_current",
    "remove_stack",
    "service_spec",
    "stack_of",
]
