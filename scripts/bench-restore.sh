#!/usr/bin/env bash
# Benchmark the reboot restore of onestack: with 5 tenant networks (each with a subnet and a
# router gatewayed to `public`) and 5 running instances (m1.nano, one on each network),
# simulate a host reboot (onestack, every VMM and every dnsmasq killed by pid, every
# namespace, bridge, tap and nft rule of the fake host gone), start `onestack up` again and
# measure the time until
#   - the API answers,
#   - the dataplane converged cleanly (first dataplane-status.json written after the start
#     with no errors and every router in the plan),
#   - all 5 servers are ACTIVE with no task and a new running VMM,
#   - (informative) every guest printed its `onestack-guest ready` console line again.
# Figures only, no pass/fail on timings. Needs root, ip, nft, dnsmasq, qemu-system-x86_64
# and the test image (scripts/build-test-image.sh). Uses target/release/onestack when
# built, else target/debug/onestack (or $ONESTACK_BIN); builds nothing.
# Usage: sudo scripts/bench-restore.sh   (env: ONESTACK_BIN, ONESTACK_TEST_IMAGE)
# Everything runs in namespaces it creates ("<tag>-host" plays the host, the cloud's router
# and DHCP namespaces are named "<tag>-q..."); on exit onestack, every VMM and every
# dnsmasq of its state directory are killed by pid and its namespaces and temp dir removed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh
[[ "$(id -u)" == 0 ]] || { echo "run as root (network namespaces)"; exit 1; }
for tool in ip nft dnsmasq qemu-system-x86_64 python3; do
    command -v "$tool" >/dev/null || { echo "$tool is required"; exit 1; }
done

WORK="$(mktemp -d /tmp/onestack-bench-restore.XXXXXX)"
STATE="$WORK/state"
mkdir -m 700 "$STATE"
TAG="br$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
HOST="$TAG-host"

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
# Every dnsmasq whose command line names our state directory.
kill_dnsmasqs() {
    local p pid
    for p in /proc/[0-9]*; do
        pid="${p#/proc/}"
        if tr '\0' '\n' <"$p/cmdline" 2>/dev/null | head -1 | grep -q 'dnsmasq$' &&
            tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "$STATE"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}
kill_server() {
    local pid
    [[ -r "$WORK/server.pid" ]] || return 0
    pid="$(cat "$WORK/server.pid")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$WORK/server.pid"
}
del_namespaces() {
    local ns
    for ns in $(ip netns list | awk '{print $1}'); do
        [[ "$ns" == "$TAG-"* ]] && ip netns del "$ns" 2>/dev/null || true
    done
}
# What a reboot leaves: no process of ours, no namespace, no bridge, tap or nft rule.
simulate_reboot() {
    kill_server
    kill_vmms
    kill_dnsmasqs
    sleep 0.5
    del_namespaces
}
fresh_host() {
    ip netns add "$HOST"
    ip -n "$HOST" link set lo up
}
cleanup() { simulate_reboot; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
export -f simulate_reboot fresh_host kill_server kill_vmms kill_dnsmasqs del_namespaces
export WORK STATE TAG HOST

fresh_host
# The default profile with the dataplane in the fake host namespace (no uplink there, so
# no masquerade), QEMU forced, the test image as bootstrap image.
PROFILE="$WORK/profile.toml"
sed -E \
    -e "s/^dataplane[[:space:]]*=.*/dataplane = \"host\"\nhost_netns = \"$HOST\"\nnamespace_prefix = \"$TAG-\"/" \
    -e 's/^masquerade[[:space:]]*=.*/masquerade = false/' \
    -e 's/^hypervisor[[:space:]]*=.*/hypervisor = "qemu"/' \
    -e "s|^bootstrap_image[[:space:]]*=.*|bootstrap_image = \"$IMAGE\"|" \
    profiles/default.toml >"$PROFILE"
grep -q "^host_netns = \"$HOST\"" "$PROFILE" && grep -q '^hypervisor = "qemu"' "$PROFILE"

python3 - "$BIN" "$STATE" "$PROFILE" "$WORK" <<'PYEOF'
import json, os, subprocess, sys, time
import urllib.error, urllib.request

BIN, STATE, PROFILE, WORK = sys.argv[1:5]
N = 5
MV = {"OpenStack-API-Version": "compute 2.79"}
MARKER = "onestack-guest ready"
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
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()

def ok(method, path, body=None, want=200, headers=None):
    st, _, raw = http(method, path, body, headers)
    if st != want:
        sys.exit(f"{method} {path} answered {st}: {raw[:500]!r}\n" + log_tail())
    return json.loads(raw) if raw else None

def log_tail():
    try:
        return "".join(open(os.path.join(WORK, "server.log")).readlines()[-40:])
    except OSError:
        return ""

def start():
    """Starts onestack; returns the monotonic start time and seconds until the API answers."""
    global base
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
            base = "http://" + json.load(open(runtime))["listen"]
            if http("GET", "/identity/v3", timeout=2)[0] == 200:
                return t0, time.monotonic() - t0
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            pass
        time.sleep(0.02)
    sys.exit("onestack not ready in 60 s; log:\n" + log_tail())

def login(user):
    global token
    creds = json.load(open(os.path.join(STATE, "credentials.json")))
    token = None
    st, h, raw = http("POST", "/identity/v3/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": creds[f"{user}_password"]}}},
        "scope": {"project": {"name": user, "domain": {"name": "Default"}}}}})
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
    s = ok("GET", f"/compute/v2.1/servers/{sid}", headers=MV)["server"]
    if s["status"] == "ERROR":
        sys.exit(f"server {sid} went to ERROR: {s.get('fault')}\n" + log_tail())
    return s

def active(sid):
    s = server(sid)
    return s["status"] == "ACTIVE" and s["OS-EXT-STS:task_state"] is None

def vmm_pid(sid):
    try:
        pid = int(open(os.path.join(STATE, "instances", sid, "qemu.pid")).read().strip())
        if sid in open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace"):
            return pid
    except (OSError, ValueError):
        pass
    return None

def markers(sid):
    st, _, raw = http("POST", f"/compute/v2.1/servers/{sid}/action",
                      {"os-getConsoleOutput": {"length": None}}, headers=MV)
    return (json.loads(raw)["output"] or "").count(MARKER) if st == 200 else 0

def dataplane(since_wall):
    """The dataplane status when written after `since_wall` (wall clock), else None."""
    path = os.path.join(STATE, "dataplane-status.json")
    try:
        if os.stat(path).st_mtime < since_wall:
            return None
        return json.load(open(path))
    except (OSError, ValueError):
        return None

# 1. The cloud, 5 networks with a subnet and a router each, 5 servers (one per network).
start()
login("demo")
image = wait("the bootstrap image", lambda: (lambda v: v and v[0]["status"] == "active" and v[0]["id"])(
    ok("GET", "/image/v2/images?name=cirros")["images"]), 60, 0.2)
public = ok("GET", "/networking/v2.0/networks?name=public")["networks"][0]["id"]
nets = []
for i in range(N):
    net = ok("POST", "/networking/v2.0/networks", {"network": {"name": f"bench-net-{i}"}}, 201)["network"]["id"]
    sub = ok("POST", "/networking/v2.0/subnets", {"subnet": {
        "network_id": net, "name": f"bench-sub-{i}", "ip_version": 4,
        "cidr": f"10.210.{i}.0/24"}}, 201)["subnet"]["id"]
    rtr = ok("POST", "/networking/v2.0/routers", {"router": {
        "name": f"bench-router-{i}", "external_gateway_info": {"network_id": public}}}, 201)["router"]["id"]
    ok("PUT", f"/networking/v2.0/routers/{rtr}/add_router_interface", {"subnet_id": sub})
    nets.append(net)
ids = []
for i, net in enumerate(nets):
    ids.append(ok("POST", "/compute/v2.1/servers", {"server": {
        "name": f"bench-restore-{i}", "imageRef": image, "flavorRef": "42",
        "networks": [{"uuid": net}]}}, 202, MV)["server"]["id"])
t = time.monotonic()
for sid in ids:
    wait("ACTIVE", lambda: active(sid), 600, 0.25)
print(f"5 servers ACTIVE after {time.monotonic() - t:.1f} s", flush=True)
deadline = time.monotonic() + 300
while time.monotonic() < deadline and not all(markers(s) >= 1 for s in ids):
    time.sleep(1)
booted_first = sum(markers(s) >= 1 for s in ids)
print(f"{booted_first}/5 guests printed their console marker before the reboot", flush=True)
before = {s: vmm_pid(s) for s in ids}
assert all(before.values()), f"a server has no running VMM: {before}"
routers_in_plan = wait("a converge with every router", lambda: (lambda d: d and d["routers"] >= N + 1 and d)(
    dataplane(0)), 60, 0.2)["routers"]

# 2. The reboot: everything but the state directory is gone.
subprocess.run(["bash", "-c", "simulate_reboot && fresh_host"], check=True)
left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
assert sum(l.startswith(os.environ["TAG"] + "-") for l in left.splitlines()) == 1, left

# 3. `onestack up` on the same state directory.
wall = time.time()
t0, api = start()
fig = {"api": api}
login("demo")
pending = set(ids)
marker_pending = set(ids)
clean = None
first_conv = None
while time.monotonic() - t0 < 600 and (pending or clean is None):
    d = dataplane(wall)
    if d and first_conv is None:
        first_conv = (time.monotonic() - t0, d["changes"], d["millis"], len(d["errors"]))
    if d and clean is None and not d["errors"] and d["routers"] >= routers_in_plan:
        clean = time.monotonic() - t0
    for s in list(pending):
        p = vmm_pid(s)
        if p and p != before[s] and active(s):
            pending.discard(s)
    if not pending and "all_active" not in fig:
        fig["all_active"] = time.monotonic() - t0
    time.sleep(0.1)
if pending or clean is None:
    sys.exit(f"not restored after 600 s: {len(pending)} servers pending, dataplane clean={clean}\n" + log_tail())
fig["clean"] = clean
fig["restored"] = max(fig["all_active"], clean)
while time.monotonic() - t0 < 600 and marker_pending:
    marker_pending = {s for s in marker_pending if markers(s) < 2}
    time.sleep(0.5)
fig["markers"] = None if marker_pending else time.monotonic() - t0
cstat = json.load(open(os.path.join(STATE, "compute-status.json")))
r = cstat.get("recovery") or {}
status = subprocess.run([BIN, "--state-dir", STATE, "status"], capture_output=True, text=True).stdout
print(f"""
================ onestack reboot-restore benchmark ================
host:                        {os.cpu_count()} cores, {os.uname().release}; binary {BIN}
restored:                    {N} networks (subnet + router each) + demo's private/router1, {N} instances (m1.nano, QEMU TCG)
up -> API answering:         {fig["api"]:.2f} s
up -> first converge:        {f"{first_conv[0]:.2f} s ({first_conv[1]} changes in {first_conv[2]} ms, {first_conv[3]} errors)" if first_conv else "?"}
up -> dataplane clean:       {fig["clean"]:.2f} s ({routers_in_plan} routers)
up -> 5 ACTIVE + new VMMs:   {fig["all_active"]:.2f} s
RESTORED (both of the above): {fig["restored"]:.2f} s
up -> 5 guests booted again: {f'{fig["markers"]:.1f} s' if fig["markers"] else f"(missing on {len(marker_pending)} after 600 s)"} (console marker, informative)
compute recovery report:     {r.get("adopted")} adopted, {r.get("restarted")} restarted, {len(r.get("errors") or [])} errors
===================================================================
{status}""")
PYEOF
