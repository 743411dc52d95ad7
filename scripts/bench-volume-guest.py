#!/usr/bin/env python3
"""Volume figures for the closing note of block storage: sequential write and read MB/s
inside a running QEMU guest on an attached volume, against the same kind of file written
and read from the host; the time from `POST os-volume_attachments` to the disk visible
in the guest; the time to create a 10 GiB volume. With --iscsi the volume is exported by
a tgtd the cloud runs (127.0.0.1, its own port) and QEMU opens it with libiscsi and CHAP.

Usage: $(scripts/venv.sh)/bin/python scripts/bench-volume-guest.py [--iscsi] [MiB]  (default 128)
Needs target/debug/onestack (or $ONESTACK_BIN), QEMU and the test image
($ONESTACK_TEST_IMAGE, else target/test-image/test-image.qcow2). The server runs on a temp
state dir and free ports with the dataplane off; it, its guest, its tgtd and its files go
on exit (each ended by its own pid)."""
import base64, json, os, re, signal, socket, subprocess, sys, tempfile, time
import requests

args = [a for a in sys.argv[1:] if not a.startswith("--")]
ISCSI = "--iscsi" in sys.argv
MIB = int(args[0]) if args else 128
binp = os.environ.get("ONESTACK_BIN") or os.path.abspath("target/debug/onestack")
image = os.environ.get("ONESTACK_TEST_IMAGE") or os.path.abspath("target/test-image/test-image.qcow2")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


state = tempfile.mkdtemp(prefix="onestack-bench-vol.", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
text = open("profiles/default.toml").read()
text = text.replace('dataplane = "host"', 'dataplane = "off"').replace('hypervisor = "auto"', 'hypervisor = "qemu"')
text = text.replace('bootstrap_image = "/usr/local/share/onestack/test-image.qcow2"', f'bootstrap_image = "{image}"')
if ISCSI:
    control = 20000 + int.from_bytes(os.urandom(2), "little") % 12000
    text = (text.replace('target_helper = "none"', 'target_helper = "tgtadm"')
            .replace('iscsi_portal = "127.0.0.1:3260"', f'iscsi_portal = "127.0.0.1:{free_port()}"')
            .replace("tgt_control_port = 0", f"tgt_control_port = {control}")
            .replace("tgt_managed = false", "tgt_managed = true"))
prof = os.path.join(state, "p.toml"); open(prof, "w").write(text)
port = free_port(); base = f"http://127.0.0.1:{port}"
p = subprocess.Popen([binp, "--state-dir", state, "up", "--listen", f"127.0.0.1:{port}", "--profile", prof],
                     stdout=subprocess.DEVNULL, stderr=open(state + "/log", "w"))

# On a new data disk: say it is seen, then write MIB MiB (fsync), drop the page cache,
# read them back; times from /proc/uptime (10 ms resolution).
WATCH = r"""#!/bin/sh
(
while :; do
  for d in $(ls /sys/block | grep '^vd' | grep -v '^vda$'); do
    [ -e /run/seen-$d ] && continue
    touch /run/seen-$d
    echo "disk-seen $d" > /dev/ttyS0
    t0=$(cut -d' ' -f1 /proc/uptime)
    dd if=/dev/zero of=/dev/$d bs=1M count=MIB conv=fsync 2>/dev/null
    t1=$(cut -d' ' -f1 /proc/uptime)
    echo 3 > /proc/sys/vm/drop_caches
    t2=$(cut -d' ' -f1 /proc/uptime)
    dd if=/dev/$d of=/dev/null bs=1M count=MIB 2>/dev/null
    t3=$(cut -d' ' -f1 /proc/uptime)
    echo "bench $d $t0 $t1 $t2 $t3" > /dev/ttyS0
  done
  sleep 0.05
done
) </dev/null >/dev/null 2>&1 &
""".replace("MIB", str(MIB))


def main():
    for _ in range(300):
        try:
            if requests.get(base + "/identity/v3", timeout=1).ok: break
        except Exception: pass
        time.sleep(0.1)
    creds = json.load(open(os.path.join(state, "credentials.json")))
    r = requests.post(base + "/identity/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo", "domain": {"id": "default"}, "password": creds["demo_password"]}}}, "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}})
    r.raise_for_status()
    h = {"X-Auth-Token": r.headers["X-Subject-Token"], "OpenStack-API-Version": "volume 3.60"}
    hn = {"X-Auth-Token": h["X-Auth-Token"], "OpenStack-API-Version": "compute 2.79"}
    pid = r.json()["token"]["project"]["id"]
    v3 = f"{base}/volume/v3/{pid}"; nova = f"{base}/compute/v2.1"

    def wait_volume(vid, status="available"):
        while True:
            v = requests.get(f"{v3}/volumes/{vid}", headers=h).json()["volume"]
            if v["status"] == status: return v
            assert v["status"] != "error", v
            time.sleep(0.01)

    def console(sid):
        r = requests.post(f"{nova}/servers/{sid}/action", headers=hn, json={"os-getConsoleOutput": {}})
        return r.json().get("output", "")

    def wait_console(sid, pattern, timeout=600):
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(pattern, console(sid))
            if m: return m
            time.sleep(0.05)
        raise SystemExit(f"never saw {pattern!r} on the console")

    # 10 GiB volume: POST to available, as a client polling sees it.
    t = time.time()
    vid = requests.post(f"{v3}/volumes", headers=h, json={"volume": {"size": 10, "name": "ten"}}).json()["volume"]["id"]
    wait_volume(vid)
    print(f"create 10 GiB volume -> available: {time.time() - t:.3f} s")
    requests.delete(f"{v3}/volumes/{vid}", headers=h)

    imgs = []
    while not imgs:
        imgs = [i for i in requests.get(f"{base}/image/v2/images?name=cirros", headers=h).json()["images"] if i["status"] == "active"]
        time.sleep(0.2)
    r = requests.post(f"{nova}/servers", headers=hn, json={"server": {"name": "bench", "imageRef": imgs[0]["id"], "flavorRef": "42", "networks": "none", "config_drive": True, "user_data": base64.b64encode(WATCH.encode()).decode()}})
    r.raise_for_status(); sid = r.json()["server"]["id"]
    wait_console(sid, "onestack-guest ready")
    status = json.load(open(os.path.join(state, "compute-status.json")))
    accel = "KVM" if os.access("/dev/kvm", os.R_OK | os.W_OK) and "tcg" not in status.get("reason", "").lower() else "TCG"
    print(f"guest: QEMU ({accel}), driver reason: {status.get('reason', '?')}")

    size_gib = max(1, (MIB + 1023) // 1024)
    vid = requests.post(f"{v3}/volumes", headers=h, json={"volume": {"size": size_gib, "name": "bench"}}).json()["volume"]["id"]
    wait_volume(vid)
    t = time.time()
    r = requests.post(f"{nova}/servers/{sid}/os-volume_attachments", headers=hn, json={"volumeAttachment": {"volumeId": vid}})
    r.raise_for_status()
    wait_console(sid, r"disk-seen vdb")
    kind = "iSCSI (tgt + libiscsi, CHAP)" if ISCSI else "file"
    print(f"attach -> visible in guest ({kind}): {time.time() - t:.2f} s")
    m = wait_console(sid, r"bench vdb ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)")
    t0, t1, t2, t3 = (float(x) for x in m.groups())
    print(f"guest sequential write {MIB} MiB (dd bs=1M conv=fsync) on a {kind} volume: {MIB / max(t1 - t0, 0.01):.1f} MB/s")
    print(f"guest sequential read  {MIB} MiB (dd bs=1M, page cache dropped): {MIB / max(t3 - t2, 0.01):.1f} MB/s")

    # The same from the host, on a fresh file in the same directory (O_DIRECT both ways).
    f = os.path.join(state, "volumes", "host-bench")
    t = time.time()
    subprocess.run(["dd", "if=/dev/zero", f"of={f}", "bs=1M", f"count={MIB}", "oflag=direct", "conv=fsync", "status=none"], check=True)
    w = time.time() - t
    t = time.time()
    subprocess.run(["dd", f"if={f}", "of=/dev/null", "bs=1M", "iflag=direct", "status=none"], check=True)
    rd = time.time() - t
    os.remove(f)
    print(f"host sequential write {MIB} MiB (dd bs=1M oflag=direct conv=fsync): {MIB / w:.1f} MB/s")
    print(f"host sequential read  {MIB} MiB (dd bs=1M iflag=direct): {MIB / rd:.1f} MB/s")
    print(f"guest/host: write {MIB / max(t1 - t0, 0.01) / (MIB / w):.2f}, read {MIB / max(t3 - t2, 0.01) / (MIB / rd):.2f}")
    requests.delete(f"{nova}/servers/{sid}", headers=hn)
    time.sleep(2)


def end_pidfile(path, marker):
    """Ends the process in `path` if its command line holds `marker` (ours only)."""
    try:
        pid = int(open(path).read().strip())
        if marker.encode() in open(f"/proc/{pid}/cmdline", "rb").read():
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


try:
    main()
finally:
    p.terminate(); p.wait()
    inst = os.path.join(state, "instances")
    for d in (os.listdir(inst) if os.path.isdir(inst) else []):
        end_pidfile(os.path.join(inst, d, "qemu.pid"), d)
    if ISCSI:
        end_pidfile(os.path.join(state, "tgt", "tgtd.pid"), f"-C\0{control}\0")
    time.sleep(0.5)
    subprocess.run(["rm", "-rf", state])
