#!/usr/bin/env bash
# Install fusevol (release build) as /usr/local/bin/fusevol, plus the mount(8) helper names
# /sbin/mount.fusevol and /sbin/mount.fuse.fusevol (mount(8) looks for helpers in /sbin only),
# so `mount -t fuse.fusevol` and fstab lines work. (Without them mount(8) still works through
# fuse3's mount.fuse3, which runs `fusevol SOURCE DIR -o OPTIONS` from PATH.) PREFIX overrides
# /usr/local, SBIN overrides /sbin.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
cargo build --release --quiet
install -D -m 0755 target/release/fusevol "$PREFIX/bin/fusevol"
SBIN=${SBIN:-/sbin}
ln -sf "$PREFIX/bin/fusevol" "$SBIN/mount.fusevol"
ln -sf "$PREFIX/bin/fusevol" "$SBIN/mount.fuse.fusevol"
echo "installed $PREFIX/bin/fusevol and $SBIN/mount.fusevol, $SBIN/mount.fuse.fusevol"
