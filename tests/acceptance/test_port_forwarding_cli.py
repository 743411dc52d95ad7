"""Floating IP port forwardings through the real `openstack` CLI and openstacksdk.

The session server runs with `dataplane = "off"` (conftest): the API as a user of
DevStack sees it. The flow is the one from the client docs: a network behind a
router with a gateway on `public`, a port, a free floating IP, then
`floating ip port forwarding create/list/show/set/delete`, and the errors Neutron
gives for a colliding external port and a port no router reaches.
"""

from __future__ import annotations

import openstack
import pytest

from conftest import Osc, unique


def connect(env: dict[str, str]):
    return openstack.connect(
        auth_url=env["OS_AUTH_URL"], project_name=env["OS_PROJECT_NAME"],
        username=env["OS_USERNAME"], password=env["OS_PASSWORD"],
        user_domain_name="Default", project_domain_name="Default", region_name="RegionOne",
        load_yaml_config=False, load_envvars=False)


@pytest.fixture
def topo(demo: Osc):
    """Network, subnet, router (gateway on public), a port and a free floating IP."""
    undo: list[tuple[str, ...]] = []
    net, sub, rtr, port = unique("pf-net"), unique("pf-sub"), unique("pf-r"), unique("pf-p")
    n = demo.json("network", "create", net)
    undo.append(("network", "delete", n["id"]))
    demo.json("subnet", "create", "--network", net, "--subnet-range", "10.77.0.0/24", sub)
    r = demo.json("router", "create", rtr)
    undo.append(("router", "delete", r["id"]))
    demo.run("router", "add", "subnet", rtr, sub)
    undo.append(("router", "remove", "subnet", rtr, sub))
    demo.run("router", "set", "--external-gateway", "public", rtr)
    p = demo.json("port", "create", "--network", net, port)
    undo.append(("port", "delete", p["id"]))
    f = demo.json("floating", "ip", "create", "public")
    undo.append(("floating", "ip", "delete", f["id"]))
    yield {"router": r, "port": p, "fip": f, "net": net}
    for args in reversed(undo):
        demo._run(args)


def test_port_forwarding_cli_flow(demo, topo):
    port, fip = topo["port"], topo["fip"]
    ip = port["fixed_ips"][0]["ip_address"]
    address = fip["floating_ip_address"]

    pf = demo.json("floating", "ip", "port", "forwarding", "create",
                   "--internal-ip-address", ip, "--port", port["id"],
                   "--internal-protocol-port", "22", "--external-protocol-port", "2222",
                   "--protocol", "tcp", "--description", "ssh", address)
    assert pf["internal_ip_address"] == ip
    assert pf["internal_port_id"] == port["id"]
    assert pf["internal_port"] == 22
    assert pf["external_port"] == 2222
    assert pf["protocol"] == "tcp"
    assert pf["description"] == "ssh"

    # The floating IP is now bound to the router of the port's subnet.
    f = demo.json("floating", "ip", "show", address)
    assert f["router_id"] == topo["router"]["id"], f
    assert f["port_id"] is None

    rows = demo.json("floating", "ip", "port", "forwarding", "list", address)
    assert [r["ID"] for r in rows] == [pf["id"]], rows
    assert rows[0]["External Port"] == 2222
    assert rows[0]["Internal IP Address"] == ip
    rows = demo.json("floating", "ip", "port", "forwarding", "list",
                     "--protocol", "udp", address)
    assert rows == []

    shown = demo.json("floating", "ip", "port", "forwarding", "show", address, pf["id"])
    assert shown["id"] == pf["id"]
    assert shown["external_port"] == 2222
    assert shown["internal_port"] == 22

    demo.run("floating", "ip", "port", "forwarding", "set", "--external-protocol-port",
             "2200", "--description", "moved", address, pf["id"])
    shown = demo.json("floating", "ip", "port", "forwarding", "show", address, pf["id"])
    assert shown["external_port"] == 2200
    assert shown["description"] == "moved"

    # A second rule on the same external port and protocol is refused (400, as in
    # Neutron), and so is a floating IP association while forwardings exist.
    demo.fail("floating", "ip", "port", "forwarding", "create",
              "--internal-ip-address", ip, "--port", port["id"],
              "--internal-protocol-port", "23", "--external-protocol-port", "2200",
              "--protocol", "tcp", address, expect="collision")
    demo.fail("floating", "ip", "set", "--port", port["id"], address,
              expect="in use by Port Forwarding")

    # openstacksdk sees the same rule.
    conn = connect(demo.env)
    rules = list(conn.network.port_forwardings(fip["id"]))
    assert [r.id for r in rules] == [pf["id"]]
    assert rules[0].external_port == 2200

    demo.run("floating", "ip", "port", "forwarding", "delete", address, pf["id"])
    assert demo.json("floating", "ip", "port", "forwarding", "list", address) == []
    demo.fail("floating", "ip", "port", "forwarding", "show", address, pf["id"])
    f = demo.json("floating", "ip", "show", address)
    assert f["router_id"] is None, f


def test_port_forwarding_to_an_unreachable_port_fails(demo, topo):
    lonely_net = unique("pf-lonely")
    n = demo.json("network", "create", lonely_net)
    try:
        demo.json("subnet", "create", "--network", lonely_net, "--subnet-range",
                  "10.78.0.0/24", unique("pf-ls"))
        p = demo.json("port", "create", "--network", lonely_net, unique("pf-lp"))
        demo.fail("floating", "ip", "port", "forwarding", "create",
                  "--internal-ip-address", p["fixed_ips"][0]["ip_address"], "--port", p["id"],
                  "--internal-protocol-port", "22", "--external-protocol-port", "2222",
                  "--protocol", "tcp", topo["fip"]["floating_ip_address"],
                  expect="is not reachable from subnet")
        demo.run("port", "delete", p["id"])
    finally:
        demo._run(("network", "delete", n["id"]))
