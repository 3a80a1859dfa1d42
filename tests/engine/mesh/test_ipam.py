"""IPAM: subnets carved from the pools as a swarm carves them, addresses handed out serially and
reused once released, overlaps and exhaustion refused with libnetwork's words."""

from __future__ import annotations

import pytest

from engine.mesh.ipam import (
    AddressesExhausted,
    Bitmap,
    Ipam,
    IpamError,
    PoolExhausted,
    PoolOverlap,
    Subnet,
    check_pools,
    subnets_overlap,
)


def test_networks_get_the_pools_subnets_in_order_the_ingress_network_first() -> None:
    ipam = Ipam()
    assert ipam.allocate_network("ingress", []).subnets == [("10.0.0.0/24", None, "10.0.0.1")]
    assert ipam.allocate_network("web", []).subnets == [("10.0.1.0/24", None, "10.0.1.1")]
    assert ipam.allocate_network("db", []).subnets == [("10.0.2.0/24", None, "10.0.2.1")]


def test_each_subnet_gets_the_next_vxlan_id_from_4096() -> None:
    ipam = Ipam()
    assert ipam.allocate_network("ingress", []).vxlan_ids == [4096]
    two = [("10.60.0.0/24", None, None), ("10.61.0.0/24", None, None)]
    assert ipam.allocate_network("two", two).vxlan_ids == [4097, 4098]


def test_a_removed_networks_subnet_is_the_first_given_again() -> None:
    ipam = Ipam()
    for name in ("a", "b", "c"):
        ipam.allocate_network(name, [])
    ipam.release_network("b")
    assert ipam.allocate_network("d", []).subnets[0][0] == "10.0.1.0/24"
    assert ipam.allocate_network("e", []).subnets[0][0] == "10.0.3.0/24"


def test_carving_skips_a_subnet_given_by_hand_inside_the_pool() -> None:
    ipam = Ipam()
    ipam.allocate_network("mine", [("10.0.0.0/23", None, None)])
    assert ipam.allocate_network("next", []).subnets[0][0] == "10.0.2.0/24"


def test_a_subnet_given_keeps_its_gateway_or_gets_the_first_address() -> None:
    ipam = Ipam()
    given = ipam.allocate_network("a", [("10.20.0.0/16", None, "10.20.0.254")])
    assert given.subnets == [("10.20.0.0/16", None, "10.20.0.254")]
    first = ipam.allocate_network("b", [("10.40.0.5/24", None, None)])
    assert first.subnets == [("10.40.0.5/24", None, "10.40.0.1")]  # kept as written, as dockerd


def test_an_ip_range_holds_the_gateway_and_the_addresses() -> None:
    ipam = Ipam()
    allocated = ipam.allocate_network("r", [("10.50.0.0/24", "10.50.0.128/25", None)])
    assert allocated.subnets == [("10.50.0.0/24", "10.50.0.128/25", "10.50.0.128")]
    assert ipam.allocate_address("r") == "10.50.0.129/24"


def test_an_overlapping_subnet_is_refused_and_nothing_is_taken() -> None:
    ipam = Ipam()
    ipam.allocate_network("wide", [("10.20.0.0/16", None, None)])
    with pytest.raises(PoolOverlap, match="Pool overlaps with other one on this address space"):
        ipam.allocate_network("inside", [("10.20.0.0/24", None, None)])
    assert "inside" not in ipam
    assert ipam.allocate_network("other", []).vxlan_ids == [4097]
    assert ipam.overlapping("10.20.5.0/24") == "wide"
    assert ipam.overlapping("10.21.0.0/24") is None


def test_addresses_are_handed_out_serially_and_reused_after_the_last() -> None:
    ipam = Ipam()
    ipam.allocate_network("n", [("10.9.9.0/29", None, None)])  # gateway .1, hosts .2-.6
    assert [ipam.allocate_address("n") for _ in range(3)] == [
        "10.9.9.2/29",
        "10.9.9.3/29",
        "10.9.9.4/29",
    ]
    ipam.release_address("n", "10.9.9.2/29")
    assert ipam.allocate_address("n") == "10.9.9.5/29"  # serial: not the one just released
    assert ipam.allocate_address("n") == "10.9.9.6/29"
    assert ipam.allocate_address("n") == "10.9.9.2/29"  # wrapped around to the released one
    with pytest.raises(AddressesExhausted, match="No available addresses on this pool"):
        ipam.allocate_address("n")


def test_the_network_and_broadcast_addresses_are_never_handed_out() -> None:
    subnet = Subnet("192.168.7.0/30")
    assert str(subnet.gateway) == "192.168.7.1"
    assert subnet.allocate() == "192.168.7.2/30"
    with pytest.raises(AddressesExhausted):
        subnet.allocate()


def test_restored_addresses_are_not_handed_out_again() -> None:
    ipam = Ipam()
    ipam.restore_network("n", [("10.0.5.0/24", None, "10.0.5.1")], [4100])
    assert ipam.reserve_address("n", "10.0.5.2/24")
    assert not ipam.reserve_address("n", "10.0.5.2/24")
    assert not ipam.reserve_address("n", "10.99.0.2/24")  # not the network's
    assert ipam.allocate_address("n") == "10.0.5.3/24"
    assert ipam.allocate_network("m", []).vxlan_ids == [4096]
    assert ipam.allocate_network("o", []).vxlan_ids == [4097]
    assert ipam.allocate_network("p", []).vxlan_ids == [4098]
    assert ipam.allocate_network("q", []).vxlan_ids == [4099]
    assert ipam.allocate_network("r", []).vxlan_ids == [4101]  # 4100 is the restored one's


def test_a_pool_of_its_own_and_a_subnet_size() -> None:
    ipam = Ipam(["192.168.0.0/24"], 26)
    carved = [ipam.allocate_network(str(i), []).subnets[0][0] for i in range(4)]
    assert carved == ["192.168.0.0/26", "192.168.0.64/26", "192.168.0.128/26", "192.168.0.192/26"]
    with pytest.raises(PoolExhausted, match="could not find an available, non-overlapping"):
        ipam.allocate_network("more", [])


def test_pools_that_cannot_be_carved_are_refused() -> None:
    check_pools(["10.0.0.0/8", "172.30.0.0/16"], 24)
    with pytest.raises(IpamError, match="invalid base pool banana: invalid CIDR address: banana"):
        check_pools(["banana"], 24)
    with pytest.raises(IpamError, match="Subnet size is too small for pool: 8"):
        check_pools(["10.0.0.0/16"], 8)
    check_pools(["10.0.0.0/16"], 29)
    with pytest.raises(IpamError, match="subnet size is out of range: 30"):
        check_pools(["10.0.0.0/16"], 30)


def test_ipv6_subnets_hand_out_addresses_too() -> None:
    ipam = Ipam()
    assert ipam.allocate_network("v6", [("fd00::/64", None, None)]).subnets == [
        ("fd00::/64", None, "fd00::1")
    ]
    assert ipam.allocate_address("v6") == "fd00::2/64"
    assert not subnets_overlap("fd00::/64", "10.0.0.0/8")


def test_a_bitmap_finds_the_first_free_ordinal_from_its_cursor() -> None:
    bitmap = Bitmap(8)
    assert [bitmap.take_next(1, 7) for _ in range(6)] == [1, 2, 3, 4, 5, 6]
    assert bitmap.take_next(1, 7) is None
    bitmap.free(3)
    assert 3 not in bitmap
    assert bitmap.take_next(1, 7) == 3
    assert bitmap.first_free(0, 8) == 0
    assert bitmap.first_free(1, 7) is None
