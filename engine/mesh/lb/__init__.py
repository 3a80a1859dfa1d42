"""External load balancers kept in step with the swarm (the seed's cloud load balancer).

``build_endpoints`` reads what a load balancer needs off the engine's objects (published ports,
the nodes that answer on them, the tasks behind them); ``WebhookNotifier`` (``--lb-webhook URL``)
posts each service whose endpoints changed; ``HAProxyUpdater`` (``--lb-haproxy SOCKET``) keeps
HAProxy's ``swarm_<port>_tcp`` backends in step through its runtime API, with no reload;
``LoadBalancerSync`` feeds them the swarm's successive snapshots. Both balancers apply a change
within a second.

Not here: the routing mesh itself (listeners, VIPs, DNS), and where the snapshots come from
(the integrator builds them from the store), nor the command-line flags.
"""

from engine.mesh.lb.endpoints import (
    Endpoints,
    PortEndpoints,
    ServiceEndpoints,
    TaskEndpoint,
    build_endpoints,
)
from engine.mesh.lb.haproxy import HAProxyUpdater, backend_name, haproxy_config
from engine.mesh.lb.runner import Balancer, LoadBalancerSync, Snapshots
from engine.mesh.lb.webhook import WebhookNotifier

__all__ = [
    "Balancer",
    "Endpoints",
    "HAProxyUpdater",
    "LoadBalancerSync",
    "PortEndpoints",
    "ServiceEndpoints",
    "Snapshots",
    "TaskEndpoint",
    "WebhookNotifier",
    "backend_name",
    "build_endpoints",
    "haproxy_config",
]
