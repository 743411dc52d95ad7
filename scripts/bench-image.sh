#!/usr/bin/env bash
# Benchmark Glance (/image) in onestack on loopback and print the figures for the closing
# note: upload and download throughput of a large image (2 GiB of random data by default)
# through PUT/GET /image/v2/images/{id}/file with curl, compared with `cp` of the same file
# on the same disk (ratio), and the server's RSS during the upload (peak growth over the
# pre-upload RSS; the goal is < 64 MB, i.e. the upload streams).
# Usage: scripts/bench-image.sh   (env: BENCH_SIZE_MB=2048 BENCH_DIR=/var/tmp)
# Loopback only; the server runs with identity+image only (no host networking), on a temp
# state dir and a free port; its process and all files are removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
SIZE_MB="${BENCH_SIZE_MB:-2048}"
BIN="$ROOT/target/release/onestack"
MAX_TIME=900   # seconds, per curl transfer

echo "== build"
cargo build --release --quiet
command -v curl >/dev/null || { echo "curl is required"; exit 1; }

WORK="$(mktemp -d "${BENCH_DIR:-/var/tmp}/onestack-bench-image.XXXXXX")"
STATE="$WORK/state"
SERVER_PID=""
SAMPLER_PID=""

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID"; fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
stop_sampler() {
    if [[ -n "$SAMPLER_PID" ]] && kill -0 "$SAMPLER_PID" 2>/dev/null; then
        kill -TERM "$SAMPLER_PID"
        wait "$SAMPLER_PID" 2>/dev/null || true
    fi
    SAMPLER_PID=""
}
cleanup() { stop_sampler; stop_server; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Space: source + stored copy + downloaded copy + cp copy.
need_kb=$((SIZE_MB * 1024 * 4 + 512 * 1024))
avail_kb="$(df -Pk "$WORK" | awk 'NR==2 {print $4}')"
if ((avail_kb < need_kb)); then
    echo "not enough space in $WORK: need $((need_kb / 1024)) MB, have $((avail_kb / 1024)) MB"
    echo "(set BENCH_SIZE_MB lower or BENCH_DIR elsewhere)"
    exit 1
fi

now() { date +%s.%N; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", b / 1048576 / s; else print "inf" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
status_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }

echo "== test file: ${SIZE_MB} MiB of random data (declared raw)"
SRC="$WORK/src.img"
dd if=/dev/urandom of="$SRC" bs=1M count="$SIZE_MB" status=none
sync "$SRC"
SIZE="$(stat -c %s "$SRC")"
SRC_SHA512="$(sha512sum "$SRC" | awk '{print $1}')"

echo "== baseline: cp on the same disk"
t0="$(now)"; cp "$SRC" "$WORK/cp.img"; t1="$(now)"; sync "$WORK/cp.img"; t2="$(now)"
CP_S="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')"
CP_SYNC_S="$(awk -v a="$t0" -v b="$t2" 'BEGIN {print b - a}')"
rm -f "$WORK/cp.img"
echo "cp: ${CP_S}s, cp+fsync: ${CP_SYNC_S}s"

echo "== start onestack (identity + image only, 127.0.0.1:0)"
PROFILE="$WORK/bench.toml"
# The default profile with only identity+image (no host networking), no bootstrap image
# and no byte quota. `enabled = [...]` may span several lines.
awk '/^enabled[[:space:]]*=/ { print "enabled = [\"identity\", \"image\"]"; if ($0 !~ /\]/) skip = 1; next }
     skip { if ($0 ~ /\]/) skip = 0; next }
     { print }' profiles/default.toml |
    sed -E \
        -e 's/^dataplane[[:space:]]*=.*/dataplane = "off"/' \
        -e 's/^create_default_networks[[:space:]]*=.*/create_default_networks = false/' \
        -e 's/^bootstrap_image[[:space:]]*=.*/bootstrap_image = ""/' \
        -e 's/^quota_bytes[[:space:]]*=.*/quota_bytes = -1/' >"$PROFILE"

"$BIN" up --state-dir "$STATE" --listen 127.0.0.1:0 --profile "$PROFILE" \
    </dev/null >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
BASE=""
for _ in $(seq 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "onestack exited; log:"; tail -30 "$WORK/server.log"; exit 1; }
    if [[ -r "$STATE/runtime.json" ]]; then
        listen="$(sed -n 's/.*"listen"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$STATE/runtime.json")"
        if [[ -n "$listen" && "$listen" != *:0 ]] &&
            curl -fsS -o /dev/null --max-time 2 "http://$listen/identity/v3"; then
            BASE="http://$listen"
            break
        fi
    fi
    sleep 0.1
done
[[ -n "$BASE" ]] || { echo "onestack not ready in 30 s; log:"; tail -30 "$WORK/server.log"; exit 1; }
echo "listening on $BASE (pid $SERVER_PID)"

eval "$("$BIN" openrc --state-dir "$STATE" --user admin)"
AUTH_JSON="$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","password":"%s","domain":{"name":"Default"}}}},"scope":{"project":{"name":"%s","domain":{"name":"Default"}}}}}' \
    "$OS_USERNAME" "$OS_PASSWORD" "$OS_PROJECT_NAME")"
TOKEN="$(curl -sS -o /dev/null -D - -H 'Content-Type: application/json' -d "$AUTH_JSON" \
    "$BASE/identity/v3/auth/tokens" | awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r')"
[[ -n "$TOKEN" ]] || { echo "could not issue a token"; exit 1; }

IMAGE_ID="$(curl -sS --fail-with-body -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
    -d '{"name":"bench","disk_format":"raw","container_format":"bare"}' "$BASE/image/v2/images" |
    sed -n 's/.*"id"[[:space:]]*:[[:space:]]*"\([0-9a-f-]*\)".*/\1/p' | head -1)"
[[ -n "$IMAGE_ID" ]] || { echo "could not create the image"; exit 1; }
FILE_URL="$BASE/image/v2/images/$IMAGE_ID/file"

sleep 1
RSS_BEFORE="$(status_kb "$SERVER_PID" VmRSS)"
HWM_BEFORE="$(status_kb "$SERVER_PID" VmHWM)"
# RSS sampler: every 20 ms, the highest VmRSS seen goes to $WORK/rss.peak.
(
    peak=0
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        r="$(awk '$1=="VmRSS:" {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)"
        if ((${r:-0} > peak)); then peak="$r"; echo "$peak" >"$WORK/rss.peak"; fi
        sleep 0.02
    done
) &
SAMPLER_PID=$!

echo "== upload: curl -T (PUT $FILE_URL)"
read -r UP_CODE UP_S < <(curl -sS -o "$WORK/upload.out" --max-time "$MAX_TIME" -X PUT -T "$SRC" \
    -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/octet-stream' -H 'Expect:' \
    -w '%{http_code} %{time_total}\n' "$FILE_URL")
sleep 0.2
stop_sampler
RSS_PEAK="$(cat "$WORK/rss.peak" 2>/dev/null || echo 0)"
HWM_AFTER="$(status_kb "$SERVER_PID" VmHWM)"
RSS_AFTER="$(status_kb "$SERVER_PID" VmRSS)"
if [[ "$UP_CODE" != 204 ]]; then
    echo "upload failed: HTTP $UP_CODE"; cat "$WORK/upload.out"; echo; tail -20 "$WORK/server.log"; exit 1
fi
SHOW="$(curl -sS -H "X-Auth-Token: $TOKEN" "$BASE/image/v2/images/$IMAGE_ID")"
field() { printf '%s' "$SHOW" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\{0,1\}\([^\",}]*\).*/\1/p" | head -1; }
STATUS="$(field status)"; IMG_SIZE="$(field size)"; IMG_SHA="$(field os_hash_value)"
echo "image: status=$STATUS size=$IMG_SIZE"
[[ "$STATUS" == active && "$IMG_SIZE" == "$SIZE" && "$IMG_SHA" == "$SRC_SHA512" ]] ||
    { echo "uploaded image is wrong: $SHOW"; exit 1; }

echo "== download: curl (GET $FILE_URL)"
sync
read -r DOWN_CODE DOWN_S < <(curl -sS -o "$WORK/down.img" --max-time "$MAX_TIME" \
    -H "X-Auth-Token: $TOKEN" -w '%{http_code} %{time_total}\n' "$FILE_URL")
[[ "$DOWN_CODE" == 200 ]] || { echo "download failed: HTTP $DOWN_CODE"; exit 1; }
if cmp -s "$SRC" "$WORK/down.img"; then SAME=yes; else SAME=NO; fi
rm -f "$WORK/down.img"
RSS_END="$(status_kb "$SERVER_PID" VmRSS)"
HWM_END="$(status_kb "$SERVER_PID" VmHWM)"
stop_server

GROWTH_KB=$((RSS_PEAK - RSS_BEFORE))
HWM_GROWTH_KB=$((HWM_AFTER - RSS_BEFORE))
VERDICT="OK"; ((GROWTH_KB < 65536 && HWM_GROWTH_KB < 65536)) || VERDICT="OVER GOAL"

cat <<EOF

================ onestack image benchmark ================
host:                  $(nproc) cores, $(uname -r); disk: $(df -P "$WORK" | awk 'NR==2 {print $1}') ($(findmnt -no FSTYPE -T "$WORK" 2>/dev/null || echo ?))
image:                 $SIZE bytes ($SIZE_MB MiB) random data, disk_format raw, 127.0.0.1
upload   (curl -T PUT): $(mbps "$SIZE" "$UP_S") MB/s (${UP_S}s, HTTP $UP_CODE; includes server md5+sha512+format check+fsync)
download (curl GET):    $(mbps "$SIZE" "$DOWN_S") MB/s (${DOWN_S}s, HTTP $DOWN_CODE; byte-identical: $SAME)
cp same disk:           $(mbps "$SIZE" "$CP_S") MB/s (${CP_S}s); cp+fsync $(mbps "$SIZE" "$CP_SYNC_S") MB/s (${CP_SYNC_S}s)
ratio upload/cp+fsync:  $(ratio "$CP_SYNC_S" "$UP_S")   (1.00 = as fast as cp+fsync)
ratio download/cp:      $(ratio "$CP_S" "$DOWN_S")
RSS before upload:      $((RSS_BEFORE / 1024)) MB (${RSS_BEFORE} kB; VmHWM ${HWM_BEFORE} kB)
RSS peak during upload: $((RSS_PEAK / 1024)) MB (sampled every 20 ms) -> growth $((GROWTH_KB / 1024)) MB (${GROWTH_KB} kB)
VmHWM after upload:     $((HWM_AFTER / 1024)) MB -> growth $((HWM_GROWTH_KB / 1024)) MB   [goal < 64 MB: $VERDICT]
RSS after upload/down:  $((RSS_AFTER / 1024)) MB / $((RSS_END / 1024)) MB (VmHWM at end $((HWM_END / 1024)) MB)
===========================================================
EOF
