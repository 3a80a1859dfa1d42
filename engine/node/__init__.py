"""One daemon, one node: outside any swarm, a swarm's manager, or a worker joined to one over
mutual TLS (``daemon``); the manager's swarm port (``swarmport``) and a node's side of it
(``remote``)."""
