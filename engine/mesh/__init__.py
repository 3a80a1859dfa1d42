"""The routing mesh: networks and IPAM, the ingress proxy and VIPs, the DNS resolver, external load balancers."""
