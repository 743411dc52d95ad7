"""Nova (`/compute`) through the real `openstack` CLI and openstacksdk, with real guests.

The module runs its own onestack with the dataplane off, `[compute] hypervisor = "qemu"`
(TCG on this kind of machine) and the test guest image registered as `cirros`. Guests
boot on the demo `private` network (ports get addresses in the API, no DHCP), so the
main guest uses a config drive to learn its hostname. One guest is reused for the
whole lifecycle (actions, rebuild, resize, snapshot, delete); the openstacksdk flow
boots a second one. Every guest is killed by PID when the module ends.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import openstack
import openstack.exceptions
import pytest
import requests

from conftest import REPO_ROOT, Osc, OnestackServer, unique

MARKER = "onestack-guest ready hostname="
BOOT_TIMEOUT = 180
TIMINGS: list[str] = []


def _test_image() -> Path | None:
    for cand in (os.environ.get("ONESTACK_TEST_IMAGE"), "/work/test-image/test-image.qcow2",
                 str(REPO_ROOT / "target" / "test-image" / "test-image.qcow2")):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def _kill_guests(state_dir: Path) -> None:
    """Kill each guest VMM this module's onestack started, by the PID in its pid file."""
    inst = state_dir / "instances"
    if not inst.is_dir():
        return
    for d in inst.iterdir():
        for name in ("qemu.pid", "vmm.pid"):
            try:
                pid = int((d / name).read_text().strip())
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except (OSError, ValueError):
                continue
            if d.name in cmdline:
                os.kill(pid, 9)


@pytest.fixture(scope="module")
def nova(tmp_path_factory):
    image = _test_image()
    if image is None:
        pytest.skip("SKIP: no test guest image (run scripts/build-test-image.sh and set "
                    "ONESTACK_TEST_IMAGE)")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("SKIP: qemu-system-x86_64 is not installed (run scripts/ensure-qemu.sh)")
    base = tmp_path_factory.mktemp("nova")
    text = (REPO_ROOT / "profiles" / "default.toml").read_text()
    text = text.replace('dataplane = "host"', 'dataplane = "off"')
    text = text.replace('hypervisor = "auto"', 'hypervisor = "qemu"')
    text = re.sub(r'(?m)^bootstrap_image = ".*"$', f'bootstrap_image = "{image}"', text)
    profile = base / "profile.toml"
    profile.write_text(text)
    srv = OnestackServer(base / "state", base / "onestack.log", profile=str(profile))
    srv.start()
    srv.image_path = image
    yield srv
    rc = srv.stop()
    _kill_guests(srv.state_dir)
    print(f"\nonestack (compute) stopped, exit code {rc}; log at {srv.log_path}")
    for t in TIMINGS:
        print(t)


@pytest.fixture(scope="module")
def admin(nova) -> Osc:
    return Osc(nova.openrc("admin"))


@pytest.fixture(scope="module")
def demo(nova) -> Osc:
    return Osc(nova.openrc("demo"))


def token(nova: OnestackServer, osc: Osc) -> str:
    e = osc.env
    return nova.issue_token(e["OS_USERNAME"], e["OS_PASSWORD"], e["OS_PROJECT_NAME"])


def compute(nova, tok, method, path, body=None, mv=None):
    """A raw Nova call at `mv`, by default the maximum the version document offers."""
    if mv is None:
        mv = requests.get(f"{nova.base_url}/compute/v2.1", timeout=10).json()["version"]["version"]
    return requests.request(method, f"{nova.base_url}/compute/v2.1{path}", json=body,
                            timeout=30, headers={"X-Auth-Token": tok,
                                                 "OpenStack-API-Version": f"compute {mv}"})


def wait_status(osc: Osc, server: str, status: str, timeout: float = BOOT_TIMEOUT) -> dict:
    deadline = time.monotonic() + timeout
    s = {}
    while time.monotonic() < deadline:
        s = osc.json("server", "show", server)
        if s["status"] == status and not s.get("OS-EXT-STS:task_state"):
            return s
        assert s["status"] != "ERROR", f"server went to ERROR: {s}"
        time.sleep(1)
    pytest.fail(f"server {server} not {status} after {timeout}s: {s}")


def wait_console(osc: Osc, server: str, needle: str, timeout: float = BOOT_TIMEOUT,
                 after: int = 0) -> str:
    """Poll `console log show` until `needle` appears more than `after` times."""
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = osc.run("console", "log", "show", server)
        if out.count(needle) > after:
            return out
        time.sleep(1)
    pytest.fail(f"{needle!r} not in the console of {server} after {timeout}s:\n{out[-3000:]}")


@pytest.fixture(scope="module")
def keypair(demo, tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "id")],
                   check=True)
    name = unique("k")
    k = demo.json("keypair", "create", "--public-key", str(d / "id.pub"), name)
    assert k["name"] == name
    assert k["fingerprint"].count(":") >= 15 or k["fingerprint"].startswith("SHA256:"), k
    assert name in [r["Name"] for r in demo.json("keypair", "list")]
    return name


@pytest.fixture(scope="module")
def vm(demo, keypair):
    """The demo guest reused by the lifecycle tests, booted with a config drive."""
    name = unique("vm")
    t0 = time.monotonic()
    s = demo.json("server", "create", "--image", "cirros", "--flavor", "m1.nano",
                  "--network", "private", "--key-name", keypair, "--config-drive", "true",
                  "--wait", name)
    t_active = time.monotonic() - t0
    assert s["status"] == "ACTIVE", s
    out = wait_console(demo, s["id"], f"{MARKER}{name}")
    t_marker = time.monotonic() - t0
    TIMINGS.append(f"CLI: server create -> ACTIVE {t_active:.1f}s (--wait polls every 5 s), "
                   f"-> console marker {t_marker:.1f}s")
    print(TIMINGS[-1])
    return {"id": s["id"], "name": name, "console": out}


# --------------------------------------------------------------------------- catalog

def test_flavor_list(demo):
    rows = demo.json("flavor", "list")
    names = {r["Name"]: r for r in rows}
    assert {"m1.nano", "m1.micro", "m1.tiny"} <= set(names)
    assert names["m1.nano"]["RAM"] == 128
    assert names["m1.nano"]["Is Public"] is True


def test_hypervisor_limits_usage_providers(admin, demo):
    hv = admin.json("hypervisor", "list")
    assert len(hv) == 1 and hv[0]["State"] == "up", hv
    lim = {r["Name"]: r["Value"] for r in demo.json("limits", "show", "--absolute")}
    # OSC prints openstacksdk's names for maxTotalInstances / totalInstancesUsed
    assert lim["instances"] >= 1 and "instances_used" in lim, lim
    admin.json("usage", "list")
    rps = admin.json("resource", "provider", "list")
    assert len(rps) == 1 and rps[0]["name"] == hv[0]["Hypervisor Hostname"], (rps, hv)


# --------------------------------------------------------------------------- one guest

def test_boot_reaches_active_with_console_marker(demo, vm):
    assert f"{MARKER}{vm['name']}" in vm["console"]


def test_server_show_and_list(demo, admin, vm, keypair):
    s = demo.json("server", "show", vm["name"])
    assert s["id"] == vm["id"] and s["status"] == "ACTIVE"
    assert s["key_name"] == keypair
    assert s["OS-EXT-STS:vm_state"] == "active"
    assert s["OS-EXT-STS:power_state"] in ("Running", 1), s
    assert s["OS-EXT-AZ:availability_zone"] == "nova"
    assert "private" in s["addresses"], s["addresses"]
    assert s["flavor"]["name"] if isinstance(s["flavor"], dict) else "m1.nano" in s["flavor"]
    assert "cirros" in str(s["image"])
    assert s["config_drive"] in ("True", "true", True)
    assert s["security_groups"] == [{"name": "default"}], s["security_groups"]
    rows = demo.json("server", "list", "--long")
    row = [r for r in rows if r["ID"] == vm["id"]]
    assert row and row[0]["Status"] == "ACTIVE" and row[0]["Flavor"] == "m1.nano", rows
    assert row[0]["Availability Zone"] == "nova"
    # admin sees the demo guest only with --all-projects
    assert vm["id"] not in [r["ID"] for r in admin.json("server", "list")]
    assert vm["id"] in [r["ID"] for r in admin.json("server", "list", "--all-projects")]


def test_properties_lock_security_groups(demo, vm):
    demo.run("server", "set", "--property", "role=web", "--property", "tier=1", vm["id"])
    props = demo.json("server", "show", vm["id"])["properties"]
    assert props == {"role": "web", "tier": "1"}, props
    demo.run("server", "unset", "--property", "tier", vm["id"])
    assert demo.json("server", "show", vm["id"])["properties"] == {"role": "web"}

    demo.run("server", "lock", vm["id"])
    assert demo.json("server", "show", vm["id"])["locked"] is True
    demo.run("server", "unlock", vm["id"])
    assert demo.json("server", "show", vm["id"])["locked"] is False

    sg = unique("sg")
    demo.json("security", "group", "create", sg)
    demo.run("server", "add", "security", "group", vm["id"], sg)
    names = {g["name"] for g in demo.json("server", "show", vm["id"])["security_groups"]}
    assert names == {"default", sg}, names
    demo.run("server", "remove", "security", "group", vm["id"], sg)
    names = {g["name"] for g in demo.json("server", "show", vm["id"])["security_groups"]}
    assert names == {"default"}, names
    demo.run("security", "group", "delete", sg)


def test_power_actions(demo, vm):
    sid = vm["id"]
    demo.run("server", "stop", sid)
    s = wait_status(demo, sid, "SHUTOFF")
    assert s["OS-EXT-STS:power_state"] in ("Shutdown", 4), s
    # an action in the wrong state: 409 from the API, a CLI error
    demo.fail("server", "pause", sid, expect="409")
    demo.run("server", "start", sid)
    wait_status(demo, sid, "ACTIVE")
    before = demo.run("console", "log", "show", sid).count(MARKER)
    demo.run("server", "reboot", "--hard", "--wait", sid)
    wait_status(demo, sid, "ACTIVE")
    wait_console(demo, sid, MARKER, after=0 if before == 0 else before - 1)
    demo.run("server", "pause", sid)
    wait_status(demo, sid, "PAUSED")
    demo.run("server", "unpause", sid)
    wait_status(demo, sid, "ACTIVE")
    demo.run("server", "suspend", sid)
    wait_status(demo, sid, "SUSPENDED")
    demo.run("server", "resume", sid)
    wait_status(demo, sid, "ACTIVE")


def test_rebuild_and_resize(demo, vm):
    sid = vm["id"]
    demo.run("server", "rebuild", "--image", "cirros", "--wait", sid)
    wait_status(demo, sid, "ACTIVE")
    wait_console(demo, sid, f"{MARKER}{vm['name']}")

    demo.run("server", "resize", "--flavor", "m1.micro", sid)
    wait_status(demo, sid, "VERIFY_RESIZE")
    demo.run("server", "resize", "confirm", sid)
    s = wait_status(demo, sid, "ACTIVE")
    assert "m1.micro" in str(s["flavor"]), s["flavor"]


def test_snapshot_image(demo, vm):
    name = unique("snap")
    img = demo.json("server", "image", "create", "--name", name, "--wait", vm["id"])
    shown = demo.json("image", "show", img["id"])
    assert shown["status"] == "active", shown
    assert shown["name"] == name
    demo.run("image", "delete", img["id"])


def test_event_list(demo, vm):
    events = demo.json("server", "event", "list", vm["id"])
    actions = {e["Action"] for e in events}
    assert {"create", "stop", "start", "reboot", "pause", "unpause", "suspend", "resume",
            "rebuild", "resize", "confirmResize", "createImage"} <= actions, actions
    req = events[0]["Request ID"]
    one = demo.json("server", "event", "show", vm["id"], req)
    assert one["request_id"] == req


# --------------------------------------------------------------------------- errors

def test_bad_input(nova, demo, vm):
    demo.fail("server", "create", "--image", "no-such-image", "--flavor", "m1.nano",
              "--network", "private", unique("bad"))
    demo.fail("server", "create", "--image", "cirros", "--flavor", "no-such-flavor",
              "--network", "private", unique("bad"))
    demo.fail("server", "create", "--image", "cirros", "--flavor", "m1.nano",
              "--network", "no-such-net", unique("bad"))
    tok = token(nova, demo)
    image_id = demo.json("image", "show", "cirros")["id"]
    net_id = demo.json("network", "show", "private")["id"]
    zero = "00000000-0000-0000-0000-000000000000"
    for body in (
        {"name": "b", "imageRef": zero, "flavorRef": "42", "networks": [{"uuid": net_id}]},
        {"name": "b", "imageRef": image_id, "flavorRef": "nope", "networks": [{"uuid": net_id}]},
        {"name": "b", "imageRef": image_id, "flavorRef": "42", "networks": [{"uuid": zero}]},
    ):
        r = compute(nova, tok, "POST", "/servers", {"server": body})
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert "badRequest" in r.json(), r.text

    # a flavor smaller than the image wants
    big = unique("big")
    demo.run("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
             "--min-disk", "5", "--file", str(nova.image_path), big)
    p = demo.fail("server", "create", "--image", big, "--flavor", "m1.nano",
                  "--network", "private", unique("small"))
    assert "400" in p.stderr, p.stderr
    demo.run("image", "delete", big)


def test_wrong_project_and_microversion(nova, admin, vm):
    pname, uname, pw = unique("p"), unique("u"), "pw-" + unique("x")
    admin.run("project", "create", pname)
    admin.run("user", "create", "--password", pw, uname)
    admin.run("role", "add", "--project", pname, "--user", uname, "member")
    other = Osc(nova.password_env(uname, pw, pname))
    p = other.fail("server", "show", vm["id"])
    assert "No Server found for" in p.stderr, p.stderr
    other.fail("server", "stop", vm["id"])
    assert other.json("server", "list") == []

    # the CLI refuses 2.105 itself, from the maximum in the version document
    p = admin.fail("--os-compute-api-version", "2.105", "server", "list")
    assert "2.105 was requested" in p.stderr and "maximum of 2." in p.stderr, p.stderr
    r = compute(nova, token(nova, admin), "GET", "/servers", mv="2.105")
    assert r.status_code == 406, r.text

    admin.run("user", "delete", uname)
    admin.run("project", "delete", pname)


def test_quota_exceeded(nova, admin, demo, vm):
    project = demo.env["OS_PROJECT_NAME"]
    admin.run("quota", "set", "--instances", "1", project)
    try:
        p = demo.fail("server", "create", "--image", "cirros", "--flavor", "m1.nano",
                      "--network", "private", unique("over"))
        assert "403" in p.stderr and "uota" in p.stderr, p.stderr
        assert len(demo.json("server", "list")) == 1
    finally:
        admin.run("quota", "set", "--instances", "10", project)


def test_delete_wait(demo, vm):
    demo.run("server", "delete", "--wait", vm["id"])
    demo.fail("server", "show", vm["id"])
    assert vm["id"] not in [r["ID"] for r in demo.json("server", "list")]


# --------------------------------------------------------------------------- openstacksdk

def test_sdk_server_flow(demo):
    e = demo.env
    conn = openstack.connect(
        auth_url=e["OS_AUTH_URL"], project_name=e["OS_PROJECT_NAME"],
        username=e["OS_USERNAME"], password=e["OS_PASSWORD"],
        user_domain_name="Default", project_domain_name="Default", region_name="RegionOne",
        load_yaml_config=False, load_envvars=False)
    name = unique("sdk")
    t0 = time.monotonic()
    server = conn.create_server(name, image="cirros", flavor="m1.nano", network="private",
                                wait=True, timeout=BOOT_TIMEOUT)
    t_active = time.monotonic() - t0
    assert server.status == "ACTIVE"
    assert server.name == name
    server = conn.compute.wait_for_server(conn.compute.get_server(server.id), status="ACTIVE",
                                          wait=BOOT_TIMEOUT)
    deadline = time.monotonic() + BOOT_TIMEOUT
    out = ""
    while time.monotonic() < deadline and MARKER not in out:
        out = conn.get_server_console(server) or ""
        time.sleep(0.5)
    assert MARKER in out, out[-3000:]
    assert MARKER in conn.compute.get_server_console_output(server)["output"]
    TIMINGS.append(f"SDK: create_server(wait) -> ACTIVE {t_active:.1f}s, -> console marker "
                   f"{time.monotonic() - t0:.1f}s")
    print(TIMINGS[-1])
    assert conn.get_server(name).id == server.id
    assert conn.delete_server(server.id, wait=True, timeout=60) is True
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.get_server(server.id)
