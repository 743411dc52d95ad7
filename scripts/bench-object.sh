#!/usr/bin/env bash
# Benchmark object storage on loopback and print the figures for the closing note: a
# 1 GiB object (BENCH_SIZE_MB) up and down through Swift (curl, one streamed PUT and GET)
# and through S3 (boto3 from the CLI venv: a multipart upload in 8 MiB parts and a ranged
# parallel download), each with its throughput, `cp` of the same file on the same disk for
# comparison, and onestack's resident memory: before, the peak sampled every 20 ms during
# each transfer, a bulk extract of the same file as a .tar.gz (?extract-archive), and the
# kernel's high-water mark (VmHWM) at the end. Flat memory is the
# claim: the peak must not grow with the object.
# Usage: scripts/bench-object.sh   (env: ONESTACK_BIN, BENCH_SIZE_MB=1024, BENCH_DIR=/var/tmp)
# Uses the binary already built (target/release, else target/debug); the server runs on
# a temp state dir and a free port with the dataplane off; it and its files go on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
SIZE_MB="${BENCH_SIZE_MB:-1024}"
if [[ -n "${ONESTACK_BIN:-}" ]]; then BIN="$ONESTACK_BIN"
elif [[ -x "$ROOT/target/release/onestack" ]]; then BIN="$ROOT/target/release/onestack"
else BIN="$ROOT/target/debug/onestack"; fi
[[ -x "$BIN" ]] || { echo "no onestack binary at $BIN: run cargo build first"; exit 1; }
VENV="$(scripts/venv.sh)"

WORK="$(mktemp -d "${BENCH_DIR:-/var/tmp}/onestack-bench-object.XXXXXX")"
SERVER_PID=""
SAMPLER_PID=""
cleanup() {
    if [[ -n "$SAMPLER_PID" ]] && kill -0 "$SAMPLER_PID" 2>/dev/null; then
        kill "$SAMPLER_PID"; wait "$SAMPLER_PID" 2>/dev/null || true
    fi
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
for _ in $(seq 300); do curl -sf "$BASE/identity/v3" >/dev/null && break; sleep 0.1; done

PASSWORD="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["demo_password"])' "$WORK/state/credentials.json")"
AUTH="{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"demo\",\"domain\":{\"name\":\"Default\"},\"password\":\"$PASSWORD\"}}},\"scope\":{\"project\":{\"name\":\"demo\",\"domain\":{\"name\":\"Default\"}}}}}"
curl -sf -D "$WORK/h" -o "$WORK/tok.json" -H 'content-type: application/json' -d "$AUTH" "$BASE/identity/v3/auth/tokens"
TOKEN="$(awk 'tolower($1)=="x-subject-token:" {print $2}' "$WORK/h" | tr -d '\r')"
read -r PROJECT USER_ID < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["token"]; print(t["project"]["id"], t["user"]["id"])' "$WORK/tok.json")
SWIFT="$BASE/object-storage/v1/AUTH_$PROJECT"
curl -sf -X PUT -H "X-Auth-Token: $TOKEN" "$SWIFT/bench" -o /dev/null
read -r ACCESS SECRET < <(curl -sf -H "X-Auth-Token: $TOKEN" -H 'content-type: application/json' \
    -d "{\"tenant_id\":\"$PROJECT\"}" "$BASE/identity/v3/users/$USER_ID/credentials/OS-EC2" \
    | python3 -c 'import json,sys; c=json.load(sys.stdin)["credential"]; print(c["access"], c["secret"])')

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status"; }
start_sampler() {
    echo 0 > "$WORK/peak"
    ( peak=0; while kill -0 "$SERVER_PID" 2>/dev/null; do
        r="$(rss_kib)"; (( r > peak )) && { peak=$r; echo "$peak" > "$WORK/peak"; }
        sleep 0.02; done ) &
    SAMPLER_PID=$!
}
stop_sampler() { kill "$SAMPLER_PID"; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""; cat "$WORK/peak"; }
now() { date +%s.%N; }
report() { # label t0 t1 peak_kib
    awk -v l="$1" -v a="$2" -v b="$3" -v mb="$SIZE_MB" -v p="$4" \
        'BEGIN{printf "%-34s %7.2f s  %8.1f MB/s", l, b-a, mb*1.048576/(b-a); if (p > 0) printf "  peak RSS %6.1f MiB", p/1024; printf "\n"}'
}

echo "object size: $SIZE_MB MiB; binary: $BIN"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom > "$WORK/src.bin"
SUM="$(sha256sum "$WORK/src.bin" | cut -d' ' -f1)"
sync
t0="$(now)"; cp "$WORK/src.bin" "$WORK/cp.bin"; sync "$WORK/cp.bin"; t1="$(now)"
report "cp (same disk, then sync)" "$t0" "$t1" 0
rm -f "$WORK/cp.bin"
BASE_RSS="$(rss_kib)"
echo "onestack RSS before the transfers: $(awk -v k="$BASE_RSS" 'BEGIN{printf "%.1f", k/1024}') MiB"

start_sampler
t0="$(now)"
curl -sf -X PUT -H "X-Auth-Token: $TOKEN" -T "$WORK/src.bin" "$SWIFT/bench/big" -o /dev/null
t1="$(now)"
report "Swift PUT (one stream)" "$t0" "$t1" "$(stop_sampler)"
start_sampler
t0="$(now)"
curl -sf -H "X-Auth-Token: $TOKEN" "$SWIFT/bench/big" -o "$WORK/back.bin"
t1="$(now)"
report "Swift GET (one stream)" "$t0" "$t1" "$(stop_sampler)"
[[ "$(sha256sum "$WORK/back.bin" | cut -d' ' -f1)" == "$SUM" ]] || { echo "Swift GET: sha256 differs"; exit 1; }
rm -f "$WORK/back.bin"
curl -sf -X DELETE -H "X-Auth-Token: $TOKEN" "$SWIFT/bench/big" -o /dev/null

s3() { # up|down
    "$VENV/bin/python" - "$1" "$BASE/s3" "$ACCESS" "$SECRET" "$WORK" <<'EOF'
import sys, boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
op, url, access, secret, work = sys.argv[1:]
c = boto3.client("s3", endpoint_url=url, aws_access_key_id=access, aws_secret_access_key=secret,
                 region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
cfg = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=4)
if op == "up":
    c.upload_file(f"{work}/src.bin", "bench", "big-s3", Config=cfg)
else:
    c.download_file("bench", "big-s3", f"{work}/back.bin", Config=cfg)
EOF
}
start_sampler
t0="$(now)"; s3 up; t1="$(now)"
report "S3 multipart upload (8 MiB parts)" "$t0" "$t1" "$(stop_sampler)"
start_sampler
t0="$(now)"; s3 down; t1="$(now)"
report "S3 download (4 ranged streams)" "$t0" "$t1" "$(stop_sampler)"
[[ "$(sha256sum "$WORK/back.bin" | cut -d' ' -f1)" == "$SUM" ]] || { echo "S3 GET: sha256 differs"; exit 1; }
rm -f "$WORK/back.bin"

# Bulk extract: the same file in a .tar.gz, streamed in, ungzipped and stored as it
# arrives (the archive is never held whole).
mkdir -p "$WORK/tree/extracted"
ln "$WORK/src.bin" "$WORK/tree/extracted/big"
tar -C "$WORK/tree" -czf "$WORK/big.tar.gz" extracted
start_sampler
t0="$(now)"
curl -sf -X PUT -H "X-Auth-Token: $TOKEN" -H "Accept: application/json" -T "$WORK/big.tar.gz" \
    "$SWIFT?extract-archive=tar.gz" -o "$WORK/extract.json"
t1="$(now)"
report "Swift bulk extract (.tar.gz)" "$t0" "$t1" "$(stop_sampler)"
grep -q '"Number Files Created": *1' "$WORK/extract.json" || { echo "extract: $(cat "$WORK/extract.json")"; exit 1; }
curl -sf -H "X-Auth-Token: $TOKEN" "$SWIFT/extracted/big" -o "$WORK/back.bin"
[[ "$(sha256sum "$WORK/back.bin" | cut -d' ' -f1)" == "$SUM" ]] || { echo "extract: sha256 differs"; exit 1; }
echo "onestack VmHWM (peak RSS since start): $(awk -v k="$(hwm_kib)" 'BEGIN{printf "%.1f", k/1024}') MiB"
