#!/usr/bin/env bash
# Install fusevol (release build) as /usr/local/bin/fusevol, plus the mount(8) helper names
# /usr/local/sbin/mount.fusevol and mount.fuse.fusevol, so `mount -t fuse.fusevol` and fstab
# lines work. (Without them mount(8) still works through fuse3's mount.fuse3, which runs
# `fusevol SOURCE DIR -o OPTIONS` from PATH.) PREFIX overrides /usr/local.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
cargo build --release --quiet
install -D -m 0755 target/release/fusevol "$PREFIX/bin/fusevol"
install -d "$PREFIX/sbin"
ln -sf "$PREFIX/bin/fusevol" "$PREFIX/sbin/mount.fusevol"
ln -sf "$PREFIX/bin/fusevol" "$PREFIX/sbin/mount.fuse.fusevol"
echo "installed $PREFIX/bin/fusevol and $PREFIX/sbin/mount.fusevol, mount.fuse.fusevol"
