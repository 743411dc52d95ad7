"""Placement (`/placement`) through the real `openstack` CLI with osc-placement.

osc-placement negotiates its microversion (it asks for 1.29, gets a 406 naming
onestack's max and retries with it), so these commands also prove the version
discovery and the 406 fallback. The session server registered this host as the
compute node's resource provider at start.
"""

from __future__ import annotations

import socket
import uuid

import pytest

from conftest import unique


def hostname() -> str:
    with open("/proc/sys/kernel/hostname") as f:
        return f.read().strip() or socket.gethostname()


def compute_node(admin) -> dict:
    rows = admin.json("resource", "provider", "list")
    nodes = [r for r in rows if r["name"] == hostname()]
    assert len(nodes) == 1, f"no provider named {hostname()!r} in {rows}"
    return nodes[0]


def test_resource_provider_list_shows_the_compute_node(admin):
    node = compute_node(admin)
    uuid.UUID(node["uuid"])
    assert node["generation"] >= 1
    # 1.14+ columns: the node is a root provider.
    assert node["root_provider_uuid"] == node["uuid"]
    assert node["parent_provider_uuid"] is None


def test_inventory_list_reports_the_host(admin):
    node = compute_node(admin)
    rows = {r["resource_class"]: r for r in
            admin.json("resource", "provider", "inventory", "list", node["uuid"])}
    assert {"VCPU", "MEMORY_MB"} <= set(rows), rows
    assert float(rows["VCPU"]["allocation_ratio"]) == 16.0
    assert float(rows["MEMORY_MB"]["allocation_ratio"]) == 1.5
    assert rows["VCPU"]["total"] >= 1
    assert rows["VCPU"]["max_unit"] == rows["VCPU"]["total"]
    assert rows["MEMORY_MB"]["reserved"] <= 512


def test_resource_class_list_and_custom_class(admin):
    names = {r["name"] for r in admin.json("resource", "class", "list")}
    assert {"VCPU", "MEMORY_MB", "DISK_GB", "PCI_DEVICE", "SRIOV_NET_VF"} <= names
    custom = "CUSTOM_" + uuid.uuid4().hex[:8].upper()
    admin.run("resource", "class", "create", custom)
    assert custom in {r["name"] for r in admin.json("resource", "class", "list")}
    admin.fail("resource", "class", "create", "NOT_CUSTOM")
    admin.run("resource", "class", "delete", custom)


def test_trait_list_and_custom_trait(admin):
    names = {r["name"] for r in admin.json("trait", "list")}
    assert "COMPUTE_NODE" in names and "HW_CPU_X86_SSE2" in names
    custom = "CUSTOM_" + uuid.uuid4().hex[:8].upper()
    admin.run("trait", "create", custom)
    assert custom in {r["name"] for r in admin.json("trait", "list")}
    node = compute_node(admin)
    node_traits = {r["name"] for r in
                   admin.json("resource", "provider", "trait", "list", node["uuid"])}
    assert "COMPUTE_NODE" in node_traits
    admin.run("trait", "delete", custom)


def test_allocation_candidate_list(admin):
    rows = admin.json("allocation", "candidate", "list", "--resource", "VCPU=1")
    node = compute_node(admin)
    mine = [r for r in rows if r["resource provider"] == node["uuid"]]
    assert mine, rows
    assert mine[0]["allocation"] == "VCPU=1"
    assert "VCPU=" in mine[0]["inventory used/capacity"]


def test_provider_lifecycle_with_inventory_and_allocation(admin, cleanup_providers):
    name = unique("rp")
    rp = admin.json("resource", "provider", "create", name)
    cleanup_providers.append(rp["uuid"])
    admin.json("resource", "provider", "inventory", "set", rp["uuid"],
               "--resource", "VCPU=2", "--resource", "MEMORY_MB=1024")
    inv = {r["resource_class"]: r for r in
           admin.json("resource", "provider", "inventory", "list", rp["uuid"])}
    assert inv["VCPU"]["total"] == 2 and inv["MEMORY_MB"]["total"] == 1024
    consumer = str(uuid.uuid4())
    admin.json("resource", "provider", "allocation", "set", consumer,
               "--allocation", f"rp={rp['uuid']},VCPU=2",
               "--project-id", str(uuid.uuid4()), "--user-id", str(uuid.uuid4()))
    usage = {r["resource_class"]: r["usage"] for r in
             admin.json("resource", "provider", "usage", "show", rp["uuid"])}
    assert usage["VCPU"] == 2
    # The provider is full for VCPU now: asking for more is refused with Placement's message.
    admin.fail("resource", "provider", "allocation", "set", str(uuid.uuid4()),
               "--allocation", f"rp={rp['uuid']},VCPU=1",
               "--project-id", str(uuid.uuid4()), "--user-id", str(uuid.uuid4()),
               expect="exceed the capacity")
    admin.fail("resource", "provider", "delete", rp["uuid"], expect="has allocations")
    admin.run("resource", "provider", "allocation", "delete", consumer)
    admin.run("resource", "provider", "delete", rp["uuid"])
    cleanup_providers.remove(rp["uuid"])


def test_member_is_refused(demo):
    demo.fail("resource", "provider", "list", expect="Policy does not allow")


@pytest.fixture
def cleanup_providers(admin):
    made: list[str] = []
    yield made
    for u in made:
        admin._run(("resource", "provider", "delete", u))
