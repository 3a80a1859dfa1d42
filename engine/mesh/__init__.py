"""The routing mesh: networks and IPAM, the ingress proxy and VIPs, the DNS resolver,
external load balancers, and the network namespaces of the nodes it serves from this process."""
