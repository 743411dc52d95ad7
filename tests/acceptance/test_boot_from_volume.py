"""Boot from volume and the extend of an attached volume, through the real `openstack` CLI
with real QEMU guests (TCG here).

`server create --boot-from-volume 1` makes a 1 GiB volume from the image, boots the guest
from that volume's file and shows the volume attached as `/dev/vda`; a guest booted from
a volume the user made (`--block-device ...,delete_on_termination=true`) takes it with
it when deleted. `volume set --size` on an attached volume (3.42+) grows the file and
the running guest sees the bigger disk: its user_data prints `/sys/block/vdb/size` on
the console whenever it changes. A kill -9 right after the create leaves the server
ACTIVE or ERROR after the restart, and no volume behind.

The module runs its own onestack (the compute module's fixture: dataplane off, QEMU,
the test guest image registered as `cirros`); guests are killed by PID at the end.
"""

from __future__ import annotations

import time

import pytest

from conftest import Osc, unique
from test_compute_cli import MARKER, admin, demo, nova, wait_console, wait_status  # noqa: F401

VOLUME_TIMEOUT = 120

# Prints the size of vdb (in 512-byte sectors) on the console whenever it changes.
WATCH_VDB = """#!/bin/sh
( last=""
  while :; do
    s="$(cat /sys/block/vdb/size 2>/dev/null)"
    if [ -n "$s" ] && [ "$s" != "$last" ]; then echo "vdb-sectors=$s" >/dev/ttyS0; last="$s"; fi
    sleep 1
  done ) </dev/null >/dev/null 2>&1 &
"""


def wait_volume(osc: Osc, vol: str, status: str, timeout: float = VOLUME_TIMEOUT) -> dict:
    deadline = time.monotonic() + timeout
    v = {}
    while time.monotonic() < deadline:
        v = osc.json("volume", "show", vol)
        if v["status"] == status:
            return v
        assert not v["status"].startswith("error"), f"volume went to {v['status']}: {v}"
        time.sleep(1)
    pytest.fail(f"volume {vol} not {status} after {timeout}s: {v}")


def wait_gone(osc: Osc, vol: str, timeout: float = VOLUME_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if vol not in [v["ID"] for v in osc.json("volume", "list")]:
            return
        time.sleep(1)
    pytest.fail(f"volume {vol} still listed after {timeout}s")


def attached_volumes(server: dict) -> list[str]:
    """The volume ids `server show -f json` lists (shape varies by client version)."""
    raw = server.get("volumes_attached") or server.get("os-extended-volumes:volumes_attached")
    if isinstance(raw, str):
        return [part.split("'")[1] for part in raw.split("id=")[1:]] if "id=" in raw else []
    return [v["id"] for v in raw or []]


def test_boot_from_volume_cli_and_extend_attached(nova, demo, tmp_path):
    name = unique("bfv")
    user_data = tmp_path / "watch.sh"
    user_data.write_text(WATCH_VDB)
    t0 = time.monotonic()
    s = demo.json("server", "create", "--image", "cirros", "--boot-from-volume", "1",
                  "--flavor", "m1.nano", "--network", "private", "--config-drive", "true",
                  "--user-data", str(user_data), "--wait", name)
    t_active = time.monotonic() - t0
    assert s["status"] == "ACTIVE", s
    wait_console(demo, s["id"], f"{MARKER}{name}")
    print(f"boot from volume: ACTIVE {t_active:.1f}s, console ready "
          f"{time.monotonic() - t0:.1f}s")

    # Nova's view: no image, the volume attached; Cinder's: in-use on /dev/vda.
    shown = demo.json("server", "show", s["id"])
    assert not shown["image"] or "booted from volume" in str(shown["image"]), shown["image"]
    vols = attached_volumes(shown)
    assert len(vols) == 1, shown
    root = demo.json("volume", "show", vols[0])
    assert root["status"] == "in-use", root
    assert root["bootable"] in (True, "true"), root
    assert root["size"] == 1, root
    att = root["attachments"][0]
    assert att["server_id"] == s["id"] and att["device"] == "/dev/vda", root
    demo.fail("server", "remove", "volume", s["id"], root["id"], expect="root device")

    # Extend of an attached volume: the guest sees the bigger disk.
    data = unique("data")
    demo.json("volume", "create", "--size", "1", data)
    wait_volume(demo, data, "available")
    demo.run("server", "add", "volume", s["id"], data)
    wait_volume(demo, data, "in-use")
    wait_console(demo, s["id"], "vdb-sectors=2097152")
    demo.fail("--os-volume-api-version", "3.41", "volume", "set", "--size", "2", data,
              expect="in-use")
    t1 = time.monotonic()
    demo.run("--os-volume-api-version", "3.42", "volume", "set", "--size", "2", data)
    out = wait_console(demo, s["id"], "vdb-sectors=4194304", timeout=60)
    print(f"attached extend 1 -> 2 GiB visible in the guest after {time.monotonic() - t1:.1f}s")
    assert "vdb-sectors=2097152" in out
    v = wait_volume(demo, data, "in-use")
    assert v["size"] == 2, v
    # The grown disk detaches and attaches again like any other.
    demo.run("server", "remove", "volume", s["id"], data)
    wait_volume(demo, data, "available")
    demo.run("server", "add", "volume", s["id"], data)
    wait_volume(demo, data, "in-use")

    # The CLI's --boot-from-volume keeps the volume (delete_on_termination false);
    # the deleted server releases both volumes.
    demo.run("server", "delete", "--wait", s["id"])
    for vol in (root["id"], v["id"]):
        wait_volume(demo, vol, "available")
        demo.run("volume", "delete", vol)
        wait_gone(demo, vol)


def test_boot_from_existing_volume_deleted_with_server(nova, demo):
    vol = unique("boot")
    v = demo.json("volume", "create", "--size", "1", "--image", "cirros", "--bootable", vol)
    wait_volume(demo, v["id"], "available")
    name = unique("bfv")
    s = demo.json("server", "create", "--flavor", "m1.nano", "--network", "private",
                  "--config-drive", "true", "--block-device",
                  f"uuid={v['id']},source_type=volume,destination_type=volume,boot_index=0,"
                  "delete_on_termination=true", "--wait", name)
    assert s["status"] == "ACTIVE", s
    wait_console(demo, s["id"], f"{MARKER}{name}")
    assert attached_volumes(demo.json("server", "show", s["id"])) == [v["id"]]

    # A volume that does not say it is bootable is refused as a root disk (Nova's 400).
    blank = demo.json("volume", "create", "--size", "1", unique("blank"))
    wait_volume(demo, blank["id"], "available")
    demo.fail("server", "create", "--flavor", "m1.nano", "--network", "private",
              "--block-device", f"uuid={blank['id']},source_type=volume,"
              "destination_type=volume,boot_index=0", unique("bfv"), expect="not bootable")
    demo.run("volume", "delete", blank["id"])

    # A volume that is not available cannot be booted again (Nova's 400).
    demo.fail("server", "create", "--flavor", "m1.nano", "--network", "private",
              "--block-device", f"uuid={v['id']},source_type=volume,destination_type=volume,"
              "boot_index=0", unique("bfv"), expect="available")
    demo.run("server", "delete", "--wait", s["id"])
    wait_gone(demo, v["id"])


def test_kill9_during_boot_from_volume_leaves_no_orphan(nova, demo):
    name = unique("bfv")
    before = {v["ID"] for v in demo.json("volume", "list")}
    s = demo.json("server", "create", "--flavor", "m1.nano",
                  "--network", "private", "--block-device",
                  "uuid=" + demo.json("image", "show", "cirros")["id"]
                  + ",source_type=image,destination_type=volume,boot_index=0,volume_size=1,"
                  "delete_on_termination=true", name)
    nova.restart_hard()
    deadline = time.monotonic() + 180
    shown = {}
    while time.monotonic() < deadline:
        shown = demo.json("server", "show", s["id"])
        if shown["status"] in ("ACTIVE", "ERROR") and not shown.get("OS-EXT-STS:task_state"):
            break
        time.sleep(1)
    assert shown["status"] in ("ACTIVE", "ERROR"), shown
    new = {v["ID"] for v in demo.json("volume", "list")} - before
    if shown["status"] == "ACTIVE":
        assert new == set(attached_volumes(shown)), (new, shown)
    demo.run("server", "delete", "--wait", s["id"])
    for vol in new:
        wait_gone(demo, vol)
