#!/usr/bin/env bash
# The main job, end to end on this machine: install what is missing, build fusevol, start a
# private Samba on 127.0.0.1 (all state in a temp dir), then use the share with fusevol: the
# smbclient-like commands, then a real FUSE mount used by ordinary programs (ls, cp, cat, git),
# first as root, then as an unprivileged user through fusermount3. Stops everything on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it starts a private smbd and installs Samba)" >&2; exit 1; }
bash scripts/setup.sh
echo "== building fusevol (release)"
cargo build --release --quiet
B=$PWD/target/release/fusevol

STATE=$(mktemp -d /tmp/fusevol-demo.XXXXXX)
PORT=${DEMO_PORT:-4455}
MNT=$STATE/mnt
cleanup() {
    "$B" umount "$MNT" >/dev/null 2>&1 || umount -l "$MNT" >/dev/null 2>&1 || true
    bash samba-docker/native.sh stop "$STATE" >/dev/null 2>&1 || true
    rm -rf "$STATE"
}
trap cleanup EXIT
echo "== starting a private smbd on 127.0.0.1:$PORT"
bash samba-docker/native.sh start default "$STATE" "$PORT"
CREDS=$STATE/creds
O="port=$PORT,credentials=$CREDS,vers=3.1.1"
SHARE=$(bash samba-docker/native.sh share-dir "$STATE" share)

echo "hello from samba" > "$SHARE/hello.txt"
chown "$(stat -c %U "$SHARE")" "$SHARE/hello.txt"
head -c $((64 << 20)) /dev/urandom > "$STATE/payload.bin"

set -x
"$B" smb ls -l //127.0.0.1/share -o "$O"
"$B" smb cat //127.0.0.1/share/hello.txt -o "$O"
"$B" smb mkdir //127.0.0.1/share/demo -o "$O"
"$B" smb put "$STATE/payload.bin" //127.0.0.1/share/demo/payload.bin -o "$O"
"$B" smb get //127.0.0.1/share/demo/payload.bin "$STATE/back.bin" -o "$O,seal"
"$B" smb stat //127.0.0.1/share/demo/payload.bin -o "$O"
set +x
a=$(sha256sum < "$STATE/payload.bin"); b=$(sha256sum < "$STATE/back.bin"); c=$(sha256sum < "$SHARE/demo/payload.bin")
if [ "$a" = "$b" ] && [ "$a" = "$c" ]; then
    echo "== OK: 64 MiB uploaded and downloaded (encrypted on the way back), checksums match"
else
    echo "== FAILED: checksums differ" >&2; exit 1
fi

echo "== mounting //127.0.0.1/share on $MNT (FUSE, daemonised; returns when ready)"
mkdir -p "$MNT"
set -x
"$B" mount //127.0.0.1/share "$MNT" -o "$O"
grep " $MNT " /proc/self/mountinfo
ls -l "$MNT" "$MNT/demo"
cat "$MNT/hello.txt"
cp "$STATE/payload.bin" "$MNT/demo/copy.bin"
cmp "$STATE/payload.bin" "$MNT/demo/copy.bin"
cmp "$STATE/payload.bin" "$SHARE/demo/copy.bin"
(cd "$MNT/demo" && git init -q . && git add copy.bin && git -c user.name=demo -c user.email=demo@localhost commit -qm demo && git log --oneline)
df -h "$MNT"
"$B" umount "$MNT"
set +x
echo "== OK: mounted, used by ordinary programs (cp, cmp, git), unmounted"

if id nobody >/dev/null 2>&1 && command -v fusermount3 >/dev/null && [ -c /dev/fuse ]; then
    echo "== the same as an unprivileged user (nobody) through fusermount3"
    chmod 0666 /dev/fuse
    UM=$(mktemp -d /tmp/fusevol-demo-user.XXXXXX); chown nobody "$UM"
    UC=$(mktemp /tmp/fusevol-demo-creds.XXXXXX); cp "$CREDS" "$UC"; chown nobody "$UC"; chmod 0600 "$UC"
    # The build tree may not be readable by others (e.g. under /root): run a copy.
    UB=$(mktemp /tmp/fusevol-demo-bin.XXXXXX); cp "$B" "$UB"; chmod 0755 "$UB"
    set -x
    runuser -u nobody -- "$UB" mount //127.0.0.1/share "$UM" -o "port=$PORT,credentials=$UC"
    runuser -u nobody -- sh -c "ls -l '$UM' && cat '$UM/hello.txt' && grep ' $UM ' /proc/self/mountinfo"
    runuser -u nobody -- "$UB" umount "$UM"
    set +x
    rm -rf "$UM" "$UC" "$UB"
    echo "== OK: rootless mount as 'nobody'"
fi
