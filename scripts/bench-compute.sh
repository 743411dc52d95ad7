#!/usr/bin/env bash
# Benchmark Nova (/compute) in onestack on loopback and print the figures for the closing
# note, with the accelerator QEMU used (TCG or KVM):
#  (a) POST /servers -> ACTIVE and -> the guest's `onestack-guest ready` console line (read
#      through os-getConsoleOutput), median of 3 sequential boots (m1.nano, networks "none",
#      config drive);
#  (b) onestack's VmRSS idle and with 10 running instances booted concurrently, and each
#      instance's VMM VmRSS (min/median/max, from qemu.pid);
#  (c) GET /servers/detail latency (median, p95 of 20 calls; also with limit=100) with
#      1,000 stopped servers in the database, written straight into `servers` while
#      onestack is stopped (rows as compute's store writes them: a real server's document
#      as template, vm_state stopped, no ports), then onestack started on it.
# Figures only, no pass/fail on timings. Needs qemu-system-x86_64 and the test image
# (scripts/build-test-image.sh). Uses target/release/onestack when built, else
# target/debug/onestack (or $ONESTACK_BIN); builds nothing.
# The guest boots its kernel directly (the image's kernel_id/ramdisk_id, as `onestack up`
# registers the test image when vmlinux and initrd.img sit beside it); BENCH_BOOT=disk
# boots the same disk through its firmware instead, for comparison. BENCH_ONLY_BOOT=1
# stops after (a).
# Usage: scripts/bench-compute.sh   (env: ONESTACK_BIN, ONESTACK_TEST_IMAGE, BENCH_SERVERS=1000,
#        BENCH_BOOT=kernel|disk, BENCH_ONLY_BOOT=1)
# Loopback only, dataplane off; every VMM it started is killed by pid, onestack is stopped
# by pid and the temp dir removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 is required (scripts/ensure-qemu.sh)"; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required"; exit 1; }

WORK="$(mktemp -d /tmp/onestack-bench-compute.XXXXXX)"
STATE="$WORK/state"
mkdir -m 700 "$STATE"

# Every VMM under the state dir, by its pid file, only when its command line names the
# instance (a stale pid file never kills an unrelated process).
kill_vmms() {
    local d id pid
    for d in "$STATE"/instances/*/; do
        [[ -r "$d/qemu.pid" ]] || continue
        id="$(basename "$d")"
        pid="$(tr -dc 0-9 <"$d/qemu.pid")"
        [[ -n "$pid" ]] || continue
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$id"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}
stop_server() {
    local pid
    [[ -r "$WORK/server.pid" ]] || return 0
    pid="$(cat "$WORK/server.pid")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    fi
    rm -f "$WORK/server.pid"
}
cleanup() { stop_server; kill_vmms; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# The default profile, dataplane off, QEMU forced, the test image as bootstrap image.
PROFILE="$WORK/profile.toml"
sed -E \
    -e 's/^dataplane[[:space:]]*=.*/dataplane = "off"/' \
    -e 's/^hypervisor[[:space:]]*=.*/hypervisor = "qemu"/' \
    -e "s|^bootstrap_image[[:space:]]*=.*|bootstrap_image = \"$IMAGE\"|" \
    profiles/default.toml >"$PROFILE"
IMAGE_DIR="$(dirname "$IMAGE")"
if [[ ${BENCH_BOOT:-kernel} == kernel ]]; then
    [[ -f $IMAGE_DIR/vmlinux && -f $IMAGE_DIR/initrd.img ]] ||
        { echo "no $IMAGE_DIR/vmlinux and initrd.img for direct kernel boot (BENCH_BOOT=disk skips it)"; exit 1; }
    sed -i -E -e "s|^bootstrap_kernel[[:space:]]*=.*|bootstrap_kernel = \"$IMAGE_DIR/vmlinux\"|" \
        -e "s|^bootstrap_ramdisk[[:space:]]*=.*|bootstrap_ramdisk = \"$IMAGE_DIR/initrd.img\"|" "$PROFILE"
else
    sed -i -E -e 's|^bootstrap_kernel[[:space:]]*=.*|bootstrap_kernel = ""|' \
        -e 's|^bootstrap_ramdisk[[:space:]]*=.*|bootstrap_ramdisk = ""|' "$PROFILE"
fi
grep -q '^dataplane = "off"' "$PROFILE" && grep -q '^hypervisor = "qemu"' "$PROFILE"

python3 - "$BIN" "$STATE" "$PROFILE" "$WORK" "${BENCH_SERVERS:-1000}" <<'PYEOF'
import json, os, signal, sqlite3, statistics, subprocess, sys, threading, time, uuid
import urllib.error, urllib.request

BIN, STATE, PROFILE, WORK, N_LIST = sys.argv[1:6]
N_LIST = int(N_LIST)
MV = {"OpenStack-API-Version": "compute 2.79"}
MARKER = "onestack-guest ready"
proc = None
base = None
token = None

def http(method, path, body=None, headers=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, dict(r.headers), raw
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()

def js(raw):
    return json.loads(raw) if raw else None

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def start():
    """Starts onestack, returns seconds until GET /identity/v3 answers."""
    global proc, base
    runtime = os.path.join(STATE, "runtime.json")
    if os.path.exists(runtime):
        os.remove(runtime)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [BIN, "--state-dir", STATE, "up", "--listen", "127.0.0.1:0", "--profile", PROFILE],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(WORK, "server.log"), "ab"), start_new_session=True,
        env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info")})
    with open(os.path.join(WORK, "server.pid"), "w") as f:
        f.write(str(proc.pid))
    while time.monotonic() - t0 < 60:
        if proc.poll() is not None:
            sys.exit(f"onestack exited with {proc.returncode}; log:\n" + log_tail())
        try:
            listen = json.load(open(runtime))["listen"]
            base = f"http://{listen}"
            if http("GET", "/identity/v3", timeout=2)[0] == 200:
                return time.monotonic() - t0
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            pass
        time.sleep(0.02)
    sys.exit("onestack not ready in 60 s; log:\n" + log_tail())

def stop():
    global proc
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc = None
    try:
        os.remove(os.path.join(WORK, "server.pid"))
    except FileNotFoundError:
        pass

def log_tail():
    try:
        return "".join(open(os.path.join(WORK, "server.log")).readlines()[-30:])
    except OSError:
        return ""

def login():
    global token
    creds = json.load(open(os.path.join(STATE, "credentials.json")))
    token = None
    st, h, raw = http("POST", "/identity/v3/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": creds["admin_password"]}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
    assert st == 201, (st, raw)
    token = {k.lower(): v for k, v in h.items()}["x-subject-token"]

def wait(what, pred, within, every=0.1):
    deadline = time.monotonic() + within
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}; log:\n" + log_tail())
        time.sleep(every)

def server(sid):
    st, _, raw = http("GET", f"/compute/v2.1/servers/{sid}", headers=MV)
    if st == 404:
        return None
    assert st == 200, (st, raw)
    s = js(raw)["server"]
    if s["status"] == "ERROR":
        sys.exit(f"server {sid} went to ERROR: {s.get('fault')}\n" + log_tail())
    return s

def active(sid):
    s = server(sid)
    return s and s["status"] == "ACTIVE" and s["OS-EXT-STS:task_state"] is None

def console_ready(sid):
    st, _, raw = http("POST", f"/compute/v2.1/servers/{sid}/action",
                      {"os-getConsoleOutput": {"length": None}}, headers=MV)
    return st == 200 and MARKER in (js(raw)["output"] or "")

def create(name, image):
    st, _, raw = http("POST", "/compute/v2.1/servers", {"server": {
        "name": name, "imageRef": image, "flavorRef": "42", "networks": "none",
        "config_drive": True}}, headers=MV)
    assert st == 202, (st, raw)
    return js(raw)["server"]["id"]

def delete_all(ids):
    for sid in ids:
        st, _, raw = http("DELETE", f"/compute/v2.1/servers/{sid}", headers=MV)
        assert st in (204, 404), (st, raw)
    for sid in ids:
        wait(f"server {sid} deleted", lambda: server(sid) is None, 120, 0.25)

def vmm_pids():
    out = {}
    root = os.path.join(STATE, "instances")
    for sid in os.listdir(root) if os.path.isdir(root) else []:
        try:
            pid = int(open(os.path.join(root, sid, "qemu.pid")).read().strip())
            if sid in open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace"):
                out[sid] = pid
        except (OSError, ValueError):
            pass
    return out

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]

fig = {}
fig["startup_s"] = start()
login()
image = wait("the bootstrap image", lambda: (lambda v: v and v[0]["status"] == "active" and v[0]["id"])(
    js(http("GET", "/image/v2/images?name=cirros")[2])["images"]), 60, 0.2)
cstat = json.load(open(os.path.join(STATE, "compute-status.json")))
fig["driver"] = f'{cstat["hypervisor"]}: {cstat["reason"]}'
time.sleep(3)
fig["rss_idle"] = rss_kb(proc.pid)

print("== (a) 3 sequential boots: POST /servers -> ACTIVE -> console marker", flush=True)
to_active, to_marker, accel = [], [], set()
for i in range(3):
    t0 = time.monotonic()
    sid = create(f"bench-boot-{i}", image)
    wait("ACTIVE", lambda: active(sid), 300)
    to_active.append(time.monotonic() - t0)
    wait("the console marker", lambda: console_ready(sid), 300, 0.25)
    to_marker.append(time.monotonic() - t0)
    for pid in vmm_pids().values():
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        if b"-accel" in cmd:
            accel.add(cmd[cmd.index(b"-accel") + 1].decode())
    print(f"boot {i}: ACTIVE {to_active[-1]:.2f} s, marker {to_marker[-1]:.2f} s", flush=True)
    delete_all([sid])
fig["accel"] = ", ".join(sorted(accel)) or "?"
if os.environ.get("BENCH_ONLY_BOOT"):
    stop()
    med = statistics.median
    print(f"""
================ onestack compute boot benchmark ================
driver:                    {fig["driver"]}
accelerator (qemu -accel): {fig["accel"]}; boot: {os.environ.get("BENCH_BOOT", "kernel")}
POST /servers -> ACTIVE:   median {med(to_active):.2f} s  (runs: {", ".join(f"{x:.2f}" for x in to_active)})
POST /servers -> '{MARKER}': median {med(to_marker):.2f} s  (runs: {", ".join(f"{x:.2f}" for x in to_marker)})
""")
    sys.exit(0)

print("== (b) 10 instances booted concurrently", flush=True)
ids, lock = [], threading.Lock()
def boot(i):
    sid = create(f"bench-many-{i}", image)
    with lock:
        ids.append(sid)
t0 = time.monotonic()
threads = [threading.Thread(target=boot, args=(i,)) for i in range(10)]
for t in threads: t.start()
for t in threads: t.join()
assert len(ids) == 10, "not every POST /servers succeeded"
for sid in ids:
    wait("ACTIVE", lambda: active(sid), 600, 0.25)
fig["ten_active_s"] = time.monotonic() - t0
deadline = time.monotonic() + 300
pending = set(ids)
while pending and time.monotonic() < deadline:
    pending = {s for s in pending if not console_ready(s)}
    time.sleep(0.5)
fig["ten_marker_s"] = None if pending else time.monotonic() - t0
fig["ten_marker_missing"] = len(pending)
time.sleep(2)
fig["rss_ten"] = rss_kb(proc.pid)
pids = vmm_pids()
vmm = sorted(rss_kb(p) for p in pids.values())
fig["vmm_count"] = len(vmm)
fig["vmm"] = (vmm[0], statistics.median(vmm), vmm[-1]) if vmm else (0, 0, 0)
# A template for the listing phase: a real server document as compute wrote it.
db = sqlite3.connect(f"file:{STATE}/state.db?mode=ro", uri=True)
template = json.loads(db.execute("SELECT doc FROM servers WHERE id = ?", (ids[0],)).fetchone()[0])
db.close()
delete_all(ids)
stop()

print(f"== (c) {N_LIST} stopped servers written into the database", flush=True)
db = sqlite3.connect(f"{STATE}/state.db")
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
with db:
    for i in range(N_LIST):
        s = dict(template)
        sid = str(uuid.uuid4())
        s.update(id=sid, name=f"bench-list-{i}", hostname=f"bench-list-{i}", vm_state="stopped",
                 task_state=None, power_state=4, ports=[], requested_networks="none",
                 fault=None, deleted_at=None, terminated_at=None, progress=0, locked=False,
                 locked_reason=None, locked_by=None, server_group=None, created_at=now,
                 updated_at=now, generation=0, instance_name="")
        cur = db.execute(
            "INSERT INTO servers (id, project_id, user_id, name, created_at, generation, doc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sid, s["project_id"], s["user_id"], s["name"], now, 0, json.dumps(s)))
        s.update(instance_name=f"instance-{cur.lastrowid:08x}", generation=1)
        db.execute("UPDATE servers SET generation = 1, doc = ? WHERE id = ?", (json.dumps(s), sid))
db.close()

fig["startup_list_s"] = start()
login()
restore = wait("the instance restore", lambda: (lambda c: c.get("recovery") and c)(
    json.load(open(os.path.join(STATE, "compute-status.json")))), 300, 0.2)
r = restore["recovery"]
fig["restore"] = (f'{r["adopted"]} adopted, {r["restarted"]} restarted, '
                  f'{r["resumed_builds"]} builds resumed, {len(r["errors"])} errors')
fig["vmms_after_restore"] = len(vmm_pids())

def timed(path, n=20):
    ms, count, size = [], 0, 0
    for _ in range(n):
        t = time.monotonic()
        st, _, raw = http("GET", path, headers=MV)
        ms.append((time.monotonic() - t) * 1000)
        assert st == 200, (st, raw[:300])
        servers = js(raw)["servers"]
        count, size = len(servers), len(raw)
        assert all(s["status"] == "SHUTOFF" for s in servers), "a listed server is not SHUTOFF"
    return statistics.median(ms), pct(ms, 95), count, size

fig["list_all"] = timed("/compute/v2.1/servers/detail")
fig["list_100"] = timed("/compute/v2.1/servers/detail?limit=100")
fig["rss_list"] = rss_kb(proc.pid)
status = subprocess.run([BIN, "--state-dir", STATE, "status"], capture_output=True, text=True).stdout
stop()

med = statistics.median
kb = lambda k: f"{k / 1024:.1f} MB ({k} kB)"
la, l100 = fig["list_all"], fig["list_100"]
print(f"""
================ onestack compute benchmark ================
host:                      {os.cpu_count()} cores, {os.uname().release}; binary {BIN}
driver:                    {fig["driver"]}
accelerator (qemu -accel): {fig["accel"]}
start -> API answering:    {fig["startup_s"] * 1000:.0f} ms (empty state dir)
POST /servers -> ACTIVE:   median {med(to_active):.2f} s  (runs: {", ".join(f"{x:.2f}" for x in to_active)})
POST /servers -> '{MARKER}': median {med(to_marker):.2f} s  (runs: {", ".join(f"{x:.2f}" for x in to_marker)})
                           m1.nano, networks "none", config drive, one at a time
onestack RSS idle:         {kb(fig["rss_idle"])}
10 concurrent boots:       all ACTIVE after {fig["ten_active_s"]:.1f} s; all console markers after {f'{fig["ten_marker_s"]:.1f} s' if fig["ten_marker_s"] else f'(missing on {fig["ten_marker_missing"]} after 300 s)'}
onestack RSS, 10 running:  {kb(fig["rss_ten"])}
VMM RSS per instance:      min {fig["vmm"][0] / 1024:.1f} / median {fig["vmm"][1] / 1024:.1f} / max {fig["vmm"][2] / 1024:.1f} MB over {fig["vmm_count"]} qemu processes (128 MiB guests)
{N_LIST} stopped servers:     start -> API answering {fig["startup_list_s"] * 1000:.0f} ms; restore: {fig["restore"]}; VMMs running after restore: {fig["vmms_after_restore"]}
GET /servers/detail:       median {la[0]:.1f} ms, p95 {la[1]:.1f} ms ({la[2]} servers, {la[3] / 1024:.0f} KiB; 20 calls)
GET ...detail?limit=100:   median {l100[0]:.1f} ms, p95 {l100[1]:.1f} ms ({l100[2]} servers, {l100[3] / 1024:.0f} KiB; 20 calls)
onestack RSS after lists:  {kb(fig["rss_list"])}
=============================================================
onestack status with {N_LIST} servers:
{status}""")
PYEOF
