#!/usr/bin/env bash
# Benchmark the API listener under an unauthenticated connection flood on loopback and
# print the figures for the closing note:
#  (a) onestack's VmRSS before, during and after the flood, and its open files during it;
#  (b) token issue and GET /compute/v2.1/servers latency on fresh connections (median
#      and max of 20 each) before and during the flood, and after the clients leave.
# The flood: BENCH_CONNECTIONS (default 20,000) connections from many 127.x source
# addresses, split over processes of at most 9,000 (file descriptors are per process),
# every other one sending half a request line and headers, all held open.
# Figures only, no pass/fail. Uses target/release/onestack when built, else
# target/debug/onestack (or $ONESTACK_BIN); builds nothing.
# Usage: scripts/bench-flood.sh   (env: ONESTACK_BIN, BENCH_CONNECTIONS=20000)
# Loopback only, dataplane off; onestack and the flood processes are stopped by pid and
# the temp dir removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
if [[ -n "${ONESTACK_BIN:-}" ]]; then
    BIN="$ONESTACK_BIN"
elif [[ -x "$TARGET/release/onestack" ]]; then
    BIN="$TARGET/release/onestack"
else
    BIN="$TARGET/debug/onestack"
fi
[[ -x "$BIN" ]] || { echo "no onestack binary at $BIN: run cargo build first"; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required"; exit 1; }
TOTAL="${BENCH_CONNECTIONS:-20000}"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

sed 's/dataplane = "host"/dataplane = "off"/' profiles/default.toml >"$WORK/profile.toml"
mkdir -m 0700 "$WORK/state"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
RUST_LOG=warn "$BIN" --state-dir "$WORK/state" up --listen "127.0.0.1:$PORT" \
    --profile "$WORK/profile.toml" >"$WORK/out.log" 2>"$WORK/err.log" &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 100); do
    [[ -f "$WORK/state/runtime.json" ]] && curl -sf "http://127.0.0.1:$PORT/identity/v3" >/dev/null && break
    sleep 0.2
done

rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$SERVER/status"; }
files() { find "/proc/$SERVER/fd" -mindepth 1 -maxdepth 1 | wc -l; }

cat >"$WORK/latency.py" <<'EOF'
import json, statistics, sys, time, urllib.request
base, pw, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"id": "default"}, "password": pw}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}).encode()
issue, lists = [], []
for _ in range(n):
    t = time.monotonic()
    req = urllib.request.Request(base + "/identity/v3/auth/tokens", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        token = r.headers["X-Subject-Token"]
    issue.append((time.monotonic() - t) * 1000)
    t = time.monotonic()
    req = urllib.request.Request(base + "/compute/v2.1/servers", headers={"X-Auth-Token": token})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()
    lists.append((time.monotonic() - t) * 1000)
fmt = lambda v: f"median {statistics.median(v):.0f} ms, max {max(v):.0f} ms"
print(f"token issue {fmt(issue)}; server list {fmt(lists)}")
EOF

cat >"$WORK/flood.py" <<'EOF'
import socket, sys, time
port, count, net = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
held = []
for i in range(count):
    s = socket.socket()
    s.settimeout(10)
    try:
        s.bind((f"127.{net}.{i // 250}.{i % 250 + 1}", 0))
        s.connect(("127.0.0.1", port))
        if i % 2:
            s.send(b"GET /compute/v2.1/servers HTTP/1.1\r\nHost: x\r\nX-Auth-To")
        held.append(s)
    except OSError:
        s.close()
print(len(held), flush=True)
sys.stdin.read()
EOF

PW="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_password"])' "$WORK/state/credentials.json")"
BASE="http://127.0.0.1:$PORT"
echo "onestack $BIN on $BASE"
python3 "$WORK/latency.py" "$BASE" "$PW" 5 >/dev/null
BASELINE="$(rss_mb)"
echo "before:  RSS ${BASELINE} MB; $(python3 "$WORK/latency.py" "$BASE" "$PW" 20)"

STARTED=$(date +%s.%N)
NET=1
LEFT=$TOTAL
while ((LEFT > 0)); do
    N=$((LEFT > 9000 ? 9000 : LEFT))
    mkfifo "$WORK/in$NET"
    python3 "$WORK/flood.py" "$PORT" "$N" "$NET" <"$WORK/in$NET" >"$WORK/opened$NET" &
    PIDS+=("$!")
    exec {fd}>"$WORK/in$NET"
    LEFT=$((LEFT - N))
    NET=$((NET + 1))
done
OPENED=0
for ((i = 1; i < NET; i++)); do
    until [[ -s "$WORK/opened$i" ]]; do sleep 0.2; done
    OPENED=$((OPENED + $(cat "$WORK/opened$i")))
done
ELAPSED=$(python3 -c "import time; print(f'{time.time() - $STARTED:.1f}')")
echo "flood:   $OPENED of $TOTAL connections opened in ${ELAPSED} s"
echo "during:  RSS $(rss_mb) MB, $(files) open files; $(python3 "$WORK/latency.py" "$BASE" "$PW" 20)"
for ((i = 1; i < ${#PIDS[@]}; i++)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
sleep 2
echo "after:   RSS $(rss_mb) MB, $(files) open files; $(python3 "$WORK/latency.py" "$BASE" "$PW" 20)"
