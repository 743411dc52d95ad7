#!/usr/bin/env bash
# Build onestack's test guest (the role CirrOS plays for DevStack) from Debian packages
# only: Debian's kernel, a busybox-static initramfs with our own /init, and a small BIOS
# bootable disk (MBR + FAT16 partition + syslinux) holding both.
#
# Outputs in OUTDIR (default target/test-image):
#   vmlinuz           the Debian kernel (for direct kernel boot)
#   initrd.img        the initramfs (busybox, /init, the virtio/ATA/iso9660/ACPI modules)
#   test-image.qcow2  the bootable disk (virtual size 32 MiB), what Glance serves
#
# What the guest does at boot (see guest_init below): loads its modules, DHCP on eth0
# (classless static routes honoured), reads meta_data.json from the metadata service at
# 169.254.169.254 or else from a config drive (iso9660 labelled config-2), sets the
# hostname, writes public keys, runs a `#!` user_data, prints
#   onestack-guest ready hostname=<name> ip=<eth0 IPv4|none> source=<metadata|config-drive|none>
# on the serial console, then powers off cleanly on an ACPI power-button press.
#
# Downloads are Debian packages fetched with `apt-get download` into
# ${ONESTACK_CACHE:-~/.cache/onestack}/debs and reused; the build tools (syslinux, mtools,
# dosfstools, cpio, qemu-utils) are installed with apt-get when missing. A second run
# reuses the cache and takes a few seconds.
#
# Usage: scripts/build-test-image.sh [OUTDIR]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
OUTDIR="${1:-$ROOT/target/test-image}"
CACHE="${ONESTACK_CACHE:-${HOME:-/root}/.cache/onestack}"
DEBS="$CACHE/debs"
DISK_MIB=32          # whole disk; fits a 1 GiB flavor root disk with room to spare
PART_START=2048      # first partition at 1 MiB (sectors)

# Kernel modules the guest loads (dependencies are added and ordered automatically):
# virtio PCI devices (NIC, disks, SCSI), legacy/AHCI ATA for an IDE/SATA CD-ROM config
# drive, SCSI CD-ROM and disk, iso9660 for the config drive, e1000 for QEMU's default NIC,
# and the ACPI power button + evdev that acpid listens on.
GUEST_MODULES="virtio_pci virtio_net virtio_blk virtio_scsi ata_piix ata_generic ahci
sr_mod sd_mod isofs e1000 button evdev"

say() { printf 'build-test-image: %s\n' "$*"; }
die() { printf 'build-test-image: error: %s\n' "$*" >&2; exit 1; }
trap 'die "failed at line $LINENO (command: $BASH_COMMAND)"' ERR

SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
APT_LOCK=(-o DPkg::Lock::Timeout=600)

# --- build tools -------------------------------------------------------------------
need_pkgs=()
for pair in syslinux:/usr/bin/syslinux syslinux-common:/usr/lib/syslinux/mbr/mbr.bin \
    mtools:/usr/bin/mcopy dosfstools:/usr/sbin/mkfs.fat cpio:/usr/bin/cpio \
    qemu-utils:/usr/bin/qemu-img gzip:/bin/gzip xz-utils:/usr/bin/xz zstd:/usr/bin/zstd; do
    [[ -e ${pair#*:} ]] || need_pkgs+=("${pair%%:*}")
done
if ((${#need_pkgs[@]})); then
    say "installing build tools: ${need_pkgs[*]}"
    $SUDO apt-get "${APT_LOCK[@]}" install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
        { $SUDO apt-get "${APT_LOCK[@]}" update -qq && $SUDO apt-get "${APT_LOCK[@]}" install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null; } ||
        die "could not install ${need_pkgs[*]}"
fi

# --- Debian packages: kernel and busybox ----------------------------------------------
mkdir -p "$DEBS"
# The kernel package linux-image-amd64 points at (e.g. linux-image-6.1.0-57-amd64).
kernel_pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
if [[ -z $kernel_pkg ]]; then
    # Offline with empty apt lists: fall back on a kernel already in the cache.
    cached="$(find "$DEBS" -maxdepth 1 -name 'linux-image-*-amd64_*.deb' -printf '%f\n' 2>/dev/null | sort -V | tail -n1)"
    [[ -n $cached ]] || die "apt does not know linux-image-amd64 (run apt-get update) and nothing is cached in $DEBS"
    kernel_pkg="${cached%%_*}"
fi

# Prints the path of the cached .deb of package $1, downloading it first when missing.
fetch_deb() {
    local pkg="$1" deb
    deb="$(find "$DEBS" -maxdepth 1 -name "${pkg}_*.deb" -printf '%p\n' | sort -V | tail -n1)"
    if [[ -z $deb ]]; then
        say "downloading $pkg" >&2
        # apt's _apt user cannot write a root-owned cache: download as the invoking user.
        (cd "$DEBS" && apt-get -q download "$pkg" 2>&1 | { grep -v 'unsandboxed' >&2 || true; }) ||
            { $SUDO apt-get "${APT_LOCK[@]}" update -qq && (cd "$DEBS" && apt-get -q download "$pkg" >&2); } ||
            die "apt-get download $pkg failed"
        deb="$(find "$DEBS" -maxdepth 1 -name "${pkg}_*.deb" -printf '%p\n' | sort -V | tail -n1)"
        [[ -n $deb ]] || die "apt-get download $pkg left no .deb in $DEBS"
    fi
    printf '%s\n' "$deb"
}

# Unpacks a .deb once into $CACHE/extract/<deb name>; prints that directory.
extract_deb() {
    local deb="$1" dir
    dir="$CACHE/extract/$(basename "$deb" .deb)"
    if [[ ! -f $dir/.extracted ]]; then
        rm -rf "$dir" && mkdir -p "$dir"
        dpkg-deb -x "$deb" "$dir"
        touch "$dir/.extracted"
    fi
    printf '%s\n' "$dir"
}

kernel_deb="$(fetch_deb "$kernel_pkg")"
busybox_deb="$(fetch_deb busybox-static)"

# Up to date: same script, same packages, all outputs there.
stamp="$(sha256sum <"${BASH_SOURCE[0]}" | cut -c1-16) $(basename "$kernel_deb") $(basename "$busybox_deb")"
if [[ -f $OUTDIR/.build-stamp && $(cat "$OUTDIR/.build-stamp") == "$stamp" ]] &&
    [[ -f $OUTDIR/vmlinuz && -f $OUTDIR/initrd.img && -f $OUTDIR/test-image.qcow2 ]]; then
    say "up to date"
    for f in vmlinuz vmlinux initrd.img test-image.qcow2; do
        [[ -f $OUTDIR/$f ]] && printf '%s\t%s bytes\n' "$OUTDIR/$f" "$(stat -c %s "$OUTDIR/$f")"
    done
    exit 0
fi
rm -f "$OUTDIR/.build-stamp"

kernel_dir="$(extract_deb "$kernel_deb")"
busybox_dir="$(extract_deb "$busybox_deb")"
kver="$(basename "$(find "$kernel_dir/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)")"
[[ -n $kver && -f $kernel_dir/boot/vmlinuz-$kver ]] || die "no kernel found in $kernel_dir"
BUSYBOX="$busybox_dir/bin/busybox"
[[ -x $BUSYBOX ]] || die "no busybox binary in $busybox_dir"
say "kernel $kver, busybox $("$BUSYBOX" 2>&1 | head -n1 | awk '{print $2}')"

# --- initramfs ------------------------------------------------------------------------
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
WORK="$OUTDIR/.work"
rm -rf "$WORK"
mkdir -p "$WORK"
RD="$WORK/initramfs"
mkdir -p "$RD"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,mnt,root,etc/acpi/PWRF,usr/share/udhcpc,lib/modules}
cp "$BUSYBOX" "$RD/bin/busybox"
# One symlink per applet, where busybox itself would put it.
"$BUSYBOX" --list-full | while read -r applet; do
    [[ $applet == bin/busybox || -e $RD/$applet ]] && continue
    ln -s /bin/busybox "$RD/$applet"
done

# Kernel modules: resolve dependencies from each module's .modinfo "depends=" (no
# depmod needed), order them dependencies-first, decompress .ko.xz/.ko.zst/.ko.gz
# because busybox insmod reads plain ELF only.
MODROOT="$kernel_dir/lib/modules/$kver/kernel"
declare -A modfile=()
while IFS= read -r f; do
    name="$(basename "$f")"
    name="${name%%.ko*}"
    modfile[${name//-/_}]="$f"
done < <(find "$MODROOT" -name '*.ko*')

mod_plain() { # prints the uncompressed module on stdout
    case "$1" in
        *.ko) cat "$1" ;;
        *.ko.xz) xz -dc "$1" ;;
        *.ko.zst) zstd -qdc "$1" ;;
        *.ko.gz) gzip -dc "$1" ;;
        *) die "unknown module format: $1" ;;
    esac
}

declare -A visited=()
ordered=()
add_module() {
    local m="${1//-/_}" dep deps
    [[ -n ${visited[$m]:-} ]] && return 0
    visited[$m]=1
    [[ -n ${modfile[$m]:-} ]] || die "kernel module $m not found in $kver (built in? check boot/config-$kver)"
    deps="$(mod_plain "${modfile[$m]}" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1)"
    for dep in ${deps//,/ }; do
        add_module "$dep"
    done
    ordered+=("$m")
}
for m in $GUEST_MODULES; do
    add_module "$m"
done
: >"$RD/etc/modules"
for m in "${ordered[@]}"; do
    mod_plain "${modfile[$m]}" >"$RD/lib/modules/$m.ko"
    echo "$m" >>"$RD/etc/modules"
done
say "modules (${#ordered[@]}): ${ordered[*]}"

# /dev/console must exist before /init runs so the kernel can give it a console.
if [[ $(id -u) -eq 0 ]]; then
    mknod -m 600 "$RD/dev/console" c 5 1
    mknod -m 666 "$RD/dev/null" c 1 3
fi

echo "onestack-guest" >"$RD/etc/hostname"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$RD/etc/passwd"
printf 'root:x:0:\n' >"$RD/etc/group"

# ---- the guest's /init ----
cat >"$RD/init" <<'GUEST_INIT'
#!/bin/sh
# onestack test guest: PID 1 of the initramfs.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1

log() { echo "onestack-guest: $*"; }
now() { cut -d' ' -f1 /proc/uptime; }
log "init started at $(now) s"
hostname -F /etc/hostname

# Modules, dependencies first (the list is ordered at build time).
while read -r m; do
    insmod "/lib/modules/$m.ko" 2>/dev/null
done </etc/modules

# Network: every interface up, DHCP on eth0 (4 discovers over ~4 s; keeps trying and
# renewing in the background).
ip link set lo up
for d in /sys/class/net/eth*; do
    [ -e "$d" ] && ip link set "${d##*/}" up
done
ip_addr=none
if [ -e /sys/class/net/eth0 ]; then
    udhcpc -i eth0 -t 4 -T 1 -A 2 -b -S -p /run/udhcpc.eth0.pid \
        -s /usr/share/udhcpc/default.script -O staticroutes
    a="$(ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1 | head -n1)"
    [ -n "$a" ] && ip_addr="$a"
else
    log "no eth0"
fi
log "network: eth0 ip=$ip_addr at $(now) s"
[ "$ip_addr" != none ] && log "routes: $(ip -4 route | tr '\n' ';')"

# Metadata: the metadata service first (only with an address), then a config drive.
source=none
meta=/run/meta_data.json
MD=http://169.254.169.254/openstack/latest
if [ "$ip_addr" != none ]; then
    # busybox-static 1.35's `wget -T` segfaults: bound each try with timeout instead.
    t0=$(date +%s)
    while :; do
        if timeout 3 wget -q -O $meta.tmp "$MD/meta_data.json" 2>/dev/null && [ -s $meta.tmp ]; then
            mv $meta.tmp $meta
            source=metadata
            timeout 3 wget -q -O /run/user_data "$MD/user_data" 2>/dev/null || rm -f /run/user_data
            break
        fi
        [ $(($(date +%s) - t0)) -ge 10 ] && break
        sleep 1
    done
    [ $source = none ] && log "metadata service did not answer"
fi

# Prints the ISO 9660 volume label of block device $1 (bytes 32808..32839).
iso_label() { dd if="$1" bs=8 skip=4101 count=4 2>/dev/null | tr -d '\0' | sed 's/ *$//'; }

if [ $source = none ]; then
    mkdir -p /mnt/config
    tries=0
    while [ $source = none ] && [ $tries -lt 3 ]; do
        for dev in /dev/vd? /dev/sr? /dev/sd? /dev/hd?; do
            [ -b "$dev" ] || continue
            [ "$(iso_label "$dev")" = config-2 ] || continue
            if mount -t iso9660 -o ro "$dev" /mnt/config 2>/dev/null; then
                if [ -f /mnt/config/openstack/latest/meta_data.json ]; then
                    cp /mnt/config/openstack/latest/meta_data.json $meta
                    [ -f /mnt/config/openstack/latest/user_data ] &&
                        cp /mnt/config/openstack/latest/user_data /run/user_data
                    source=config-drive
                    log "config drive on $dev (try $tries) at $(now) s"
                    break
                fi
                umount /mnt/config
            fi
        done
        # Disks and CD-ROMs are probed while their modules load; a short grace period
        # covers slower controllers.
        [ $source = none ] && { tries=$((tries + 1)); sleep 0.3; }
    done
fi

# Prints the string value of top-level key $1 from the one-line JSON in $meta.
json_str() { tr -d '\n' <$meta | sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n1; }

if [ $source != none ]; then
    name="$(json_str hostname)"
    [ -n "$name" ] || name="$(json_str name)"
    # Host names may not contain spaces; keep the first label's worth of sane characters.
    name="$(echo "$name" | tr -c 'A-Za-z0-9.\n-' '-' | cut -c1-63)"
    [ -n "$name" ] && { hostname "$name"; echo "$name" >/etc/hostname; }
    keys="$(tr -d '\n' <$meta | sed -n 's/.*"public_keys": *{\([^}]*\)}.*/\1/p')"
    if [ -n "$keys" ]; then
        mkdir -p /root/.ssh && chmod 700 /root/.ssh
        echo "$keys" | grep -o '"[^"]*": *"[^"]*"' | sed 's/^"[^"]*": *"//; s/"$//; s/\\n$//; s/\\n/\n/g' \
            >/root/.ssh/authorized_keys
        chmod 600 /root/.ssh/authorized_keys
        log "$(grep -c . /root/.ssh/authorized_keys) public key(s) written to /root/.ssh/authorized_keys (this image has no sshd)"
    fi
    if [ -s /run/user_data ] && [ "$(head -c 2 /run/user_data)" = '#!' ]; then
        chmod +x /run/user_data
        log "running user_data"
        /run/user_data
        log "user_data exited with $?"
    fi
fi

# A clean poweroff on an ACPI power-button press (QEMU system_powerdown).
acpid -c /etc/acpi -l /run/acpid.log 2>/dev/null || log "acpid did not start"

echo "onestack-guest ready hostname=$(hostname) ip=$ip_addr source=$source"

# Stay up: a shell on the console, restarted when it exits.
while :; do
    setsid cttyhack sh -l
    sleep 1
done
GUEST_INIT
chmod 755 "$RD/init"

cat >"$RD/usr/share/udhcpc/default.script" <<'UDHCPC'
#!/bin/sh
# udhcpc hook: address, routes (option 121 classless static routes take precedence
# over option 3 routers, as RFC 3442 says), DNS. udhcpc passes the lease in the
# environment; word splitting of its lists is intended.
# shellcheck disable=SC2154,SC2086
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound | renew)
    # A renewal that keeps the address leaves it (and open connections) alone.
    if ! ip -4 -o addr show dev "$interface" | grep -q " $ip/${mask:-24} "; then
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
    fi
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    if [ -n "$staticroutes" ]; then
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            if [ "$2" = 0.0.0.0 ]; then
                ip route replace "$1" dev "$interface"
            else
                ip route replace "$1" via "$2" dev "$interface" ||
                    ip route replace "$1" via "$2" dev "$interface" onlink
            fi
            shift 2
        done
    elif [ -n "$router" ]; then
        for r in $router; do
            ip route replace default via "$r" dev "$interface" && break
        done
    fi
    : >/etc/resolv.conf
    [ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf
    for s in $dns; do echo "nameserver $s" >>/etc/resolv.conf; done
    ;;
esac
exit 0
UDHCPC
chmod 755 "$RD/usr/share/udhcpc/default.script"

# busybox acpid runs /etc/acpi/PWRF/00000080 for "button/power PWRF 00000080".
cat >"$RD/etc/acpi/PWRF/00000080" <<'PWRF'
#!/bin/sh
echo "onestack-guest: power button pressed, powering off" >/dev/console
sync
poweroff -f
PWRF
chmod 755 "$RD/etc/acpi/PWRF/00000080"

find "$RD" -exec touch -h -d @0 {} +   # same inputs, same initrd.img
(cd "$RD" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9n >"$WORK/initrd.img"
mv "$WORK/initrd.img" "$OUTDIR/initrd.img"
cp "$kernel_dir/boot/vmlinuz-$kver" "$OUTDIR/vmlinuz"

# vmlinux: the uncompressed ELF kernel inside the bzImage, for direct kernel boot
# (QEMU boots it through its PVH entry point and skips the in-guest decompression, which
# costs seconds under TCG). Optional: a kernel compressed some other way is just skipped.
extract_vmlinux() {
    local img="$1" out="$2" magic tool off
    for pair in $'\xfd7zXZ:xz -dc' $'\x28\xb5\x2f\xfd:zstd -qdc' $'\x1f\x8b\x08:gzip -dc'; do
        magic="${pair%%:*}" tool="${pair#*:}"
        while read -r off; do
            # shellcheck disable=SC2086
            tail -c +$((off + 1)) "$img" | $tool >"$out.tmp" 2>/dev/null || true
            if [[ $(head -c 4 "$out.tmp" 2>/dev/null | od -An -c | tr -d ' ') == 177ELF ]]; then
                mv "$out.tmp" "$out"
                return 0
            fi
        done < <(LC_ALL=C grep -abo "$magic" "$img" | cut -d: -f1 | head -n 5)
    done
    rm -f "$out.tmp"
    return 1
}
extract_vmlinux "$OUTDIR/vmlinuz" "$OUTDIR/vmlinux" || { say "warning: could not extract vmlinux from vmlinuz"; rm -f "$OUTDIR/vmlinux"; }

# --- bootable disk: MBR (syslinux mbr.bin) + one active FAT16 partition ------------------
RAW="$WORK/disk.raw"
PART="$WORK/part.img"
disk_sectors=$((DISK_MIB * 2048))
part_sectors=$((disk_sectors - PART_START))
rm -f "$PART" "$RAW"
mkfs.fat -C -F 16 -n ONESTACK -i 4f4e4553 -h "$PART_START" "$PART" $((part_sectors / 2)) >/dev/null
cat >"$WORK/syslinux.cfg" <<'CFG'
DEFAULT onestack
PROMPT 0
TIMEOUT 0
LABEL onestack
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND console=tty0 console=ttyS0,115200n8 panic=10
CFG
export MTOOLS_SKIP_CHECK=1
mcopy -o -i "$PART" "$OUTDIR/vmlinuz" ::vmlinuz
mcopy -o -i "$PART" "$OUTDIR/initrd.img" ::initrd.img
mcopy -o -i "$PART" "$WORK/syslinux.cfg" ::syslinux.cfg
syslinux --install "$PART"

truncate -s $((disk_sectors * 512)) "$RAW"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$RAW" conv=notrunc status=none
# shellcheck disable=SC2059  # the format is the point: it spells the bytes
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }
{
    printf '\x4f\x4e\x45\x53'                  # disk signature
    printf '\x00\x00'
    printf '\x80\xfe\xff\xff\x0e\xfe\xff\xff' # active, CHS unused, type 0x0e FAT16 (LBA)
    le32 "$PART_START"
    le32 "$part_sectors"
} | dd of="$RAW" bs=1 seek=440 conv=notrunc status=none
printf '\x55\xaa' | dd of="$RAW" bs=1 seek=510 conv=notrunc status=none
dd if="$PART" of="$RAW" bs=512 seek="$PART_START" conv=notrunc,sparse status=none

qemu-img convert -f raw -O qcow2 "$RAW" "$WORK/test-image.qcow2"
mv "$WORK/test-image.qcow2" "$OUTDIR/test-image.qcow2"
rm -rf "$WORK"

echo "$stamp" >"$OUTDIR/.build-stamp"
for f in vmlinuz vmlinux initrd.img test-image.qcow2; do
    [[ -f $OUTDIR/$f ]] && printf '%s\t%s bytes\n' "$OUTDIR/$f" "$(stat -c %s "$OUTDIR/$f")"
done
