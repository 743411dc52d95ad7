"""Neutron (`/networking`) through the real `openstack` CLI and openstacksdk.

The session server runs with `dataplane = "off"` (conftest), so only the API is
exercised here: networks, subnets, routers, floating IPs, ports and security groups
as the demo user (admin where the brief needs a second project), plus the errors a
real Neutron gives for conflicts, bad ranges and foreign resources.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import openstack
import openstack.exceptions
import pytest

from conftest import PROFILE, OnestackServer, Osc, unique


def connect(env: dict[str, str]):
    return openstack.connect(
        auth_url=env["OS_AUTH_URL"], project_name=env["OS_PROJECT_NAME"],
        username=env["OS_USERNAME"], password=env["OS_PASSWORD"],
        user_domain_name="Default", project_domain_name="Default", region_name="RegionOne",
        load_yaml_config=False, load_envvars=False)


class Cleanup:
    """Deletes what a test made, last first, ignoring what is already gone."""

    def __init__(self):
        self.items: list[tuple[Osc, tuple[str, ...]]] = []

    def add(self, osc: Osc, *args: str) -> None:
        self.items.append((osc, args))

    def run(self) -> None:
        for osc, args in reversed(self.items):
            osc._run(args)


@pytest.fixture
def cleanup():
    c = Cleanup()
    yield c
    c.run()


def by_name(rows: list[dict], name: str) -> dict:
    found = [r for r in rows if r.get("Name") == name or r.get("name") == name]
    assert len(found) == 1, f"expected one row named {name!r}, got {found} in {rows}"
    return found[0]


def fixed_ips(port: dict) -> list[dict]:
    """`fixed_ips` of `port show -f json` (a list of dicts in current OSC)."""
    ips = port["fixed_ips"]
    assert isinstance(ips, list), ips
    return ips


# --------------------------------------------------------------------------- the main flow

def test_network_lifecycle_as_demo(demo, cleanup):
    net, sub, rtr, port, sg = (unique("net1"), unique("s1"), unique("r1"), unique("p1"),
                               unique("sg1"))

    # network
    n = demo.json("network", "create", net)
    cleanup.add(demo, "network", "delete", n["id"])
    assert n["name"] == net
    assert n["status"] == "ACTIVE"
    assert n["admin_state_up"] is True
    assert n["router:external"] is False
    assert n["shared"] is False
    assert n["subnets"] == []

    # subnet (10.0.0.0/24 overlaps the demo `private-subnet`, 10.0.0.0/26: allowed)
    s = demo.json("subnet", "create", "--network", net, "--subnet-range", "10.0.0.0/24", sub)
    cleanup.add(demo, "subnet", "delete", s["id"])
    assert s["cidr"] == "10.0.0.0/24"
    assert s["network_id"] == n["id"]
    assert s["ip_version"] == 4
    assert s["gateway_ip"] == "10.0.0.1"
    assert s["enable_dhcp"] is True
    pools = s["allocation_pools"]
    assert pools == [{"start": "10.0.0.2", "end": "10.0.0.254"}], pools

    # router, interface, gateway
    r = demo.json("router", "create", rtr)
    cleanup.add(demo, "router", "delete", r["id"])
    assert r["name"] == rtr
    assert not r.get("external_gateway_info"), r
    demo.run("router", "add", "subnet", rtr, sub)
    cleanup.add(demo, "router", "remove", "subnet", rtr, sub)
    demo.run("router", "set", "--external-gateway", "public", rtr)
    r = demo.json("router", "show", rtr)
    gw = r["external_gateway_info"]
    assert gw, r
    public_id = demo.json("network", "show", "public")["id"]
    assert gw["network_id"] == public_id
    gw_ip = gw["external_fixed_ips"][0]["ip_address"]
    assert ipaddress.ip_address(gw_ip) in ipaddress.ip_network("172.24.4.0/24"), gw
    iface_ports = demo.json("port", "list", "--router", rtr, "--long")
    iface = [p for p in iface_ports if p["Device Owner"] == "network:router_interface"]
    assert len(iface) == 1, iface_ports
    assert "10.0.0.1" in str(iface[0]["Fixed IP Addresses"]), iface

    # floating IP on public
    f = demo.json("floating", "ip", "create", "public")
    cleanup.add(demo, "floating", "ip", "delete", f["id"])
    fip = f["floating_ip_address"]
    assert ipaddress.ip_address(fip) in ipaddress.ip_network("172.24.4.0/24"), f
    assert f["floating_network_id"] == public_id
    assert f["port_id"] is None
    assert f["fixed_ip_address"] is None
    assert f["status"] == "DOWN"

    # port
    p = demo.json("port", "create", "--network", net, port)
    cleanup.add(demo, "port", "delete", p["id"])
    assert p["network_id"] == n["id"]
    ips = fixed_ips(p)
    assert len(ips) == 1 and ips[0]["subnet_id"] == s["id"], ips
    port_ip = ips[0]["ip_address"]
    assert ipaddress.ip_address(port_ip) in ipaddress.ip_network("10.0.0.0/24")
    assert port_ip not in ("10.0.0.0", "10.0.0.1", "10.0.0.255")
    assert p["mac_address"].lower().startswith("fa:16:3e:"), p["mac_address"]
    assert p["admin_state_up"] is True

    # security group + rule
    g = demo.json("security", "group", "create", sg)
    cleanup.add(demo, "security", "group", "delete", g["id"])
    assert g["name"] == sg
    default_rules = g["rules"]
    assert {r["direction"] for r in default_rules} == {"egress"}, default_rules
    rule = demo.json("security", "group", "rule", "create", "--protocol", "tcp",
                     "--dst-port", "22", sg)
    cleanup.add(demo, "security", "group", "rule", "delete", rule["id"])
    assert rule["protocol"] == "tcp"
    assert rule["port_range_min"] == 22 and rule["port_range_max"] == 22
    assert rule["direction"] == "ingress"
    assert rule.get("ethertype", rule.get("ether_type")) == "IPv4", rule
    assert rule["security_group_id"] == g["id"]
    rules = demo.json("security", "group", "rule", "list", sg)
    assert rule["id"] in [r["ID"] for r in rules], rules

    # listings and show
    rows = demo.json("port", "list", "--long")
    row = [r for r in rows if r["ID"] == p["id"]]
    assert len(row) == 1, rows
    row = row[0]
    assert row["Name"] == port
    assert row["MAC Address"] == p["mac_address"]
    assert port_ip in str(row["Fixed IP Addresses"]), row
    assert "Security Groups" in row and "Device Owner" in row, row
    rows = demo.json("port", "list", "--network", net)
    assert {r["ID"] for r in rows} >= {p["id"]}

    rows = demo.json("floating", "ip", "list")
    frow = [r for r in rows if r["ID"] == f["id"]]
    assert len(frow) == 1, rows
    assert frow[0]["Floating IP Address"] == fip
    assert frow[0]["Port"] is None

    shown = demo.json("network", "show", net)
    assert shown["id"] == n["id"]
    assert shown["subnets"] == [s["id"]], shown
    assert shown["router:external"] is False

    # associate / disassociate the floating IP with the port (no server)
    demo.run("floating", "ip", "set", "--port", p["id"], fip)
    f2 = demo.json("floating", "ip", "show", fip)
    assert f2["port_id"] == p["id"], f2
    assert f2["fixed_ip_address"] == port_ip, f2
    assert f2["router_id"] == r["id"], f2
    rows = demo.json("floating", "ip", "list", "--port", p["id"])
    assert [x["ID"] for x in rows] == [f["id"]], rows
    demo.run("floating", "ip", "unset", "--port", fip)
    f3 = demo.json("floating", "ip", "show", fip)
    assert f3["port_id"] is None, f3
    assert f3["fixed_ip_address"] is None, f3

    # the network cannot go while it has a user port: 409
    p409 = demo.fail("--debug", "network", "delete", net)
    assert "409" in p409.stderr or "Conflict" in p409.stderr or "in use" in p409.stderr, (
        p409.stderr[-3000:])
    assert demo.json("network", "show", net)["id"] == n["id"]

    # deletes, reverse order
    demo.run("security", "group", "rule", "delete", rule["id"])
    demo.run("security", "group", "delete", sg)
    demo.run("port", "delete", port)
    demo.run("floating", "ip", "delete", fip)
    # (clearing the gateway is `test_router_unset_external_gateway`; a router is
    # deleted with its gateway, as in Neutron)
    demo.run("router", "remove", "subnet", rtr, sub)
    demo.run("router", "delete", rtr)
    demo.run("subnet", "delete", sub)
    demo.run("network", "delete", net)

    assert net not in [x["Name"] for x in demo.json("network", "list")]
    assert f["id"] not in [x["ID"] for x in demo.json("floating", "ip", "list")]
    assert p["id"] not in [x["ID"] for x in demo.json("port", "list")]
    assert rtr not in [x["Name"] for x in demo.json("router", "list")]
    assert sg not in [x["Name"] for x in demo.json("security", "group", "list")]
    demo.fail("network", "show", net)
    demo.fail("port", "show", p["id"])


# --------------------------------------------------------------------------- the errors

def test_router_unset_external_gateway(demo, cleanup):
    """`router unset --external-gateway` sends `{"router": {"external_gateway_info": {}}}`,
    which Neutron takes as "remove the gateway"."""
    rtr = unique("gwr")
    r = demo.json("router", "create", rtr)
    cleanup.add(demo, "router", "delete", r["id"])
    demo.run("router", "set", "--external-gateway", "public", rtr)
    assert demo.json("router", "show", rtr)["external_gateway_info"]["network_id"]
    demo.run("router", "unset", "--external-gateway", rtr)
    assert not demo.json("router", "show", rtr).get("external_gateway_info")
    gw_ports = [p for p in demo.json("port", "list", "--router", rtr, "--long")
                if p["Device Owner"] == "network:router_gateway"]
    assert gw_ports == []


def test_external_network_listing(demo):
    rows = demo.json("network", "list", "--external")
    names = [r["Name"] for r in rows]
    assert "public" in names, rows
    assert "private" not in names, rows
    internal = [r["Name"] for r in demo.json("network", "list", "--internal")]
    assert "private" in internal and "public" not in internal, internal


def test_overlapping_subnet_on_same_network_fails(demo, cleanup):
    net = unique("ovl")
    n = demo.json("network", "create", net)
    cleanup.add(demo, "network", "delete", n["id"])
    s = demo.json("subnet", "create", "--network", net, "--subnet-range", "10.9.0.0/24",
                  unique("a"))
    cleanup.add(demo, "subnet", "delete", s["id"])
    p = demo.fail("subnet", "create", "--network", net, "--subnet-range", "10.9.0.128/25",
                  unique("b"))
    assert "overlap" in (p.stderr + p.stdout).lower(), p.stderr
    subnets = demo.json("subnet", "list", "--network", net)
    assert [x["ID"] for x in subnets] == [s["id"]], subnets
    # a disjoint range on the same network is fine
    s2 = demo.json("subnet", "create", "--network", net, "--subnet-range", "10.9.1.0/24",
                   unique("c"))
    cleanup.add(demo, "subnet", "delete", s2["id"])


def test_taken_fixed_ip_fails(demo, cleanup):
    net = unique("taken")
    n = demo.json("network", "create", net)
    cleanup.add(demo, "network", "delete", n["id"])
    s = demo.json("subnet", "create", "--network", net, "--subnet-range", "10.8.0.0/24",
                  unique("s"))
    cleanup.add(demo, "subnet", "delete", s["id"])
    p = demo.json("port", "create", "--network", net, "--fixed-ip",
                  "ip-address=10.8.0.50", unique("p"))
    cleanup.add(demo, "port", "delete", p["id"])
    assert fixed_ips(p)[0]["ip_address"] == "10.8.0.50"
    bad = demo.fail("--debug", "port", "create", "--network", net, "--fixed-ip",
                    "ip-address=10.8.0.50", unique("p"))
    assert "409" in bad.stderr or "IpAddressAlreadyAllocated" in bad.stderr, bad.stderr[-3000:]
    # an address outside the subnet is refused too
    demo.fail("port", "create", "--network", net, "--fixed-ip", "ip-address=10.99.0.5",
              unique("p"))
    ports = demo.json("port", "list", "--network", net, "--long")
    user_ports = [x for x in ports if not str(x["Device Owner"]).startswith("network:")]
    assert [x["ID"] for x in user_ports] == [p["id"]], ports


def test_floating_ip_on_internal_network_fails(demo, cleanup):
    net = unique("internal")
    n = demo.json("network", "create", net)
    cleanup.add(demo, "network", "delete", n["id"])
    s = demo.json("subnet", "create", "--network", net, "--subnet-range", "10.7.0.0/24",
                  unique("s"))
    cleanup.add(demo, "subnet", "delete", s["id"])
    before = {x["ID"] for x in demo.json("floating", "ip", "list")}
    p = demo.fail("--debug", "floating", "ip", "create", net)
    assert "400" in p.stderr or "external" in p.stderr.lower(), p.stderr[-3000:]
    after = {x["ID"] for x in demo.json("floating", "ip", "list")}
    assert after == before


def test_reversed_port_range_fails(demo, cleanup):
    sg = unique("range")
    g = demo.json("security", "group", "create", sg)
    cleanup.add(demo, "security", "group", "delete", g["id"])
    p = demo.fail("--debug", "security", "group", "rule", "create", "--protocol", "tcp",
                  "--dst-port", "90:80", sg)
    assert "400" in p.stderr or "range" in p.stderr.lower(), p.stderr[-3000:]
    rules = demo.json("security", "group", "rule", "list", sg)
    assert all(r["Direction"] == "egress" for r in rules), rules


def test_demo_cannot_see_admins_port(admin, demo, cleanup):
    net = unique("adminnet")
    n = admin.json("network", "create", net)
    cleanup.add(admin, "network", "delete", n["id"])
    p = admin.json("port", "create", "--network", net, unique("adminport"))
    cleanup.add(admin, "port", "delete", p["id"])
    bad = demo.fail("port", "show", p["id"])
    assert "No Port found" in bad.stderr or "404" in bad.stderr or "not" in bad.stderr.lower(), (
        bad.stderr)
    assert p["id"] not in [x["ID"] for x in demo.json("port", "list")]
    demo.fail("port", "delete", p["id"])
    assert admin.json("port", "show", p["id"])["id"] == p["id"]


# --------------------------------------------------------------------------- openstacksdk

def test_sdk_network_subnet_port(demo_env):
    conn = connect(demo_env)
    try:
        net = conn.network.create_network(name=unique("sdknet"))
        try:
            assert net.id and net.status == "ACTIVE"
            assert net.project_id == conn.current_project_id
            sub = conn.network.create_subnet(network_id=net.id, ip_version=4,
                                             cidr="10.6.0.0/24", name=unique("sdksub"))
            assert sub.cidr == "10.6.0.0/24" and sub.gateway_ip == "10.6.0.1"
            p1 = conn.network.create_port(network_id=net.id, name=unique("sdkp"))
            p2 = conn.network.create_port(
                network_id=net.id, fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.6.0.77"}])
            assert p1.fixed_ips[0]["subnet_id"] == sub.id
            assert p2.fixed_ips[0]["ip_address"] == "10.6.0.77"
            assert p1.mac_address != p2.mac_address
            listed = {p.id for p in conn.network.ports(network_id=net.id)
                      if not (p.device_owner or "").startswith("network:")}
            assert listed == {p1.id, p2.id}
            with pytest.raises(openstack.exceptions.ConflictException):
                conn.network.delete_network(net.id)
            conn.network.delete_port(p1)
            conn.network.delete_port(p2)
            listed = [p.id for p in conn.network.ports(network_id=net.id)
                      if not (p.device_owner or "").startswith("network:")]
            assert listed == []
            conn.network.delete_subnet(sub)
            assert conn.network.find_subnet(sub.id) is None
        finally:
            for p in conn.network.ports(network_id=net.id):
                if not (p.device_owner or "").startswith("network:"):
                    conn.network.delete_port(p, ignore_missing=True)
            conn.network.delete_network(net.id, ignore_missing=True)
        assert conn.network.find_network(net.id) is None
        with pytest.raises(openstack.exceptions.NotFoundException):
            conn.network.get_network(net.id)
    finally:
        conn.close()


# --------------------------------------------------------------------------- subnet pools

def test_subnet_pool_allocation_flow(demo, cleanup):
    pool, net = unique("pool"), unique("pooled")
    p = demo.json("subnet", "pool", "create", "--pool-prefix", "10.210.0.0/16",
                  "--default-prefix-length", "24", pool)
    cleanup.add(demo, "subnet", "pool", "delete", p["id"])
    assert p["name"] == pool
    assert p["prefixes"] == ["10.210.0.0/16"], p
    assert int(p["default_prefixlen"]) == 24, p
    assert int(p["ip_version"]) == 4, p

    n = demo.json("network", "create", net)
    cleanup.add(demo, "network", "delete", n["id"])
    s1 = demo.json("subnet", "create", "--subnet-pool", pool, "--network", net, unique("s1"))
    cleanup.add(demo, "subnet", "delete", s1["id"])
    s2 = demo.json("subnet", "create", "--subnet-pool", pool, "--network", net, unique("s2"))
    cleanup.add(demo, "subnet", "delete", s2["id"])
    assert (s1["cidr"], s2["cidr"]) == ("10.210.0.0/24", "10.210.1.0/24"), (s1, s2)
    assert s1["subnetpool_id"] == p["id"] and s2["subnetpool_id"] == p["id"]
    a, b = ipaddress.ip_network(s1["cidr"]), ipaddress.ip_network(s2["cidr"])
    assert not a.overlaps(b)
    assert s1["gateway_ip"] == "10.210.0.1"

    # a prefix length the pool forbids, and a range outside it
    demo.fail("subnet", "create", "--subnet-pool", pool, "--prefix-length", "4",
              "--network", net, unique("bad"), expect="minimum allowed prefix is 8")
    demo.fail("subnet", "create", "--subnet-pool", pool, "--subnet-range", "192.168.5.0/24",
              "--network", net, unique("bad"), expect="Cannot allocate requested subnet")

    shown = demo.json("subnet", "pool", "show", pool)
    assert shown["id"] == p["id"]
    assert int(shown["min_prefixlen"]) == 8 and int(shown["max_prefixlen"]) == 32, shown
    assert shown.get("address_scope_id") in (None, ""), shown

    # growing the pool; the client sends the old prefixes with the new one
    demo.run("subnet", "pool", "set", "--pool-prefix", "10.211.0.0/16", pool)
    shown = demo.json("subnet", "pool", "show", pool)
    assert shown["prefixes"] == ["10.210.0.0/15"], shown
    assert int(shown["revision_number"]) == 2, shown

    listed = demo.json("subnet", "pool", "list")
    assert by_name(listed, pool)["ID"] == p["id"]

    # in use: the pool stays until its subnets are gone
    demo.fail("subnet", "pool", "delete", pool, expect="existing allocations")
    demo.run("subnet", "delete", s1["id"], s2["id"])
    demo.run("subnet", "pool", "delete", pool)
    assert all(x["ID"] != p["id"] for x in demo.json("subnet", "pool", "list"))


def test_devstack_default_subnet_pool(admin, demo, cleanup):
    """What DevStack's create_neutron_initial_network leaves: the admin's shared default
    pool `shared-default-subnetpool-v4` (IPV4_ADDRS_SAFE_TO_USE, /26 blocks) and
    `private-subnet` carved from it; a project allocates from it by name or as the default."""
    pool = admin.json("subnet", "pool", "show", "shared-default-subnetpool-v4")
    assert pool["prefixes"] == ["10.0.0.0/22"], pool
    assert int(pool["default_prefixlen"]) == 26, pool
    assert pool["shared"] is True and pool["is_default"] is True, pool
    admin_project = admin.json("project", "show", "admin")["id"]
    assert pool["project_id"] == admin_project, pool
    names = [p["Name"] for p in admin.json("subnet", "pool", "list")]
    assert "shared-default-subnetpool-v6" not in names, names
    public = admin.json("network", "show", "public")
    assert public["is_default"] is True and public["router:external"] is True, public

    private = demo.json("subnet", "show", "private-subnet")
    assert private["subnetpool_id"] == pool["id"], private
    assert private["cidr"] == "10.0.0.0/26", private
    assert private["gateway_ip"] == "10.0.0.1", private

    net = demo.json("network", "create", unique("pooled"))
    cleanup.add(demo, "network", "delete", net["id"])
    by_name_ = demo.json("subnet", "create", "--subnet-pool", "shared-default-subnetpool-v4",
                         "--network", net["id"], unique("s"))
    cleanup.add(demo, "subnet", "delete", by_name_["id"])
    by_default = demo.json("subnet", "create", "--use-default-subnet-pool", "--ip-version", "4",
                           "--network", net["id"], unique("s"))
    cleanup.add(demo, "subnet", "delete", by_default["id"])
    safe = ipaddress.ip_network("10.0.0.0/22")
    taken = [ipaddress.ip_network(private["cidr"])]
    for s in (by_name_, by_default):
        assert s["subnetpool_id"] == pool["id"], s
        cidr = ipaddress.ip_network(s["cidr"])
        assert cidr.prefixlen == 26 and cidr.subnet_of(safe), s
        assert not any(cidr.overlaps(t) for t in taken), (s, taken)
        taken.append(cidr)
    demo.fail("subnet", "pool", "delete", "shared-default-subnetpool-v4")


def test_devstack_ip_version_4_and_6(tmp_path):
    """A profile with DevStack's IP_VERSION=4+6: first start leaves the IPv6 half of
    create_neutron_initial_network too — the shared default IPv6 pool, `ipv6-public-subnet`
    on public, `ipv6-private-subnet` (SLAAC) from the pool on router1, and router1's
    gateway at IPV6_ROUTER_GW_IP — and a restart makes none of it twice."""
    text = Path(PROFILE).read_text()
    assert 'ip_version = "4"' in text
    text = text.replace('ip_version = "4"', 'ip_version = "4+6"')
    text = text.replace('# ipv6_addrs_safe_to_use = "fd00:1234:5678::/56"',
                        'ipv6_addrs_safe_to_use = "fd00:1234:5678::/56"')
    profile = tmp_path / "profile.toml"
    profile.write_text(text)
    srv = OnestackServer(tmp_path / "state", tmp_path / "onestack.log", profile=str(profile))
    srv.start()
    try:
        admin, demo = Osc(srv.openrc("admin")), Osc(srv.openrc("demo"))
        pool6 = admin.json("subnet", "pool", "show", "shared-default-subnetpool-v6")
        assert pool6["prefixes"] == ["fd00:1234:5678::/56"], pool6
        assert int(pool6["default_prefixlen"]) == 64, pool6
        assert pool6["shared"] is True and pool6["is_default"] is True, pool6

        public6 = admin.json("subnet", "show", "ipv6-public-subnet")
        public = admin.json("network", "show", "public")
        assert public6["network_id"] == public["id"], public6
        assert public6["cidr"] == "2001:db8::/64", public6
        assert public6["gateway_ip"] == "2001:db8::2", public6
        assert public6["enable_dhcp"] is False, public6

        private6 = demo.json("subnet", "show", "ipv6-private-subnet")
        assert private6["subnetpool_id"] == pool6["id"], private6
        cidr = ipaddress.ip_network(private6["cidr"])
        assert cidr.prefixlen == 64, private6
        assert cidr.subnet_of(ipaddress.ip_network("fd00:1234:5678::/56")), private6
        assert private6["ipv6_ra_mode"] == "slaac", private6
        assert private6["ipv6_address_mode"] == "slaac", private6

        router = demo.json("router", "show", "router1")
        fixed = router["external_gateway_info"]["external_fixed_ips"]
        assert {"subnet_id": public6["id"], "ip_address": "2001:db8::1"} in fixed, router
        assert any(ipaddress.ip_address(f["ip_address"]).version == 4 for f in fixed), router
        legs = demo.json("port", "list", "--router", "router1", "--long")
        assert private6["id"] in str(legs), legs

        # `network set --no-default / --default` moves DevStack's default external flag.
        assert admin.json("network", "show", "public")["is_default"] is True
        admin.run("network", "set", "--no-default", "public")
        assert admin.json("network", "show", "public")["is_default"] is False
        admin.run("network", "set", "--default", "public")
        assert admin.json("network", "show", "public")["is_default"] is True

        srv.restart_hard()
        again = [s["Name"] for s in admin.json("subnet", "list")]
        for name in ("ipv6-public-subnet", "ipv6-private-subnet", "public-subnet",
                     "private-subnet"):
            assert again.count(name) == 1, again
        pools = [p["Name"] for p in admin.json("subnet", "pool", "list")]
        assert pools.count("shared-default-subnetpool-v6") == 1, pools
    finally:
        srv.stop()
