"""Block storage (`/volume/v3/{project_id}`) through the real `openstack` CLI: the
services listing, volumes on the file backend (create, list, show, set --size,
properties, delete), volume types with properties, quotas and limits, zones, the
errors a user gets, and a volume that survives kill -9 of onestack.
"""

from __future__ import annotations

import time

from conftest import OnestackServer, Osc, unique


def wait_status(osc: Osc, name: str, want: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        v = osc.json("volume", "show", name)
        if v["status"] == want:
            return v
        assert time.monotonic() < deadline, f"{name} stuck in {v['status']}"
        time.sleep(0.3)


def test_volume_service_list_shows_scheduler_and_volume_up(admin):
    rows = admin.json("volume", "service", "list")
    binaries = {r["Binary"]: r for r in rows}
    assert set(binaries) == {"cinder-scheduler", "cinder-volume"}, rows
    assert all(r["State"] == "up" and r["Status"] == "enabled" for r in rows)
    assert binaries["cinder-volume"]["Host"].endswith("@lvmdriver-1")


def test_volume_create_list_show_extend_delete(demo):
    name = unique("vol")
    v = demo.json("volume", "create", "--size", "1", "--property", "lab=1", name)
    assert v["size"] == 1 and v["type"] == "lvmdriver-1"
    v = wait_status(demo, name, "available")
    assert v["properties"] == {"lab": "1"}
    assert name in {r["Name"] for r in demo.json("volume", "list")}
    demo.run("volume", "set", "--size", "2", "--description", "grown", name)
    v = wait_status(demo, name, "available")
    assert v["size"] == 2 and v["description"] == "grown"
    demo.run("volume", "set", "--bootable", name)
    assert demo.json("volume", "show", name)["bootable"] is True
    demo.run("volume", "delete", name)
    deadline = time.monotonic() + 30
    while name in {r["Name"] for r in demo.json("volume", "list")}:
        assert time.monotonic() < deadline, "volume not deleted"
        time.sleep(0.3)


def test_bad_input_and_other_projects(admin, demo):
    demo.fail("volume", "create", "--size", "0", unique("bad"), expect="minimum of 1")
    demo.fail("volume", "create", "--size", "1", "--type", "no-such-type", unique("bad"),
              expect="could not be found")
    name = unique("admins")
    admin.run("volume", "create", "--size", "1", name)
    wait_status(admin, name, "available")
    # Another project's volume is not found by name or id.
    vid = admin.json("volume", "show", name)["id"]
    demo.fail("volume", "show", vid, expect="No Volume found")
    admin.run("volume", "delete", name)


def test_volume_type_with_properties_and_access(admin, demo):
    name = unique("gold")
    t = admin.json("volume", "type", "create", "--property", "tier=gold", "--private",
                   "--description", "fast", name)
    assert t["is_public"] is False and t["properties"] == {"tier": "gold"}
    assert name not in {r["Name"] for r in demo.json("volume", "type", "list")}
    demo_project = admin.json("project", "show", "demo")["id"]
    admin.run("volume", "type", "set", "--project", demo_project, name)
    assert name in {r["Name"] for r in demo.json("volume", "type", "list")}
    vol = unique("typed")
    v = demo.json("volume", "create", "--size", "1", "--type", name, vol)
    assert v["type"] == name
    wait_status(demo, vol, "available")
    admin.fail("volume", "type", "delete", name, expect="in use")
    demo.run("volume", "delete", vol)
    names = {r["Name"] for r in admin.json("volume", "type", "list", "--long")}
    assert {"lvmdriver-1", "__DEFAULT__"} <= names


def test_quota_set_volumes_and_limits(fresh_server: OnestackServer):
    admin = Osc(fresh_server.openrc("admin"))
    demo = Osc(fresh_server.openrc("demo"))
    admin.run("quota", "set", "--volumes", "1", "--gigabytes", "3", "demo")
    q = admin.json("quota", "show", "demo")
    rows = {r["Resource"]: r["Limit"] for r in q} if isinstance(q, list) else q
    assert rows["volumes"] == 1 and rows["gigabytes"] == 3, rows
    demo.fail("volume", "create", "--size", "4", unique("big"), expect="gigabytes")
    demo.run("volume", "create", "--size", "1", "one")
    demo.fail("volume", "create", "--size", "1", "two", expect="Maximum number of volumes")
    limits = {r["Name"]: r["Value"] for r in demo.json("limits", "show", "--absolute")}
    # OSC shows Cinder's maxTotalVolumes/totalVolumesUsed in snake case.
    assert limits["max_total_volumes"] == 1 and limits["total_volumes_used"] == 1, limits
    zones = demo.json("availability", "zone", "list", "--volume")
    assert [z["Zone Name"] for z in zones] == ["nova"]


def test_volume_survives_kill9(fresh_server: OnestackServer):
    demo = Osc(fresh_server.openrc("demo"))
    demo.run("volume", "create", "--size", "1", "--property", "k=v", "kept")
    wait_status(demo, "kept", "available")
    fresh_server.restart_hard()
    demo = Osc(fresh_server.openrc("demo"))
    v = demo.json("volume", "show", "kept")
    assert v["status"] == "available" and v["properties"] == {"k": "v"}
    demo.run("volume", "delete", "kept")


def test_snapshot_and_volume_from_snapshot_and_volume(demo):
    src = unique("src")
    demo.run("volume", "create", "--size", "1", src)
    wait_status(demo, src, "available")
    snap = unique("snap")
    demo.run("volume", "snapshot", "create", "--volume", src, snap)
    deadline = time.monotonic() + 30
    while demo.json("volume", "snapshot", "show", snap)["status"] != "available":
        assert time.monotonic() < deadline, "snapshot not available"
        time.sleep(0.3)
    assert snap in {r["Name"] for r in demo.json("volume", "snapshot", "list")}
    from_snap = unique("fromsnap")
    v = demo.json("volume", "create", "--snapshot", snap, "--size", "2", from_snap)
    assert v["snapshot_id"] == demo.json("volume", "snapshot", "show", snap)["id"]
    assert wait_status(demo, from_snap, "available")["size"] == 2
    clone = unique("clone")
    demo.run("volume", "create", "--source", src, clone)
    assert wait_status(demo, clone, "available")["size"] == 1
    demo.fail("volume", "delete", src, expect="dependent snapshots")
    demo.run("volume", "delete", "--purge", src)
    demo.run("volume", "delete", from_snap, clone)


def test_volume_create_from_image(demo, tmp_path):
    data = tmp_path / "disk.raw"
    data.write_bytes(b"\0" * 4096 + b"onestack" + b"\0" * (1 << 20))
    image = unique("img")
    demo.run("image", "create", "--disk-format", "raw", "--container-format", "bare",
             "--file", str(data), image)
    name = unique("fromimg")
    demo.run("volume", "create", "--image", image, "--size", "1", name)
    v = wait_status(demo, name, "available")
    assert v["bootable"] is True
    assert v["volume_image_metadata"]["image_name"] == image
    demo.run("volume", "delete", name)
    demo.run("image", "delete", image)


def wait_for(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def backup_status(osc: Osc, name: str) -> str:
    return osc.json("volume", "backup", "show", name)["status"]


def test_backup_restore_and_upload_keep_the_data(demo, tmp_path):
    """A volume made from an image is backed up (whole, then incrementally), the
    increment is restored into a new volume, and that volume is uploaded to Glance:
    the image's bytes come back unchanged."""
    marker = b"onestack-backup-marker"
    data = tmp_path / "disk.raw"
    data.write_bytes(b"\0" * 8192 + marker + b"\0" * (1 << 20))
    image = unique("bimg")
    demo.run("image", "create", "--disk-format", "raw", "--container-format", "bare",
             "--file", str(data), image)
    src = unique("bsrc")
    demo.run("volume", "create", "--image", image, "--size", "1", "--property", "k=v", src)
    wait_status(demo, src, "available")
    backup = unique("bak")
    b = demo.json("volume", "backup", "create", "--name", backup, src)
    assert b["name"] == backup
    wait_for(lambda: backup_status(demo, backup) == "available", "backup")
    assert wait_status(demo, src, "available")["status"] == "available"
    # An incremental backup records its parent.
    inc = unique("inc")
    demo.run("volume", "backup", "create", "--incremental", "--name", inc, src)
    wait_for(lambda: backup_status(demo, inc) == "available", "incremental backup")
    assert demo.json("volume", "backup", "show", inc)["is_incremental"] is True
    assert demo.json("volume", "backup", "show", backup)["has_dependent_backups"] is True
    demo.fail("volume", "backup", "delete", backup, expect="Incremental backups exist")
    restored = unique("restored")
    demo.run("volume", "create", "--size", "1", restored)
    wait_status(demo, restored, "available")
    # The increment holds no chunk (nothing changed): restoring it reads its chain.
    demo.run("volume", "backup", "restore", "--force", inc, restored)
    v = wait_status(demo, restored, "available", timeout=60)
    assert v["bootable"] is True and v["properties"].get("k") == "v", v
    uploaded = unique("uploaded")
    demo.run("image", "create", "--volume", restored, "--disk-format", "raw", uploaded)
    wait_for(lambda: demo.json("image", "show", uploaded)["status"] == "active",
             "uploaded image")
    wait_status(demo, restored, "available")
    out = tmp_path / "out.raw"
    demo.run("image", "save", "--file", str(out), uploaded)
    got = out.read_bytes()
    assert got[8192:8192 + len(marker)] == marker
    assert len(got) == 1 << 30
    for name in (inc, backup):
        demo.run("volume", "backup", "delete", name)
        wait_for(lambda: name not in {r["Name"] for r in
                                      demo.json("volume", "backup", "list")},
                 "backup deletion")
    demo.run("image", "delete", uploaded, image)
    demo.run("volume", "delete", src, restored)


def test_backup_survives_kill9(fresh_server: OnestackServer):
    demo = Osc(fresh_server.openrc("demo"))
    demo.run("volume", "create", "--size", "1", "vol")
    wait_status(demo, "vol", "available")
    demo.run("volume", "backup", "create", "--name", "bak", "vol")
    wait_for(lambda: backup_status(demo, "bak") == "available", "backup")
    fresh_server.restart_hard()
    demo = Osc(fresh_server.openrc("demo"))
    assert backup_status(demo, "bak") == "available"
    # A volume name that does not exist names the new volume the backup makes.
    restore = demo.json("volume", "backup", "restore", "bak", "back")
    assert restore["volume_name"] == "back"
    wait_status(demo, "back", "available")


def test_volume_transfer_to_another_project(admin, demo):
    name = unique("gift")
    demo.run("volume", "create", "--size", "1", name)
    vid = wait_status(demo, name, "available")["id"]
    t = demo.json("volume", "transfer", "request", "create", "--name", "to-admin", name)
    assert t["auth_key"] and t["volume_id"] == vid
    assert wait_status(demo, name, "awaiting-transfer")["status"] == "awaiting-transfer"
    demo.fail("volume", "delete", name, expect="awaiting a transfer")
    admin.fail("volume", "transfer", "request", "accept", "--auth-key", "wrong", t["id"],
               expect="invalid auth key")
    admin.run("volume", "transfer", "request", "accept", "--auth-key", t["auth_key"], t["id"])
    v = admin.json("volume", "show", vid)
    assert v["status"] == "available"
    assert v["os-vol-tenant-attr:tenant_id"] == admin.json("project", "show", "admin")["id"]
    demo.fail("volume", "show", vid, expect="No Volume found")
    # A withdrawn offer gives the volume back to its owner.
    t2 = admin.json("volume", "transfer", "request", "create", vid)
    admin.run("volume", "transfer", "request", "delete", t2["id"])
    assert admin.json("volume", "show", vid)["status"] == "available"
    admin.run("volume", "delete", vid)


def test_qos_specs_and_retype(admin):
    qos = unique("qos")
    q = admin.json("volume", "qos", "create", "--consumer", "front-end",
                   "--property", "read_iops_sec=2000", qos)
    assert q["consumer"] == "front-end" and q["properties"] == {"read_iops_sec": "2000"}
    silver = unique("silver")
    admin.run("volume", "type", "create", silver)
    admin.run("volume", "qos", "associate", qos, silver)
    assert silver in str(admin.json("volume", "qos", "show", qos)["associations"])
    admin.fail("volume", "qos", "delete", qos, expect="still associated")
    vol = unique("retyped")
    admin.run("volume", "create", "--size", "1", vol)
    wait_status(admin, vol, "available")
    admin.run("volume", "set", "--type", silver, "--retype-policy", "never", vol)
    assert admin.json("volume", "show", vol)["type"] == silver
    # A type asking for another backend cannot be served here.
    elsewhere = unique("elsewhere")
    admin.run("volume", "type", "create", "--property", "volume_backend_name=ceph", elsewhere)
    admin.fail("volume", "set", "--type", elsewhere, "--retype-policy", "never", vol,
               expect="one backend")
    admin.run("volume", "delete", vol)
    wait_for(lambda: vol not in {r["Name"] for r in admin.json("volume", "list")}, "delete")
    admin.run("volume", "qos", "delete", "--force", qos)
    admin.run("volume", "type", "delete", silver, elsewhere)
