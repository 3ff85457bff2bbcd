#!/usr/bin/env bash
# samba-docker/docker-entrypoint.sh VARIANT — container entrypoint: generate $STATE_DIR/smb.conf
# from smb.conf.base + variants/VARIANT.conf with the same code as native.sh (lib.sh), listening
# on all container interfaces, port 445 (publish it on the host as 127.0.0.1:PORT:445 only), set
# a fresh random password for fusevoltest (in $STATE_DIR/creds, mode 0600), then exec smbd in
# the foreground with its log on stdout.
set -euo pipefail
FV_PROG=docker-entrypoint.sh
# shellcheck source=samba-docker/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

VARIANT=${1:-${VARIANT:-default}}
STATE=${STATE_DIR:-/state}
PORT=${SMB_PORT:-445}

if [ "$VARIANT" = variants ]; then
    fv_variants
    exit 0
fi
mkdir -p "$STATE"
# A restarted container starts from clean Samba state (shares are kept).
rm -rf "$STATE"/{lock,state,cache,private,pid,ncalrpc}
fv_gen_conf "$VARIANT" "$STATE" "$PORT" any
fv_ensure_user
fv_prepare_shares "$STATE"
fv_set_password "$STATE"
echo "variant=$VARIANT port=$PORT (container) state_dir=$STATE conf=$STATE/smb.conf" \
    "creds=$STATE/creds user=$FV_USER domain=$FV_WORKGROUP share_dir=$STATE/shares/share"
exec smbd --foreground --no-process-group --debug-stdout -s "$STATE/smb.conf" </dev/null
