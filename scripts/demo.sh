#!/usr/bin/env bash
# The main job, end to end on this machine: install what is missing, build fusevol, start a
# private Samba on 127.0.0.1 (all state in a temp dir), then use the share with fusevol:
# list it, upload a file, download it again and compare checksums. Stops Samba on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it starts a private smbd and installs Samba)" >&2; exit 1; }
bash scripts/setup.sh
echo "== building fusevol (release)"
cargo build --release --quiet
B=$PWD/target/release/fusevol

STATE=$(mktemp -d /tmp/fusevol-demo.XXXXXX)
PORT=${DEMO_PORT:-4455}
cleanup() { bash samba-docker/native.sh stop "$STATE" >/dev/null 2>&1 || true; rm -rf "$STATE"; }
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
