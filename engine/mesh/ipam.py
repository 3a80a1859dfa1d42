"""IPAM for swarm networks: subnets carved from the swarm's address pools, addresses handed out
within each subnet, and the networks' VXLAN IDs, as SwarmKit's network allocator does with
libnetwork's default IPAM.

- A network with no subnet of its own gets the first free ``/subnet_size`` of the pools
  (10.0.0.0/8 in /24s by default), one that overlaps no subnet in use: the ingress network,
  made first, gets 10.0.0.0/24. A subnet given that overlaps one in use is refused.
- Its gateway is the first address of the subnet (of its IP range, when one is given).
- Addresses are handed out serially: the next free one after the last handed out, wrapping
  around at the end. An address released is handed out again, once the others have been.

Pure: no store, no asyncio. The manager's Allocator holds one ``Ipam`` and rebuilds it from the
store when it starts, reserving what the store says is taken.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = [
    "DEFAULT_POOL",
    "DEFAULT_SUBNET_SIZE",
    "FIRST_VXLAN_ID",
    "AddressesExhausted",
    "Allocated",
    "Bitmap",
    "Ipam",
    "IpamError",
    "PoolExhausted",
    "PoolOverlap",
    "Subnet",
    "check_pools",
    "parse_subnet",
    "subnets_overlap",
]

DEFAULT_POOL = "10.0.0.0/8"  # dockerd's default address pool for swarm networks
DEFAULT_SUBNET_SIZE = 24  # the prefix length of each network carved from it
FIRST_VXLAN_ID = 4096  # the overlay driver's first VXLAN ID (the ingress network's)
LAST_VXLAN_ID = 2**24 - 1  # a VXLAN ID has 24 bits

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class IpamError(ValueError):
    """What IPAM cannot do; the message is libnetwork's."""


class PoolOverlap(IpamError):
    def __init__(self) -> None:
        super().__init__("Pool overlaps with other one on this address space")


class PoolExhausted(IpamError):
    def __init__(self) -> None:
        super().__init__(
            "could not find an available, non-overlapping IPv4 address pool among the "
            "defaults to assign to the network"
        )


class AddressesExhausted(IpamError):
    def __init__(self) -> None:
        super().__init__("No available addresses on this pool")


class Bitmap:
    """Which of ``size`` ordinals are taken, as the bits of one integer. ``take_next`` hands
    out the first free ordinal from a cursor that moves past each one handed out, wrapping
    around (libnetwork's serial bit sequence)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._bits = 0
        self._cursor = 0

    def __contains__(self, ordinal: int) -> bool:
        return bool(self._bits >> ordinal & 1)

    def take(self, ordinal: int) -> bool:
        """Marks ``ordinal`` taken; False if it was already."""
        if ordinal in self:
            return False
        self._bits |= 1 << ordinal
        return True

    def free(self, ordinal: int) -> None:
        self._bits &= ~(1 << ordinal)

    def first_free(self, start: int, end: int) -> int | None:
        """The first free ordinal in ``[start, end)``, if any."""
        if start >= end:
            return None
        clear = ~(self._bits >> start)  # the free ordinals, as set bits, from ``start`` on
        ordinal = start + (clear & -clear).bit_length() - 1
        return ordinal if ordinal < end else None

    def take_next(self, start: int, end: int) -> int | None:
        """Takes the first free ordinal in ``[start, end)`` from the cursor on, wrapping
        around to ``start``; None if every one is taken."""
        cursor = min(max(self._cursor, start), end)
        ordinal = self.first_free(cursor, end)
        if ordinal is None:
            ordinal = self.first_free(start, cursor)
        if ordinal is None:
            return None
        self.take(ordinal)
        self._cursor = ordinal + 1
        return ordinal


def parse_subnet(text: str) -> IPNetwork:
    """A subnet as dockerd reads one (``10.40.0.5/24`` is 10.40.0.0/24).

    Raises:
        IpamError: with dockerd's words.
    """
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise IpamError(f"invalid CIDR address: {text}") from None


class Subnet:
    """One subnet of a network: its gateway and the addresses handed out, within its IP range
    when it has one. The network address, and an IPv4 subnet's broadcast address, are never
    handed out."""

    def __init__(self, subnet: str, gateway: str | None = None, ip_range: str | None = None):
        self.text = subnet
        self.network = parse_subnet(subnet)
        size = self.network.num_addresses
        self._start, self._end = 1, size - 1 if self.network.version == 4 and size > 2 else size
        if ip_range:
            pool = parse_subnet(ip_range)
            base = int(self.network.network_address)
            self._start = max(self._start, int(pool.network_address) - base)
            self._end = min(self._end, int(pool.broadcast_address) - base + 1)
        self._taken = Bitmap(size)
        if gateway:
            self.gateway = ipaddress.ip_address(gateway)
            self._taken.take(self._ordinal(self.gateway))
        else:
            self.gateway = self._address(self._take_next())

    def _ordinal(self, address: IPAddress) -> int:
        return int(address) - int(self.network.network_address)

    def _address(self, ordinal: int) -> IPAddress:
        return ipaddress.ip_address(int(self.network.network_address) + ordinal)

    def _take_next(self) -> int:
        ordinal = self._taken.take_next(self._start, self._end)
        if ordinal is None:
            raise AddressesExhausted()
        return ordinal

    def allocate(self) -> str:
        """The next free address, as ``10.0.1.5/24``."""
        return self._cidr(self._address(self._take_next()))

    def holds(self, address: IPAddress) -> bool:
        return address.version == self.network.version and address in self.network

    def reserve(self, address: IPAddress) -> bool:
        """Marks ``address`` taken (one the store says is); False if it was already."""
        return self._taken.take(self._ordinal(address))

    def release(self, address: IPAddress) -> None:
        if address != self.gateway:
            self._taken.free(self._ordinal(address))

    def _cidr(self, address: IPAddress) -> str:
        return f"{address}/{self.network.prefixlen}"


@dataclass(frozen=True)
class Allocated:
    """What a network was given: its subnets (as given, or carved) and their gateways."""

    subnets: list[tuple[str, str | None, str]]  # (subnet, IP range, gateway)
    vxlan_ids: list[int]


def check_pools(pools: list[str], subnet_size: int) -> None:
    """Raises IpamError, with dockerd's words, if ``pools`` cannot be carved into subnets of
    ``subnet_size`` (at most /29: a subnet holds a gateway and a few addresses)."""
    parsed = []
    for text in pools:
        try:
            parsed.append(parse_subnet(text))
        except IpamError as error:
            raise IpamError(f"invalid base pool {text}: {error}") from None
    for text, pool in zip(pools, parsed, strict=True):
        if not 0 < subnet_size <= pool.max_prefixlen - 3:
            raise IpamError(f"subnet size is out of range: {subnet_size}")
        if subnet_size < pool.prefixlen:
            raise IpamError(
                f'invalid CIDR: "{text}". Subnet size is too small for pool: {subnet_size}'
            )


class Ipam:
    """The subnets, addresses and VXLAN IDs of every network of a swarm.

    Args:
        pools: the default address pools networks without a subnet of their own are carved
            from, in order.
        subnet_size: the prefix length of each subnet carved from them.
    """

    def __init__(
        self, pools: list[str] | None = None, subnet_size: int = DEFAULT_SUBNET_SIZE
    ) -> None:
        pools = pools or [DEFAULT_POOL]
        check_pools(pools, subnet_size)
        self._pools = [parse_subnet(pool) for pool in pools]
        self._subnet_size = subnet_size
        self._networks: dict[str, list[Subnet]] = {}
        self._vxlan_ids: dict[str, list[int]] = {}
        self._vxlan = Bitmap(LAST_VXLAN_ID + 1)

    def __contains__(self, network_id: str) -> bool:
        return network_id in self._networks

    def overlapping(self, subnet: str) -> str | None:
        """The ID of a network whose subnet overlaps ``subnet``, if one does."""
        wanted = Subnet(subnet)
        for network_id, subnets in self._networks.items():
            if any(_overlap(wanted, held) for held in subnets):
                return network_id
        return None

    def allocate_network(
        self, network_id: str, asked: list[tuple[str | None, str | None, str | None]]
    ) -> Allocated:
        """Subnets for a network: those ``asked`` for, as (subnet, IP range, gateway), or one
        carved from the pools when none is; and a VXLAN ID for each.

        Raises:
            PoolOverlap: a subnet asked for overlaps one in use; nothing was allocated.
            PoolExhausted: the pools have no free subnet left; nothing was allocated.
        """
        assert network_id not in self._networks, f"network {network_id} allocated twice"
        asked = [item for item in asked if item[0]] or [(None, None, None)]
        subnets: list[Subnet] = []
        for subnet, ip_range, gateway in asked:
            if subnet is None:
                carved = self._carve(subnets)
                subnets.append(Subnet(str(carved), gateway, ip_range))
                continue
            new = Subnet(subnet, gateway, ip_range)
            if self.overlapping(subnet) or any(_overlap(new, held) for held in subnets):
                raise PoolOverlap()
            subnets.append(new)
        vxlan_ids = []
        for _ in subnets:
            vxlan_id = self._vxlan.take_next(FIRST_VXLAN_ID, LAST_VXLAN_ID + 1)
            assert vxlan_id is not None, "sixteen million VXLAN IDs taken"
            vxlan_ids.append(vxlan_id)
        self._networks[network_id] = subnets
        self._vxlan_ids[network_id] = vxlan_ids
        ranges = [ip_range for _, ip_range, _ in asked]
        given = [
            (held.text, ip_range, str(held.gateway))
            for held, ip_range in zip(subnets, ranges, strict=True)
        ]
        return Allocated(given, vxlan_ids)

    def restore_network(
        self,
        network_id: str,
        subnets: list[tuple[str, str | None, str | None]],
        vxlan_ids: list[int],
    ) -> None:
        """Takes what the store says a network was given: (subnet, IP range, gateway) each."""
        self._networks[network_id] = [
            Subnet(subnet, gateway, ip_range) for subnet, ip_range, gateway in subnets
        ]
        self._vxlan_ids[network_id] = list(vxlan_ids)
        for vxlan_id in vxlan_ids:
            self._vxlan.take(vxlan_id)

    def release_network(self, network_id: str) -> None:
        """Gives back a network's subnets, addresses and VXLAN IDs."""
        self._networks.pop(network_id, None)
        for vxlan_id in self._vxlan_ids.pop(network_id, ()):
            self._vxlan.free(vxlan_id)

    def allocate_address(self, network_id: str) -> str:
        """The network's next free address, as ``10.0.1.5/24``.

        Raises:
            AddressesExhausted: every subnet of the network is full.
            IpamError: the network has no subnet (yet).
        """
        if network_id not in self._networks:
            raise IpamError(f"network {network_id} has no subnet allocated")
        for subnet in self._networks[network_id]:
            try:
                return subnet.allocate()
            except AddressesExhausted:
                continue
        raise AddressesExhausted()

    def reserve_address(self, network_id: str, address: str) -> bool:
        """Marks an address the store says is taken; False if it was already, or is not the
        network's."""
        ip = _host(address)
        for subnet in self._networks.get(network_id, ()):
            if subnet.holds(ip):
                return subnet.reserve(ip)
        return False

    def release_address(self, network_id: str, address: str) -> None:
        ip = _host(address)
        for subnet in self._networks.get(network_id, ()):
            if subnet.holds(ip):
                subnet.release(ip)
                return

    def _carve(self, extra: list[Subnet]) -> IPNetwork:
        """The first free subnet of the pools: aligned, of the subnet size, and overlapping
        no subnet in use (nor ``extra``, the network's own so far)."""
        held = [subnet.network for subnets in self._networks.values() for subnet in subnets]
        held += [subnet.network for subnet in extra]
        for pool in self._pools:
            size = 2 ** (pool.max_prefixlen - self._subnet_size)
            used = sorted(
                (int(n.network_address), int(n.broadcast_address))
                for n in held
                if n.version == pool.version
            )
            candidate, last = int(pool.network_address), int(pool.broadcast_address)
            for low, high in used:
                if high < candidate:
                    continue
                if low > candidate + size - 1:
                    break
                candidate = (high + 1 + size - 1) // size * size
            if candidate + size - 1 <= last:
                return type(pool)((candidate, self._subnet_size))
        raise PoolExhausted()


def subnets_overlap(one: str, other: str) -> bool:
    """Whether two subnets (``10.0.0.0/24``) share an address."""
    return _overlap(Subnet(one), Subnet(other))


def _overlap(one: Subnet, other: Subnet) -> bool:
    return one.network.version == other.network.version and one.network.overlaps(other.network)


def _host(address: str) -> IPAddress:
    return ipaddress.ip_interface(address).ip
