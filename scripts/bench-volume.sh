#!/usr/bin/env bash
# Benchmark block storage (/volume) on loopback and print the figures for the closing
# note: time from `POST /volumes` of a 10 GiB volume to `available` (file backend:
# sparse raw files), and of a snapshot and a volume from it after 256 MiB were written.
# Usage: scripts/bench-volume.sh   (env: ONESTACK_BIN, BENCH_SIZE_GB=10, BENCH_DIR=/var/tmp)
# Uses the binary already built (target/release, else target/debug); the server runs on
# a temp state dir and a free port with the dataplane off; it and its files go on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
SIZE_GB="${BENCH_SIZE_GB:-10}"
if [[ -n "${ONESTACK_BIN:-}" ]]; then BIN="$ONESTACK_BIN"
elif [[ -x "$ROOT/target/release/onestack" ]]; then BIN="$ROOT/target/release/onestack"
else BIN="$ROOT/target/debug/onestack"; fi
[[ -x "$BIN" ]] || { echo "no onestack binary at $BIN: run cargo build first"; exit 1; }

WORK="$(mktemp -d "${BENCH_DIR:-/var/tmp}/onestack-bench-volume.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
sed 's/dataplane = "host"/dataplane = "off"/' profiles/default.toml > "$WORK/profile.toml"
"$BIN" up --state-dir "$WORK/state" --listen "127.0.0.1:$PORT" --profile "$WORK/profile.toml" \
    > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 200); do curl -sf "$BASE/identity/v3" >/dev/null && break; sleep 0.1; done

PASSWORD="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["demo_password"])' "$WORK/state/credentials.json")"
AUTH="{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"demo\",\"domain\":{\"name\":\"Default\"},\"password\":\"$PASSWORD\"}}},\"scope\":{\"project\":{\"name\":\"demo\",\"domain\":{\"name\":\"Default\"}}}}}"
curl -sf -D "$WORK/h" -o "$WORK/tok.json" -H 'content-type: application/json' -d "$AUTH" "$BASE/identity/v3/auth/tokens"
TOKEN="$(awk 'tolower($1)=="x-subject-token:" {print $2}' "$WORK/h" | tr -d '\r')"
PROJECT="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"]["project"]["id"])' "$WORK/tok.json")"
V3="$BASE/volume/v3/$PROJECT"
api() { curl -sf -H "X-Auth-Token: $TOKEN" -H 'content-type: application/json' "$@"; }
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[sys.argv[1]][sys.argv[2]])' "$@"; }
now() { date +%s.%N; }
wait_for() { # collection id
    while [[ "$(api "$V3/$1/$2" | field "${1%s}" status)" != "available" ]]; do sleep 0.01; done
}

t0="$(now)"
VID="$(api -d "{\"volume\":{\"size\":$SIZE_GB,\"name\":\"bench\"}}" "$V3/volumes" | field volume id)"
wait_for volumes "$VID"
t1="$(now)"
echo "create ${SIZE_GB} GiB volume (as a client sees it, polling) -> available: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}') s"
FILE="$WORK/state/volumes/volume-$VID"
echo "  host blocks used: $(du -k "$FILE" | cut -f1) KiB of $((SIZE_GB * 1024 * 1024)) KiB"
dd if=/dev/urandom of="$FILE" bs=1M count=256 conv=notrunc,fsync status=none
t0="$(now)"
SID="$(api -d "{\"snapshot\":{\"volume_id\":\"$VID\"}}" "$V3/snapshots" | field snapshot id)"
wait_for snapshots "$SID"
t1="$(now)"
echo "snapshot of it (256 MiB written) -> available: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}') s"
t0="$(now)"
CID="$(api -d "{\"volume\":{\"snapshot_id\":\"$SID\"}}" "$V3/volumes" | field volume id)"
wait_for volumes "$CID"
t1="$(now)"
echo "volume from that snapshot -> available: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}') s"
