#!/usr/bin/env bash
# Smoke test of the test guest built by scripts/build-test-image.sh, under QEMU TCG.
# Boots copy-on-write overlays (the image itself is never written) and waits for the
# guest's marker line on the serial console:
#
#   1. disk boot (SeaBIOS + syslinux), virtio-net NIC on a tap inside a network namespace
#      this script creates, where dnsmasq hands out an address (with option 121 classless
#      routes; its option 3 router is a dead address, so the metadata service is only
#      reachable when the guest applies option 121) and python3 -m http.server on 169.254.169.254:80 plays the metadata
#      service: expects hostname=guest-check, the leased IP, source=metadata, the public
#      key written and the `#!` user_data run; then an ACPI power-button press (QMP
#      system_powerdown) must power the guest off by itself;
#   2. disk boot, no NIC, config drive (iso9660 labelled config-2, IDE CD-ROM): expects
#      hostname=guest-config-drive ip=none source=config-drive;
#   3. disk boot, a NIC nobody answers DHCP on, no config drive: expects ip=none
#      source=none within 25 s of QEMU start;
#   4. for comparison, direct kernel boot (-kernel vmlinuz -initrd) with qboot.rom as
#      BIOS, and the same with the uncompressed vmlinux (PVH entry), network as in 1.
# Prints the time from QEMU start to the marker for each, then a FIGURES block.
# Cleanup (trap): every QEMU, dnsmasq and HTTP server by its PID, the namespace, the
# temporary directory. Exits non-zero when a marker is missing or wrong.
#
# Usage (root): scripts/check-test-image.sh [IMAGEDIR]   (default target/test-image;
# built first when missing). Not root: prints SKIP and exits 0.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
IMGDIR="${1:-$ROOT/target/test-image}"
MARKER_TIMEOUT="${CHECK_MARKER_TIMEOUT:-120}"

if [[ $(id -u) -ne 0 ]]; then
    echo "##################################################################"
    echo "SKIP: scripts/check-test-image.sh needs root (network namespace, tap)"
    echo "##################################################################"
    exit 0
fi

say() { printf 'check-test-image: %s\n' "$*"; }
die() { printf 'check-test-image: FAIL: %s\n' "$*" >&2; exit 1; }

scripts/ensure-qemu.sh
command -v dnsmasq >/dev/null || {
    say "installing dnsmasq-base"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends dnsmasq-base >/dev/null
}
PYTHON="$(command -v /usr/bin/python3 || command -v python3)" || die "python3 is required"
for t in ip qemu-img genisoimage dnsmasq; do
    command -v "$t" >/dev/null || die "$t is required"
done
if [[ ! -f $IMGDIR/test-image.qcow2 || ! -f $IMGDIR/vmlinuz || ! -f $IMGDIR/initrd.img ]]; then
    say "no image in $IMGDIR: building it"
    scripts/build-test-image.sh "$IMGDIR"
fi
IMAGE="$(cd "$IMGDIR" && pwd)/test-image.qcow2"
QBOOT=/usr/share/qemu/qboot.rom

TMP="$(mktemp -d /tmp/onestack-check-image.XXXXXX)"
NS="onestack-imgchk-$$"
SUBNET=10.254.77
GUEST_MAC=52:54:00:4f:53:01
GUEST_IP=$SUBNET.20
declare -a PIDS=()

cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT INT TERM

# --- the namespace: tap0 (DHCP + metadata) and tap1 (silent) -----------------------------
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 169.254.169.254/32 dev lo
for tap in tap0 tap1; do
    ip -n "$NS" tuntap add dev "$tap" mode tap
    ip -n "$NS" link set "$tap" up
done
ip -n "$NS" addr add "$SUBNET.1/24" dev tap0

ip netns exec "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 \
    --no-resolv --no-hosts --leasefile-ro --interface=tap0 --bind-interfaces \
    --dhcp-range="$SUBNET.10,$SUBNET.50,255.255.255.0,1h" \
    --dhcp-host="$GUEST_MAC,$GUEST_IP" \
    --dhcp-option=3,"$SUBNET.254" \
    --dhcp-option=121,"169.254.169.254/32,$SUBNET.1,0.0.0.0/0,$SUBNET.1" \
    --log-facility="$TMP/dnsmasq.log" --log-dhcp &
PIDS+=($!)

SSH_KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOnestackCheckKeyOnlyForTheSmokeTest check@onestack"
mkdir -p "$TMP/www/openstack/latest" "$TMP/cd/openstack/latest"
cat >"$TMP/www/openstack/latest/meta_data.json" <<EOF
{"uuid": "6f1c4e0a-0000-4000-8000-000000000001", "name": "guest-check", "hostname": "guest-check",
 "public_keys": {"check": "$SSH_KEY\\n"}, "keys": [{"name": "check", "type": "ssh", "data": "$SSH_KEY\\n"}],
 "availability_zone": "nova", "launch_index": 0, "project_id": "check"}
EOF
# shellcheck disable=SC2016  # $(hostname) runs in the guest
printf '#!/bin/sh\necho "user-data says hello from $(hostname)"\n' >"$TMP/www/openstack/latest/user_data"
cat >"$TMP/cd/openstack/latest/meta_data.json" <<'EOF'
{"uuid": "6f1c4e0a-0000-4000-8000-000000000002", "name": "guest-config-drive", "hostname": "guest-config-drive",
 "availability_zone": "nova", "launch_index": 0}
EOF
genisoimage -quiet -R -J -V config-2 -o "$TMP/config-drive.iso" "$TMP/cd"

ip netns exec "$NS" "$PYTHON" -m http.server 80 --bind 169.254.169.254 \
    --directory "$TMP/www" >"$TMP/http.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do
    ip netns exec "$NS" "$PYTHON" -c 'import socket; socket.create_connection(("169.254.169.254", 80), 1)' 2>/dev/null && break
    sleep 0.1
done

# --- boots -----------------------------------------------------------------------------
declare -A FIG=()
QEMU_PID=""

# boot NAME EXPECTED_MARKER_REGEX QEMU_ARGS... : starts QEMU in the namespace, waits for
# the marker, checks it, records the time; leaves QEMU running (QEMU_PID) for the caller.
boot() {
    local name="$1" expect="$2"
    shift 2
    local serial="$TMP/serial-$name.log" overlay="$TMP/overlay-$name.qcow2"
    qemu-img create -q -f qcow2 -F qcow2 -b "$IMAGE" "$overlay"
    : >"$serial"
    local t0 t1 line=""
    t0=$(date +%s%N)
    ip netns exec "$NS" qemu-system-x86_64 -machine pc,accel=tcg -m 128 -nodefaults \
        -display none -serial "file:$serial" -qmp "unix:$TMP/qmp-$name.sock,server=on,wait=off" \
        "$@" &
    QEMU_PID=$!
    PIDS+=("$QEMU_PID")
    local deadline=$((t0 + MARKER_TIMEOUT * 1000000000))
    while (($(date +%s%N) < deadline)); do
        line="$(grep -a -m1 '^onestack-guest ready ' "$serial" | tr -d '\r' || true)"
        [[ -n $line ]] && break
        kill -0 "$QEMU_PID" 2>/dev/null || break
        sleep 0.1
    done
    t1=$(date +%s%N)
    if [[ -z $line ]]; then
        echo "---- serial console of $name ----"
        tail -n 40 "$serial"
        die "$name: no marker within ${MARKER_TIMEOUT}s"
    fi
    FIG[$name]="$(awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", ns / 1e9}')"
    say "$name: ${FIG[$name]} s to: $line"
    [[ $line =~ $expect ]] || {
        echo "---- serial console of $name ----"
        tail -n 40 "$serial"
        die "$name: marker does not match /$expect/"
    }
}

stop_qemu() {
    kill "$QEMU_PID" 2>/dev/null || true
    wait "$QEMU_PID" 2>/dev/null || true
}

# Sends one QMP command to the QEMU of boot $1.
qmp() {
    "$PYTHON" - "$TMP/qmp-$1.sock" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", sys.argv[2]):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while True:
        reply = json.loads(f.readline())
        if "return" in reply or "error" in reply:
            break
    if "error" in reply:
        sys.exit(f"{cmd}: {reply['error']}")
PY
}

NIC0=(-netdev "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off"
    -device "virtio-net-pci,netdev=n0,mac=$GUEST_MAC")
disk() { echo "-drive" "file=$TMP/overlay-$1.qcow2,if=virtio,format=qcow2"; }

# 1. firmware disk boot with DHCP + metadata service, then ACPI power button.
# shellcheck disable=SC2046
boot disk-metadata "^onestack-guest ready hostname=guest-check ip=${GUEST_IP//./\\.} source=metadata$" \
    $(disk disk-metadata) "${NIC0[@]}"
serial="$TMP/serial-disk-metadata.log"
grep -q "user-data says hello from guest-check" "$serial" || die "disk-metadata: user_data did not run"
grep -q "1 public key(s) written" "$serial" || die "disk-metadata: public key not written"
grep -q "GET /openstack/latest/meta_data.json" "$TMP/http.log" || die "metadata server saw no request"
say "disk-metadata: user_data ran, public key written"
sleep 1
t0=$(date +%s%N)
qmp disk-metadata system_powerdown
for _ in $(seq 300); do
    kill -0 "$QEMU_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$QEMU_PID" 2>/dev/null; then
    tail -n 20 "$serial"
    stop_qemu
    die "disk-metadata: guest did not power off within 30 s of the ACPI power button"
fi
wait "$QEMU_PID" 2>/dev/null || true
FIG[powerdown]="$(awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN {printf "%.1f", ns / 1e9}')"
grep -q "power button pressed" "$serial" || die "disk-metadata: QEMU exited but the guest did not log the power button"
say "disk-metadata: powered off ${FIG[powerdown]} s after system_powerdown"

# 2. no NIC, config drive on an IDE CD-ROM.
# shellcheck disable=SC2046
boot disk-configdrive "^onestack-guest ready hostname=guest-config-drive ip=none source=config-drive$" \
    $(disk disk-configdrive) -drive "file=$TMP/config-drive.iso,if=ide,media=cdrom,readonly=on,format=raw"
stop_qemu

# 3. a NIC without DHCP, nothing else: ip=none source=none.
# shellcheck disable=SC2046
boot disk-nodhcp "^onestack-guest ready hostname=onestack-guest ip=none source=none$" \
    $(disk disk-nodhcp) -netdev tap,id=n1,ifname=tap1,script=no,downscript=no,vhost=off \
    -device virtio-net-pci,netdev=n1,mac=52:54:00:4f:53:02
stop_qemu
awk -v t="${FIG[disk-nodhcp]}" 'BEGIN { exit !(t <= 25) }' ||
    die "disk-nodhcp: marker after ${FIG[disk-nodhcp]} s (more than 25 s)"

# 4. direct kernel boot with qboot, for comparison.
if [[ -f $QBOOT ]]; then
    boot kernel-qboot "^onestack-guest ready hostname=guest-check ip=${GUEST_IP//./\\.} source=metadata$" \
        -bios "$QBOOT" -kernel "$IMGDIR/vmlinuz" -initrd "$IMGDIR/initrd.img" \
        -append "console=ttyS0 panic=10" "${NIC0[@]}"
    stop_qemu
    if [[ -f $IMGDIR/vmlinux ]]; then
        boot kernel-pvh "^onestack-guest ready hostname=guest-check ip=${GUEST_IP//./\\.} source=metadata$" \
            -bios "$QBOOT" -kernel "$IMGDIR/vmlinux" -initrd "$IMGDIR/initrd.img" \
            -append "console=ttyS0 panic=10" "${NIC0[@]}"
        stop_qemu
    else
        FIG[kernel-pvh]="n/a"
    fi
else
    say "no $QBOOT: direct kernel boot comparison skipped"
    FIG[kernel-qboot]="n/a"
    FIG[kernel-pvh]="n/a"
fi

echo "FIGURES (QEMU TCG, -m 128, seconds from QEMU start to the marker line)"
printf '  %-54s %s\n' \
    "firmware disk boot, DHCP + metadata service" "${FIG[disk-metadata]}" \
    "firmware disk boot, config drive, no NIC" "${FIG[disk-configdrive]}" \
    "firmware disk boot, NIC without DHCP" "${FIG[disk-nodhcp]}" \
    "direct kernel boot (vmlinuz) + qboot, DHCP + metadata" "${FIG[kernel-qboot]}" \
    "direct PVH boot (vmlinux) + qboot, DHCP + metadata" "${FIG[kernel-pvh]}" \
    "ACPI power button to QEMU exit" "${FIG[powerdown]}"
# Keep the consoles for a look afterwards (CI artifacts).
mkdir -p "$IMGDIR/check-logs"
cp "$TMP"/serial-*.log "$TMP/dnsmasq.log" "$TMP/http.log" "$IMGDIR/check-logs/" 2>/dev/null || true
say "consoles kept in $IMGDIR/check-logs"
say "all checks passed"
