"""Nova's catalog resources through the real `openstack` CLI: flavors, key pairs,
limits and quotas, availability zones, hypervisors, compute services, server
groups and usage (the session server runs with the dataplane off)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import Osc, unique


def by_name(rows: list[dict], name: str) -> dict:
    found = [r for r in rows if r.get("Name") == name or r.get("name") == name]
    assert len(found) == 1, f"expected one row named {name!r}, got {found} in {rows}"
    return found[0]


def test_flavor_list_has_devstacks_flavors(demo: Osc):
    rows = demo.json("flavor", "list")
    names = {r["Name"] for r in rows}
    for n in ("m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge", "m1.nano",
              "m1.micro", "cirros256", "ds512M", "ds1G", "ds2G", "ds4G"):
        assert n in names, rows
    tiny = by_name(rows, "m1.tiny")
    assert (tiny["ID"], tiny["RAM"], tiny["Disk"], tiny["VCPUs"]) == ("1", 512, 1, 1)
    assert tiny["Is Public"] is True
    # Lookup by name goes through the 404 on /flavors/m1.tiny, then the list.
    shown = demo.json("flavor", "show", "m1.nano")
    assert shown["id"] == "42" and shown["ram"] == 128


def test_flavor_create_show_set_delete(admin: Osc, demo: Osc):
    name = unique("flv")
    f = admin.json("flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "2",
                   "--private", name)
    try:
        assert f["name"] == name and f["vcpus"] == 2 and f["os-flavor-access:is_public"] is False
        admin.run("flavor", "set", "--property", "hw:cpu_policy=dedicated",
                  "--property", "hw_rng:allowed=True", name)
        shown = admin.json("flavor", "show", name)
        assert shown["properties"] == {"hw:cpu_policy": "dedicated", "hw_rng:allowed": "True"}
        admin.run("flavor", "unset", "--property", "hw_rng:allowed", name)
        assert admin.json("flavor", "show", name)["properties"] == {"hw:cpu_policy": "dedicated"}
        # Private: the demo project does not see it until it is given access.
        demo.fail("flavor", "show", name)
        admin.run("flavor", "set", "--project", "demo", name)
        assert demo.json("flavor", "show", name)["id"] == f["id"]
        demo.fail("flavor", "delete", name)
        admin.fail("flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "2", name,
                   expect="already exists")
    finally:
        admin.run("flavor", "delete", name)
    admin.fail("flavor", "show", name)


def test_keypair_import_list_show_delete(demo: Osc, admin: Osc):
    with tempfile.TemporaryDirectory() as d:
        key = Path(d) / "id"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
        expected = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", f"{key}.pub"],
                                  check=True, capture_output=True, text=True
                                  ).stdout.split()[1].removeprefix("MD5:")
        name = unique("kp")
        k = demo.json("keypair", "create", "--public-key", f"{key}.pub", name)
        try:
            assert k["name"] == name and k["fingerprint"] == expected
            assert by_name(demo.json("keypair", "list"), name)["Fingerprint"] == expected
            shown = demo.json("keypair", "show", name)
            assert shown["fingerprint"] == expected and shown["type"] == "ssh"
            demo.fail("keypair", "create", "--public-key", f"{key}.pub", name,
                      expect="already exists")
            # Key pairs belong to users: admin does not see demo's.
            admin.fail("keypair", "show", name)
            bad = Path(d) / "bad.pub"
            bad.write_text("ssh-rsa this-is-not-a-key\n")
            demo.fail("keypair", "create", "--public-key", str(bad), unique("kp"))
        finally:
            demo.run("keypair", "delete", name)
        demo.fail("keypair", "show", name)


def quota_of(osc: Osc, project: str) -> dict:
    """`quota show` rows (Resource, Limit) as a dict; compute's rows come first."""
    out: dict = {}
    for r in osc.json("quota", "show", project):
        out.setdefault(r["Resource"], r["Limit"])
    return out


def test_limits_and_quotas(admin: Osc, demo: Osc):
    # The SDK renames Nova's maxTotalInstances etc.
    limits = {r["Name"]: r["Value"] for r in demo.json("limits", "show", "--absolute")}
    assert limits["instances"] == 10, limits
    assert limits["instances_used"] == 0, limits
    assert limits["keypairs"] == 100, limits
    assert limits["max_server_group_members"] == 10, limits
    q = quota_of(admin, "demo")
    assert (q["instances"], q["cores"], q["ram"]) == (10, 20, 51200), q
    admin.run("quota", "set", "--instances", "15", "demo")
    try:
        assert quota_of(admin, "demo")["instances"] == 15
        limits = {r["Name"]: r["Value"] for r in demo.json("limits", "show", "--absolute")}
        assert limits["instances"] == 15, limits
        demo.fail("quota", "set", "--instances", "20", "demo")
    finally:
        admin.run("quota", "set", "--instances", "10", "demo")


def test_zones_hypervisors_services(admin: Osc, demo: Osc):
    zones = demo.json("availability", "zone", "list", "--compute")
    assert [z["Zone Name"] for z in zones] == ["nova"]
    assert zones[0]["Zone Status"] == "available"
    hyps = admin.json("hypervisor", "list")
    assert len(hyps) == 1 and hyps[0]["State"] == "up", hyps
    assert hyps[0]["Hypervisor Type"] == "QEMU"
    stats = admin.json("hypervisor", "stats", "show")
    assert stats["count"] == 1 and stats["running_vms"] == 0, stats
    services = admin.json("compute", "service", "list")
    assert {s["Binary"] for s in services} == {"nova-compute", "nova-scheduler", "nova-conductor"}
    assert all(s["State"] == "up" and s["Status"] == "enabled" for s in services)
    demo.fail("hypervisor", "list")
    demo.fail("compute", "service", "list")


def test_compute_service_disable_and_force_down(admin: Osc, demo: Osc):
    host = admin.json("compute", "service", "list", "--service", "nova-compute")[0]["Host"]
    admin.run("compute", "service", "set", "--disable", "--disable-reason", "maintenance",
              host, "nova-compute")
    try:
        row = admin.json("compute", "service", "list", "--long", "--service", "nova-compute")[0]
        assert row["Status"] == "disabled" and row["Disabled Reason"] == "maintenance", row
        hyp = admin.json("hypervisor", "list")[0]
        zones = demo.json("availability", "zone", "list", "--compute")
        assert zones[0]["Zone Status"] == "not available", zones
        admin.run("compute", "service", "set", "--down", host, "nova-compute")
        row = admin.json("compute", "service", "list", "--service", "nova-compute")[0]
        assert row["State"] == "down", row
        assert hyp["State"] == "up", hyp
    finally:
        admin.run("compute", "service", "set", "--enable", "--up", host, "nova-compute")
    row = admin.json("compute", "service", "list", "--long", "--service", "nova-compute")[0]
    assert (row["Status"], row["State"], row["Disabled Reason"]) == ("enabled", "up", None), row
    demo.fail("compute", "service", "set", "--disable", host, "nova-compute")


def test_server_groups(demo: Osc):
    name = unique("sg")
    g = demo.json("server", "group", "create", "--policy", "anti-affinity", name)
    try:
        assert g["name"] == name
        policy = g.get("policy") or g.get("policies")
        assert "anti-affinity" in str(policy), g
        assert name in {r["Name"] for r in demo.json("server", "group", "list")}
        demo.fail("server", "group", "create", "--policy", "not-a-policy", unique("sg"))
    finally:
        demo.run("server", "group", "delete", name)
    assert name not in {r["Name"] for r in demo.json("server", "group", "list")}


def test_usage_list(admin: Osc, demo: Osc):
    rows = admin.json("usage", "list", "--start", "2020-01-01", "--end", "2030-01-01")
    assert rows == [], rows
    demo.fail("usage", "list")
