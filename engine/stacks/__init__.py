"""Applications: compose files and Distributed Application Bundles turned into Engine API calls.

Owns: reading compose files into bundles (``compose``), the ``.dab`` format (``bundle``),
deploying a bundle as a stack through the Engine API client (``deploy``), and the
``swarmdeck bundle`` / ``swarmdeck stack deploy --bundle-file`` commands (``cli``). It runs on
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
from engine.stacks.deploy import NAMESPACE_LABEL, StackError, deploy_bundle, service_spec

__all__ = [
    "BUNDLE_VERSION",
    "NAMESPACE_LABEL",
    "Bundle",
    "BundleError",
    "BundlePort",
    "BundleService",
    "StackError",
    "bundle_json",
    "compose_bundle",
    "compose_images",
    "deploy_bundle",
    "load_bundle",
    "load_compose",
    "service_spec",
]
