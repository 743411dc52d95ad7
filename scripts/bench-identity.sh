#!/usr/bin/env bash
# Benchmark Keystone in onestack on loopback and print the figures for the closing note:
#  (a) process start -> first successful POST /identity/v3/auth/tokens (cold: empty state
#      dir incl. bootstrap; warm: restart on the same state dir),
#  (b) idle RSS after bootstrap,
#  (c) token issue throughput and (d) token validation throughput, measured with wrk.
# Usage: scripts/bench-identity.sh   (env: BENCH_DURATION=10s BENCH_THREADS=2 BENCH_CONNS=16)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${BENCH_DURATION:-10s}"
THREADS="${BENCH_THREADS:-2}"
CONNS="${BENCH_CONNS:-16}"
BIN="$PWD/target/release/onestack"

echo "== build"
cargo build --release --quiet
if ! command -v wrk >/dev/null; then
    echo "== installing wrk"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
fi
VENV="$(scripts/venv.sh)"   # python with requests, for precise start-up timing
PY="$VENV/bin/python"

WORK="$(mktemp -d /tmp/onestack-bench.XXXXXX)"
STATE="$WORK/state"
# The default profile with the dataplane off: a benchmark never touches the host's interfaces.
PROFILE="$WORK/profile.toml"
sed 's/^dataplane = "host"/dataplane = "off"/' profiles/default.toml >"$PROFILE"
grep -q '^dataplane = "off"' "$PROFILE"
PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT/identity/v3"
SERVER_PID=""

# The server is started by the python timer, so it is not our child: poll /proc (zombie = gone).
alive() { [[ -r "/proc/$1/status" ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
stop_server() {
    if [[ -n "$SERVER_PID" ]] && alive "$SERVER_PID"; then
        kill -TERM "$SERVER_PID"
        for _ in $(seq 50); do alive "$SERVER_PID" || break; sleep 0.1; done
        if alive "$SERVER_PID"; then kill -KILL "$SERVER_PID"; fi
    fi
    SERVER_PID=""
}
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT

# Starts the server, polls GET /identity/v3 then POST /auth/tokens in a tight loop;
# prints "<ms to first token> <pid> <ms to first 200 on /identity/v3>".
# On a cold state dir the admin password is read with `onestack openrc` once it exists.
time_to_first_token() {
    "$PY" - "$BIN" "$STATE" "$PORT" "$WORK/server.log" "$PROFILE" <<'PYEOF'
import json, shlex, subprocess, sys, time, requests
bin_, state, port, log, profile = sys.argv[1:]
url = f"http://127.0.0.1:{port}/identity/v3/auth/tokens"
t0 = time.monotonic()
p = subprocess.Popen([bin_, "up", "--state-dir", state, "--listen", f"127.0.0.1:{port}", "--profile", profile],
                     stdin=subprocess.DEVNULL, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                     start_new_session=True)
creds, s, ready_ms = None, requests.Session(), None
while time.monotonic() - t0 < 20:
    if p.poll() is not None:
        sys.exit(f"onestack exited with {p.returncode}; see {log}")
    if ready_ms is None:
        try:
            if s.get(url[:-len("/auth/tokens")], timeout=2).status_code == 200:
                ready_ms = (time.monotonic() - t0) * 1000
        except requests.ConnectionError:
            time.sleep(0.001)
            continue
    if creds is None:
        r = subprocess.run([bin_, "openrc", "--state-dir", state, "--user", "admin"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            env = dict(w.split("=", 1) for line in r.stdout.splitlines()
                       for w in shlex.split(line) if "=" in w)
            creds = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": env["OS_USERNAME"], "password": env["OS_PASSWORD"],
                "domain": {"name": "Default"}}}},
                "scope": {"project": {"name": env["OS_PROJECT_NAME"],
                                      "domain": {"name": "Default"}}}}}
        else:
            time.sleep(0.002)
            continue
    try:
        r = s.post(url, json=creds, timeout=2)
        if r.status_code == 201:
            print(f"{(time.monotonic() - t0) * 1000:.1f} {p.pid} {ready_ms:.1f}")
            sys.exit(0)
    except requests.ConnectionError:
        pass
    time.sleep(0.001)
p.kill()
sys.exit(f"no token within 20 s; see {log}")
PYEOF
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

echo "== (a) start -> first token, cold (empty state dir, includes bootstrap)"
read -r COLD_MS SERVER_PID COLD_READY_MS < <(time_to_first_token) || true
[[ -n "$SERVER_PID" ]] || { echo "cold start failed; log:"; tail -50 "$WORK/server.log"; exit 1; }
echo "cold: ${COLD_MS} ms (API answering after ${COLD_READY_MS} ms)"
sleep 2
IDLE_RSS_COLD="$(rss_kb "$SERVER_PID")"
stop_server

echo "== (a) start -> first token, warm (restart on the same state dir)"
read -r WARM_MS SERVER_PID WARM_READY_MS < <(time_to_first_token) || true
[[ -n "$SERVER_PID" ]] || { echo "warm start failed; log:"; tail -50 "$WORK/server.log"; exit 1; }
echo "warm: ${WARM_MS} ms (API answering after ${WARM_READY_MS} ms)"

echo "== (b) idle RSS after 3 s idle"
sleep 3
IDLE_RSS="$(rss_kb "$SERVER_PID")"
echo "VmRSS: ${IDLE_RSS} kB (after cold bootstrap: ${IDLE_RSS_COLD} kB)"

# Credentials and a token for the load runs.
eval "$("$BIN" openrc --state-dir "$STATE" --user admin)"
AUTH_JSON="$("$PY" -c 'import json,os; print(json.dumps({"auth":{"identity":{"methods":["password"],"password":{"user":{"name":os.environ["OS_USERNAME"],"password":os.environ["OS_PASSWORD"],"domain":{"name":"Default"}}}},"scope":{"project":{"name":os.environ["OS_PROJECT_NAME"],"domain":{"name":"Default"}}}}}))')"
TOKEN="$(curl -sS -o /dev/null -D - -H 'Content-Type: application/json' -d "$AUTH_JSON" "$BASE/auth/tokens" \
    | awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r')"
[[ -n "$TOKEN" ]] || { echo "could not issue a token"; exit 1; }

LUA="$WORK/issue.lua"
"$PY" - "$AUTH_JSON" >"$LUA" <<'PYEOF'
import sys
body = sys.argv[1].replace("\\", "\\\\").replace("]]", "] ]")
print('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
      f'wrk.body = [[{body}]]')
PYEOF

run_wrk() {  # name, extra wrk args...
    local name="$1"; shift
    echo "== $name: wrk -t$THREADS -c$CONNS -d$DURATION"
    local out="$WORK/$name.txt"
    timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" | tee "$out"
}
pick() { awk -v k="$2" '$1==k || $1==k":" {print $2}' "$WORK/$1.txt" | head -1; }
non2xx() { local n; n="$(awk '/Non-2xx/ {print $NF}' "$WORK/$1.txt")"; echo "${n:-0}"; }

run_wrk issue -s "$LUA" "$BASE/auth/tokens"
run_wrk validate -H "X-Auth-Token: $TOKEN" -H "X-Subject-Token: $TOKEN" "$BASE/auth/tokens"
LOADED_RSS="$(rss_kb "$SERVER_PID")"
stop_server

cat <<EOF

================ onestack identity benchmark ================
host:                       $(nproc) cores, $(uname -r); load tool: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')
start -> first token, cold: ${COLD_MS} ms   (goal < 200 ms; GET /identity/v3 200 after ${COLD_READY_MS} ms)
start -> first token, warm: ${WARM_MS} ms   (GET /identity/v3 200 after ${WARM_READY_MS} ms)
idle RSS after bootstrap:   $((IDLE_RSS / 1024)) MB (${IDLE_RSS} kB)   (goal < 30 MB)
RSS after load runs:        $((LOADED_RSS / 1024)) MB
token issue  (POST):        $(pick issue Requests/sec) req/s, avg $(awk '$1=="Latency" {print $2; exit}' "$WORK/issue.txt"), p99 $(pick issue 99%), non-2xx: $(non2xx issue)
token validate (GET):       $(pick validate Requests/sec) req/s, avg $(awk '$1=="Latency" {print $2; exit}' "$WORK/validate.txt"), p99 $(pick validate 99%), non-2xx: $(non2xx validate)   (goal >= 5000/s)
wrk settings:               $THREADS threads, $CONNS connections, $DURATION per run, 127.0.0.1
==============================================================
EOF
