#!/usr/bin/env bash
# Make sure qemu-system-x86_64 (the compute service's hypervisor), its iSCSI block module
# (qemu-block-extra) and genisoimage (config drives) are installed on Debian 12 / Ubuntu. Idempotent: does nothing when both are there.
#
# Debian bookworm: its own qemu-system-x86 (7.2) conflicts with a qemu-utils taken from
# bookworm-backports, so the bookworm-backports suite is added next to the existing Debian
# apt source (same URI and keyring, deb822 or classic sources.list) and qemu-system-x86 is
# installed from it. Ubuntu: plain `apt-get install qemu-system-x86`.
#
# Usage: scripts/ensure-qemu.sh   (root, or a user with sudo)
set -euo pipefail

SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
BACKPORTS_DEB822=/etc/apt/sources.list.d/onestack-backports.sources
BACKPORTS_LIST=/etc/apt/sources.list.d/onestack-backports.list

say() { printf 'ensure-qemu: %s\n' "$*"; }
die() { printf 'ensure-qemu: error: %s\n' "$*" >&2; exit 1; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# shellcheck disable=SC1091
. /etc/os-release
distro="${ID:-unknown}"
codename="${VERSION_CODENAME:-}"

apt_updated=0
apt_update() {
    if ((apt_updated == 0)); then
        say "apt-get update"
        $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt_updated=1
    fi
}

# Prints the URI of the main Debian archive from a deb822 file (the stanza whose Suites
# holds "$codename"), or nothing.
deb822_debian_uri() {
    awk -v suite="$codename" '
        function flush() {
            if (types ~ /(^| )deb( |$)/ && suites ~ ("(^| )" suite "( |$)") && uris != "" && uri == "")
                uri = uris
            types = ""; suites = ""; uris = ""
        }
        /^[[:space:]]*$/ { flush(); next }
        /^[[:space:]]*#/ { next }
        tolower($1) == "types:" { $1 = ""; types = $0; sub(/^ +/, "", types) }
        tolower($1) == "suites:" { $1 = ""; suites = $0; sub(/^ +/, "", suites) }
        tolower($1) == "uris:" { uris = $2 }
        END { flush(); if (uri != "") print uri }
    ' "$1"
}

deb822_signed_by() {
    awk -v uri="$2" '
        /^[[:space:]]*$/ { if (hit && sb != "") { print sb; exit } hit = 0; sb = ""; next }
        tolower($1) == "uris:" && $2 == uri { hit = 1 }
        tolower($1) == "signed-by:" { sb = $2 }
        END { if (hit && sb != "") print sb }
    ' "$1" | head -n1
}

# Adds bookworm-backports next to the existing Debian source, reusing its URI.
ensure_backports_source() {
    if apt-cache policy 2>/dev/null | grep -q "${codename}-backports/main"; then
        say "${codename}-backports already configured"
        return
    fi
    if [[ -f $BACKPORTS_DEB822 || -f $BACKPORTS_LIST ]]; then
        say "${codename}-backports source present; refreshing package lists"
        apt_update
        return
    fi
    local uri="" signed="" src
    for src in /etc/apt/sources.list.d/*.sources; do
        [[ -f $src ]] || continue
        uri="$(deb822_debian_uri "$src")"
        if [[ -n $uri ]]; then
            signed="$(deb822_signed_by "$src" "$uri")"
            break
        fi
    done
    if [[ -n $uri ]]; then
        say "adding ${codename}-backports ($uri) as $BACKPORTS_DEB822"
        {
            echo "# Added by onestack scripts/ensure-qemu.sh: qemu-system-x86 matching the backports qemu-utils."
            echo "Types: deb"
            echo "URIs: $uri"
            echo "Suites: ${codename}-backports"
            echo "Components: main"
            [[ -z $signed ]] || echo "Signed-By: $signed"
        } | $SUDO tee "$BACKPORTS_DEB822" >/dev/null
    else
        # Classic one-line format: the first "deb URI bookworm ..." line of sources.list(.d).
        local line=""
        for src in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [[ -f $src ]] || continue
            line="$(grep -E "^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+${codename}[[:space:]]" "$src" | head -n1 || true)"
            [[ -z $line ]] || break
        done
        [[ -n $line ]] || die "no Debian '$codename' apt source found to add ${codename}-backports to"
        # Replace the suite field (the one right after the URI) with <codename>-backports.
        local bp
        bp="$(sed -E "s/^([[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+)${codename}[[:space:]].*/\1${codename}-backports main/" <<<"$line")"
        say "adding '$bp' as $BACKPORTS_LIST"
        printf '# Added by onestack scripts/ensure-qemu.sh\n%s\n' "$bp" | $SUDO tee "$BACKPORTS_LIST" >/dev/null
    fi
    apt_updated=0
    apt_update
}

did_something=0

if command -v qemu-system-x86_64 >/dev/null 2>&1; then
    say "qemu-system-x86_64 present: $(qemu-system-x86_64 --version | head -n1)"
else
    case "$distro" in
        debian)
            if [[ $codename == bookworm ]]; then
                ensure_backports_source
                say "installing qemu-system-x86 from ${codename}-backports"
                $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends -t "${codename}-backports" qemu-system-x86
            else
                apt_update
                say "installing qemu-system-x86"
                $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends qemu-system-x86
            fi
            ;;
        ubuntu)
            apt_update
            say "installing qemu-system-x86"
            $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends qemu-system-x86
            ;;
        *) die "unsupported distribution '$distro': install qemu-system-x86_64 yourself" ;;
    esac
    command -v qemu-system-x86_64 >/dev/null 2>&1 || die "qemu-system-x86_64 still missing after install"
    say "installed: $(qemu-system-x86_64 --version | head -n1)"
    did_something=1
fi

# QEMU's own iSCSI initiator (libiscsi), for volumes exported by tgt: the block module
# must come from the same suite as qemu-system-x86 (its version must match exactly).
if installed qemu-block-extra; then
    say "qemu-block-extra present"
else
    if [[ $distro == debian && $codename == bookworm ]]; then
        ensure_backports_source
        say "installing qemu-block-extra from ${codename}-backports"
        $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends -t "${codename}-backports" qemu-block-extra
    else
        apt_update
        say "installing qemu-block-extra"
        $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends qemu-block-extra
    fi
    did_something=1
fi

if command -v genisoimage >/dev/null 2>&1; then
    say "genisoimage present"
else
    apt_update
    say "installing genisoimage"
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends genisoimage
    did_something=1
fi

if ((did_something)); then
    say "done"
else
    say "nothing to do"
fi
