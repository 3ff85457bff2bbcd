#!/usr/bin/env bash
# samba-docker/native.sh — a private smbd of one test variant on 127.0.0.1, all state in one dir.
#
#   native.sh start VARIANT STATE_DIR PORT   start; prints one summary line on stdout:
#       port=P pid=N variant=V state_dir=D conf=D/smb.conf creds=D/creds user=U domain=W share_dir=D/shares/share
#   native.sh stop STATE_DIR                 stop it (pid, descendants, helpers naming D/smb.conf)
#   native.sh variants                       list the variants
#   native.sh share-dir STATE_DIR SHARE      print the backing dir of a share (share ro public secret)
#
# Must run as root (creates the system user fusevoltest, chowns the share dirs, runs smbd).
# The Samba password is random per instance, set through smbpasswd's stdin and written to
# STATE_DIR/creds (mode 0600, username=/password=/domain= lines); it never appears in argv.
# Exit status of start: 0 ok, 1 error, 3 port already in use (the caller may retry elsewhere).
# Environment: SMBD (path of smbd), SMBD_LOG_LEVEL (default 1), START_TIMEOUT (s, default 20),
#              STOP_TIMEOUT (s, default 10).
set -euo pipefail
FV_PROG=native.sh
# shellcheck source=samba-docker/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

usage() {
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# Does process $1 have our smb.conf ($2) as an argv element (or -s/--configfile value)?
names_conf() {
    local pid=$1 conf=$2 a
    local -a args=()
    mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline" || return 1
    for a in "${args[@]}"; do
        case $a in
            "$conf" | "--configfile=$conf" | "-s$conf") return 0 ;;
        esac
    done
    return 1
}

# Alive and not a zombie (an orphaned smbd is reaped by init, which may take its time).
is_alive() {
    local line st
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    st=${line##*) }
    st=${st%% *}
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

descendants() {
    local k
    for k in $(ps -o pid= --ppid "$1" 2>/dev/null || true); do
        echo "$k"
        descendants "$k"
    done
}

# Every process of this instance: the recorded smbd (if it still is ours), its descendants,
# and every process whose argv names our smb.conf (samba-dcerpcd, rpcd_* ...), with theirs.
instance_pids() {
    local state=$1 conf=$1/smb.conf main='' d p
    if [ -f "$state/smbd.pid" ]; then
        main=$(cat "$state/smbd.pid")
        [[ $main =~ ^[0-9]+$ ]] || main=''
    fi
    {
        if [ -n "$main" ] && names_conf "$main" "$conf"; then
            echo "$main"
            descendants "$main"
        fi
        for d in /proc/[0-9]*; do
            p=${d#/proc/}
            [ "$p" = $$ ] && continue
            if names_conf "$p" "$conf"; then
                echo "$p"
                descendants "$p"
            fi
        done
    } | sort -un
}

do_stop() {
    local state=${1%/} timeout=${STOP_TIMEOUT:-10} pids p deadline n=0
    [ -n "$state" ] || usage
    [ -f "$state/smb.conf" ] || [ -f "$state/smbd.pid" ] || {
        echo "native.sh: nothing to stop in $state" >&2
        return 0
    }
    pids=$(instance_pids "$state")
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    deadline=$((SECONDS + timeout))
    while :; do
        local alive=''
        for p in $pids; do is_alive "$p" && alive+=" $p"; done
        [ -z "$alive" ] && break
        if [ $SECONDS -ge $deadline ]; then
            echo "native.sh: still alive after ${timeout}s, SIGKILL:$alive" >&2
            for p in $alive; do kill -KILL "$p" 2>/dev/null || true; done
            break
        fi
        sleep 0.05
    done
    # Anything spawned meanwhile (an on-demand helper) goes too.
    for p in $(instance_pids "$state"); do
        kill -KILL "$p" 2>/dev/null || true
        n=$((n + 1))
    done
    rm -f "$state/smbd.pid"
    echo "stopped state_dir=$state processes=$(($(wc -w <<<"$pids") + n))"
}

do_start() {
    [ $# -eq 3 ] || usage
    local variant=$1 state=${2%/} port=$3 smbd pid deadline timeout=${START_TIMEOUT:-20}
    [ "$(id -u)" = 0 ] || fv_die "must run as root (creates a user, chowns share dirs, runs smbd)"
    smbd=${SMBD:-$(command -v smbd || echo /usr/sbin/smbd)}
    [ -x "$smbd" ] || fv_die "smbd not found (apt-get install samba)"
    command -v smbpasswd >/dev/null || fv_die "smbpasswd not found (apt-get install samba-common-bin)"
    command -v ss >/dev/null || fv_die "ss not found (apt-get install iproute2)"
    fv_check_variant "$variant"
    fv_check_state_dir "$state"
    if [ -f "$state/smbd.pid" ] && names_conf "$(cat "$state/smbd.pid")" "$state/smb.conf"; then
        fv_die "an smbd of $state is already running (pid $(cat "$state/smbd.pid"))"
    fi
    if port_listening "$port"; then
        echo "native.sh: port $port already in use" >&2
        exit 3
    fi

    fv_gen_conf "$variant" "$state" "$port" loopback
    fv_ensure_user
    fv_prepare_shares "$state"
    fv_set_password "$state"

    # Own session (setsid) and foreground, so the pid we hold is smbd itself.
    setsid "$smbd" --foreground --no-process-group -s "$state/smb.conf" \
        </dev/null >>"$state/log/smbd.out" 2>&1 &
    pid=$!
    echo "$pid" >"$state/smbd.pid"

    deadline=$((SECONDS + timeout))
    until port_listening "$port"; do
        if ! is_alive "$pid"; then
            local busy=0
            grep -qiE 'address already in use|NT_STATUS_ADDRESS_ALREADY_ASSOCIATED' \
                "$state/log/smbd.out" "$state"/log/log.* 2>/dev/null && busy=1
            echo "native.sh: smbd exited before listening on $port; log tail:" >&2
            tail -n 30 "$state/log/smbd.out" "$state"/log/log.smbd 2>/dev/null >&2 || true
            do_stop "$state" >/dev/null 2>&1 || true
            [ $busy = 1 ] && exit 3
            exit 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            echo "native.sh: smbd not listening on $port after ${timeout}s; log tail:" >&2
            tail -n 30 "$state/log/smbd.out" "$state"/log/log.smbd 2>/dev/null >&2 || true
            do_stop "$state" >/dev/null 2>&1 || true
            exit 1
        fi
        sleep 0.05
    done
    # The listener must be ours (not someone else's that won a race for the port).
    if ! ss -Hltnp "sport = :$port" 2>/dev/null | grep -q "pid=$pid,"; then
        echo "native.sh: port $port is served by another process" >&2
        do_stop "$state" >/dev/null 2>&1 || true
        exit 3
    fi
    echo "port=$port pid=$pid variant=$variant state_dir=$state conf=$state/smb.conf" \
        "creds=$state/creds user=$FV_USER domain=$FV_WORKGROUP share_dir=$state/shares/share"
}

case ${1:-} in
    start) shift; do_start "$@" ;;
    stop) [ $# -eq 2 ] || usage; do_stop "$2" ;;
    variants) fv_variants ;;
    share-dir)
        [ $# -eq 3 ] || usage
        [[ " ${FV_SHARES[*]} " == *" $3 "* ]] || fv_die "unknown share '$3' (known: ${FV_SHARES[*]})"
        echo "${2%/}/shares/$3"
        ;;
    *) usage ;;
esac
