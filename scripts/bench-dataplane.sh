#!/usr/bin/env bash
# Benchmark the onestack Linux dataplane with real traffic, entirely inside network
# namespaces this script creates (the machine's own interfaces are never touched):
#
#   - a "host" namespace where target/release/onestack converges its dataplane
#     (`dataplane = "host"`, `host_netns`, a unique `namespace_prefix`, no masquerade);
#   - through the Neutron API: one network/subnet, a security group allowing all IPv4
#     ingress, two ports bound (binding:host_id) after their taps exist: veths named
#     `tap<first 11 chars of the port id>` in the host namespace whose other ends are
#     eth0 of two "instance" namespaces (the ports' MACs, the ports' fixed IPs /24);
#   - ping latency and TCP throughput (iperf3) between the two instances across the
#     onestack bridge with nftables security groups, against the same between two
#     namespaces joined by a plain veth pair; a FIGURES block with the ratios;
#   - the converge benchmark of tests/dataplane.rs (its BENCH line).
#
# Usage (root): scripts/bench-dataplane.sh
#   env: BENCH_PINGS=50 BENCH_IPERF_SECONDS=5 BENCH_SKIP_CONVERGE=1 (skip the cargo part)
#        ONESTACK_BIN=<binary> (use it as is instead of building target/release/onestack)
# Cleanup (trap): the server (by PID), dnsmasq by the pid files under the state dir
# (command line verified), every namespace with this run's prefix, the temp dir.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
BIN="${ONESTACK_BIN:-$ROOT/target/release/onestack}"
PINGS="${BENCH_PINGS:-50}"
IPERF_S="${BENCH_IPERF_SECONDS:-5}"

[[ $(id -u) -eq 0 ]] || { echo "run as root (network namespaces)"; exit 1; }
for t in ip nft dnsmasq curl; do
    command -v "$t" >/dev/null || { echo "$t is required"; exit 1; }
done

echo "== tools"
need=()
command -v ping >/dev/null || need+=(iputils-ping)
command -v iperf3 >/dev/null || need+=(iperf3)
if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
        { timeout 300 apt-get update -qq && timeout 300 apt-get install -y -qq \
            --no-install-recommends "${need[@]}" >/dev/null; }
fi
PING="$(command -v ping)"
IPERF="$(command -v iperf3)"

if [[ -z "${ONESTACK_BIN:-}" ]]; then
    echo "== build"
    cargo build --release --quiet
fi
VENV="$(scripts/venv.sh)"
PY="$VENV/bin/python"

TAG="ob$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
HOST="$TAG-host"
WORK="$(mktemp -d /tmp/onestack-bench-dataplane.XXXXXX)"
STATE="$WORK/state"
SERVER_PID=""
IPERF_PID=""

stop_pid() {   # pid: TERM, wait up to 5 s, KILL
    local pid="$1"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    set +e
    stop_pid "$IPERF_PID"
    stop_pid "$SERVER_PID"   # first: it would rebuild what is removed below
    # dnsmasq by pid file, only if its command line names our state directory
    for f in "$STATE"/dataplane/dhcp/*/pid; do
        [[ -f "$f" ]] || continue
        pid="$(tr -dc 0-9 <"$f")"
        [[ -n "$pid" && -r /proc/$pid/cmdline ]] || continue
        if tr '\0' ' ' </proc/"$pid"/cmdline | grep -q -- "dnsmasq.*$STATE"; then
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        [[ "$ns" == "$TAG"-* ]] && ip netns del "$ns" 2>/dev/null
    done
    left="$(ip netns list 2>/dev/null | awk '{print $1}' | grep -c "^$TAG-" || true)"
    [[ "$left" == 0 ]] || echo "cleanup: $left namespaces of $TAG left"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== fake host namespace $HOST; onestack with dataplane = host inside it"
ip netns add "$HOST"
ip -n "$HOST" link set lo up
PROFILE="$WORK/profile.toml"
grep -q 'dataplane = "host"' profiles/default.toml
grep -q 'masquerade = true' profiles/default.toml
sed -e "s|^dataplane = \"host\"|dataplane = \"host\"\nhost_netns = \"$HOST\"\nnamespace_prefix = \"$TAG-\"|" \
    -e 's|^masquerade = true|masquerade = false|' \
    -e 's|^listen = .*|listen = "127.0.0.1:0"|' \
    -e 's|^bootstrap_image = .*|bootstrap_image = ""|' \
    profiles/default.toml >"$PROFILE"
mkdir -p "$STATE"
RUST_LOG=warn "$BIN" --state-dir "$STATE" up --listen 127.0.0.1:0 --profile "$PROFILE" \
    >"$WORK/server.log" 2>&1 </dev/null &
SERVER_PID=$!
BASE=""
for _ in $(seq 200); do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; echo "onestack exited"; exit 1; }
    if [[ -f "$STATE/runtime.json" ]]; then
        listen="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["listen"])' \
            "$STATE/runtime.json" 2>/dev/null || true)"
        if [[ -n "$listen" ]] && curl -sf -o /dev/null "http://$listen/identity/v3"; then
            BASE="http://$listen"; break
        fi
    fi
    sleep 0.1
done
[[ -n "$BASE" ]] || { tail -50 "$WORK/server.log"; echo "onestack not ready"; exit 1; }
echo "onestack pid $SERVER_PID at $BASE"
"$BIN" openrc --state-dir "$STATE" --user admin >"$WORK/openrc"

# One Python helper for the API: `api.py setup` prints shell assignments, `api.py bind`
# sets binding:host_id on both ports.
cat >"$WORK/api.py" <<'PY'
import json, os, shlex, sys, time
import requests

env = {}
for line in open(sys.argv[1]):
    parts = shlex.split(line.strip())
    if parts and parts[0] == "export":
        parts = parts[1:]
    for p in parts:
        if "=" in p:
            k, v = p.split("=", 1)
            env[k] = v
base = sys.argv[2]
auth = {"identity": {"methods": ["password"], "password": {"user": {
    "name": env["OS_USERNAME"], "password": env["OS_PASSWORD"], "domain": {"name": "Default"}}}},
    "scope": {"project": {"name": env["OS_PROJECT_NAME"], "domain": {"name": "Default"}}}}
r = requests.post(f"{base}/identity/v3/auth/tokens", json={"auth": auth}, timeout=10)
assert r.status_code == 201, r.text
H = {"X-Auth-Token": r.headers["X-Subject-Token"]}
N = f"{base}/networking/v2.0"

def call(method, path, body=None, want=200):
    r = requests.request(method, N + path, json=body, headers=H, timeout=30)
    assert r.status_code == want, f"{method} {path} {body}: {r.status_code} {r.text}"
    return r.json() if r.text else None

if sys.argv[3] == "setup":
    net = call("POST", "/networks", {"network": {"name": "bench-net"}}, 201)["network"]
    call("POST", "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
         "cidr": "10.77.0.0/24", "name": "bench-subnet"}}, 201)
    sg = call("POST", "/security-groups", {"security_group": {"name": "bench-all"}},
              201)["security_group"]
    call("POST", "/security-group-rules", {"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4",
        "remote_ip_prefix": "0.0.0.0/0"}}, 201)
    for n in ("A", "B"):
        p = call("POST", "/ports", {"port": {"network_id": net["id"], "name": f"bench-{n}",
                 "security_groups": [sg["id"]]}}, 201)["port"]
        print(f"PORT_{n}={p['id']} MAC_{n}={p['mac_address']} "
              f"IP_{n}={p['fixed_ips'][0]['ip_address']}")
elif sys.argv[3] == "bind":
    for pid in sys.argv[4:]:
        p = call("PUT", f"/ports/{pid}", {"port": {"binding:host_id": "bench-host"}})["port"]
        assert p["binding:host_id"] == "bench-host", p
PY

echo "== network, subnet, security group (all ingress), two ports"
eval "$("$PY" "$WORK/api.py" "$WORK/openrc" "$BASE" setup)"
echo "A: $PORT_A $MAC_A $IP_A"
echo "B: $PORT_B $MAC_B $IP_B"

instance() {   # name port-id mac ip
    local ns="$TAG-$1" tap="tap${2:0:11}"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$HOST" link add "$tap" type veth peer name eth0 netns "$ns"
    ip -n "$ns" link set eth0 address "$3"
    ip -n "$ns" addr add "$4/24" dev eth0
    ip -n "$ns" link set eth0 up
}
instance vmA "$PORT_A" "$MAC_A" "$IP_A"
instance vmB "$PORT_B" "$MAC_B" "$IP_B"

echo "== bind the ports; wait for the dataplane"
MARK="$WORK/bound"; touch "$MARK"; sleep 0.01
"$PY" "$WORK/api.py" "$WORK/openrc" "$BASE" bind "$PORT_A" "$PORT_B"
STATUS="$STATE/dataplane-status.json"
ok=""
for _ in $(seq 300); do
    if [[ -f "$STATUS" && "$STATUS" -nt "$MARK" ]] && "$PY" - "$STATUS" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if s["ports"] == 2 and not s["errors"] else 1)
PY
    then ok=1; break; fi
    sleep 0.1
done
[[ -n "$ok" ]] || { cat "$STATUS" 2>/dev/null; tail -50 "$WORK/server.log"; echo "no converge"; exit 1; }
echo "dataplane: $(cat "$STATUS")"
for p in "$PORT_A" "$PORT_B"; do
    master="$(ip -n "$HOST" -o link show dev "tap${p:0:11}" | grep -o 'master [^ ]*' || true)"
    echo "tap${p:0:11}: ${master:-NO MASTER}"
done

# Baseline: two namespaces joined by a plain veth pair.
ip netns add "$TAG-pA"
ip netns add "$TAG-pB"
ip -n "$TAG-pA" link add eth0 type veth peer name eth0 netns "$TAG-pB"
for n in A B; do ip -n "$TAG-p$n" link set lo up; done
ip -n "$TAG-pA" addr add 10.78.0.1/24 dev eth0
ip -n "$TAG-pB" addr add 10.78.0.2/24 dev eth0
ip -n "$TAG-pA" link set eth0 up
ip -n "$TAG-pB" link set eth0 up

# Reachability first (ARP, conntrack), bounded.
wait_ping() {   # from-ns to-ip
    for _ in $(seq 50); do
        ip netns exec "$1" "$PING" -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "$1 cannot reach $2"; return 1
}
wait_ping "$TAG-vmA" "$IP_B"
wait_ping "$TAG-pA" 10.78.0.2

ping_avg() {   # from-ns to-ip -> "avg mdev" in ms
    ip netns exec "$1" timeout 60 "$PING" -q -c "$PINGS" -i 0.01 "$2" |
        awk -F'[/ =]+' '/^rtt|^round-trip/ {print $7, $9}'
}
iperf_bps() {   # server-ns client-ns server-ip -> bits/s received
    local out="$WORK/iperf.json"
    ip netns exec "$1" "$IPERF" -s -1 -p 5201 >/dev/null 2>&1 &
    IPERF_PID=$!
    sleep 0.5
    ip netns exec "$2" timeout $((IPERF_S + 30)) "$IPERF" -c "$3" -p 5201 -t "$IPERF_S" -J >"$out"
    stop_pid "$IPERF_PID"; IPERF_PID=""
    "$PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$out"
}

echo "== ping ($PINGS x, 10 ms apart)"
read -r OS_AVG OS_MDEV < <(ping_avg "$TAG-vmA" "$IP_B")
read -r VE_AVG VE_MDEV < <(ping_avg "$TAG-pA" 10.78.0.2)
echo "onestack: avg $OS_AVG ms (mdev $OS_MDEV); veth: avg $VE_AVG ms (mdev $VE_MDEV)"

echo "== TCP throughput (iperf3, ${IPERF_S}s)"
OS_BPS="$(iperf_bps "$TAG-vmB" "$TAG-vmA" "$IP_B")"
VE_BPS="$(iperf_bps "$TAG-pB" "$TAG-pA" 10.78.0.2)"
echo "onestack: $OS_BPS bit/s; veth: $VE_BPS bit/s"

# The security group really filters on this path: conntrack zone entries / nft rules.
NFT_RULES="$(ip netns exec "$HOST" nft list ruleset | grep -c . || true)"

CONVERGE_LINE="(skipped)"
if [[ -z "${BENCH_SKIP_CONVERGE:-}" ]]; then
    echo "== converge benchmark (tests/dataplane.rs)"
    if timeout 1200 cargo nextest run -E 'binary(dataplane)' --run-ignored only --no-capture \
        >"$WORK/converge.log" 2>&1; then
        CONVERGE_LINE="$(grep -o 'BENCH .*' "$WORK/converge.log" | tail -1)"
    else
        tail -30 "$WORK/converge.log"
        CONVERGE_LINE="(converge benchmark failed, see above)"
    fi
fi

gbps() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
cat <<EOF

==================== FIGURES ====================
path                         ping avg (ms)   mdev (ms)   TCP (Gbit/s)
onestack bridge + SG (nft)   $(printf '%-15s %-11s %s' "$OS_AVG" "$OS_MDEV" "$(gbps "$OS_BPS")")
plain veth pair              $(printf '%-15s %-11s %s' "$VE_AVG" "$VE_MDEV" "$(gbps "$VE_BPS")")
latency ratio onestack/veth:     $(ratio "$OS_AVG" "$VE_AVG")
throughput ratio onestack/veth:  $(ratio "$OS_BPS" "$VE_BPS")
pings: $PINGS at 10 ms; iperf3: ${IPERF_S}s, 1 stream; host-ns nft ruleset lines: $NFT_RULES
converge: $CONVERGE_LINE
=================================================
EOF
