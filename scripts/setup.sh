#!/usr/bin/env bash
# scripts/setup.sh — install what the tests and the demo need (Debian/Ubuntu, as root).
#
# Idempotent and quiet: installs only missing packages (samba, smbclient, fuse3, libfuse3-dev,
# pkg-config and the small tools the Samba harness uses), without starting the distribution's
# own smbd/nmbd services; makes /dev/fuse usable by everyone (0666) if present; checks that
# cargo (with rustfmt and clippy) is there. Prints what it did.
set -euo pipefail

say() { echo "setup: $*"; }
die() {
    echo "setup: $*" >&2
    exit 1
}

# BitTorrent loopback swarm for the btfs tests: tracker, torrent maker, seeder, reference client.
# Docker volume plugin end-to-end test: a private loopback-only dockerd (docker.io, 20.10 on
# Debian 12; its own service is not started, see policy-rc.d below) and a static busybox for the
# test image (no registry is reachable).
PKGS=(samba samba-vfs-modules smbclient fuse3 libfuse3-dev pkg-config iproute2 procps python3 git
    util-linux opentracker mktorrent python3-libtorrent aria2 docker.io busybox-static)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    say "packages already installed: ${PKGS[*]}"
else
    [ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}): run this script as root"
    command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get"
    # Keep the packages' own services (smbd/nmbd on 0.0.0.0:445) from being started: tests run
    # private instances on loopback. policy-rc.d is honoured by invoke-rc.d and deb-systemd-invoke.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        own_policy=1
    fi
    trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    say "installed: ${missing[*]}"
    if [ "$own_policy" = 1 ]; then
        rm -f "$policy"
        own_policy=0
    fi
fi

# The distribution's daemons are not wanted (tests start their own smbd per test).
if command -v systemctl >/dev/null && [ -d /run/systemd/system ] && [ "$(id -u)" = 0 ]; then
    for unit in smbd nmbd samba-ad-dc; do
        if systemctl is-active --quiet "$unit" 2>/dev/null; then
            systemctl disable --now --quiet "$unit" 2>/dev/null || true
            say "stopped and disabled the system $unit service"
        fi
    done
fi

if [ -e /dev/fuse ]; then
    mode=$(stat -c %a /dev/fuse)
    if [ "$mode" != 666 ]; then
        if [ "$(id -u)" = 0 ]; then
            chmod 0666 /dev/fuse
            say "/dev/fuse: mode $mode -> 0666"
        else
            say "/dev/fuse has mode $mode (not 0666); run as root to fix"
        fi
    else
        say "/dev/fuse: mode 0666"
    fi
else
    say "/dev/fuse is absent (no FUSE in this kernel/container): FUSE mounts cannot run here"
fi

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
    say "using cargo from $HOME/.cargo/bin (not on PATH)"
fi
command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain >= 1.89 (https://rustup.rs)"
for comp in fmt clippy; do
    if ! cargo "$comp" --version >/dev/null 2>&1; then
        if command -v rustup >/dev/null; then
            rustup component add "$([ $comp = fmt ] && echo rustfmt || echo clippy)" >/dev/null 2>&1 ||
                die "rustup component add for cargo $comp failed"
            say "added the rustup component for cargo $comp"
        else
            die "cargo $comp is not available and there is no rustup to add it"
        fi
    fi
done
say "$(cargo --version)"
