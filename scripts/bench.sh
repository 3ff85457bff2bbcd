#!/usr/bin/env bash
# scripts/bench.sh — fusevol's mount beside the other ways to use an SMB share without the kernel
# client, against private Samba servers on 127.0.0.1 (samba-docker/native.sh), in one run.
# A benchmark, not a test: run it as root on a quiet machine.
#
#   scripts/bench.sh [-r REPS] [-q] [-c "CONTENDERS"] [-w "WORKLOADS"] [-o DIR] [-s MIB] [-n] [-k]
#
#   -r N    repetitions (default 3); contenders are interleaved within each repetition
#           (A B C A B C …) and the order rotates by one every repetition
#   -q      quick: 64 MiB file, 1,000-file tree, 200 small files, 300-file repo, 3 s fio, 1 rep
#   -c      contenders (default: fusevol rclone smbnetfs smbclient local; also: bindfs, and
#           fusevol:OPTS, a second fusevol mount with extra -o options, e.g. fusevol:cache=loose)
#   -w      workloads (default: all): seqread seqwrite randread lsR find du smallfiles mount
#           gitclone sigread sigwrite encread encwrite; groups: tree (lsR find du),
#           signed (sigread sigwrite), encrypted (encread encwrite), all
#   -o DIR  results directory (default bench-results/ in the repository; gitignored)
#   -s MIB  size of the sequential file (default 1024)
#   -n      do not drop the page cache before each run
#   -k      keep the work directory (servers' state, logs, data) after the run
#
# Environment: NO_BUILD=1 (skip cargo build --release), FUSEVOL_BIN (default
# $CARGO_TARGET_DIR/release/fusevol or target/release/fusevol), FUSEVOL_OPTS (extra -o options for
# the fusevol mount, e.g. cache=loose), BENCH_PORT (first port tried, default 24800),
# RCLONE_OPTS / SMBNETFS_OPTS (extra flags), NO_INSTALL=1 (do not apt-get missing tools).
#
# Every run uses a fresh mount and is checked (CRC-32 / sha256 / counts / git fsck); a failed
# check is reported as FAIL, never as a figure. Output: DIR/bench-STAMP.{md,csv,log}; the table of
# medians and ratios is also printed. See README.md, "Benchmarks".
set -uo pipefail
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
REPO=$PWD
NATIVE=$REPO/samba-docker/native.sh
LIB=$REPO/scripts/benchlib.py

REPS=3 QUICK=0 DROP=1 KEEP=0 SIZE_MIB=1024
CONTENDERS="fusevol rclone smbnetfs smbclient local"
WORKLOADS=all
OUT=$REPO/bench-results
usage() { sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
while getopts "r:qc:w:o:s:nkh" o; do
    case $o in
        r) REPS=$OPTARG ;; q) QUICK=1 ;; c) CONTENDERS=$OPTARG ;; w) WORKLOADS=$OPTARG ;;
        o) OUT=$OPTARG ;; s) SIZE_MIB=$OPTARG ;; n) DROP=0 ;; k) KEEP=1 ;; *) usage ;;
    esac
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || { echo "bench: -r needs a positive number" >&2; exit 2; }
[[ $SIZE_MIB =~ ^[1-9][0-9]*$ ]] || { echo "bench: -s needs a positive number of MiB" >&2; exit 2; }
TREE_DIRS=100 TREE_FILES=10000 SMALL=1000 REPO_FILES=1200 FIO_SECS=10
if [ $QUICK = 1 ]; then
    SIZE_MIB=64 TREE_DIRS=10 TREE_FILES=1000 SMALL=200 REPO_FILES=300 FIO_SECS=3 REPS=1
fi
ALL_W="seqread seqwrite randread lsR find du smallfiles mount gitclone sigread sigwrite encread encwrite"
W=""
for w in $WORKLOADS; do
    case $w in
        all) W+=" $ALL_W" ;; tree) W+=" lsR find du" ;; signed) W+=" sigread sigwrite" ;;
        encrypted) W+=" encread encwrite" ;;
        *) [[ " $ALL_W " == *" $w "* ]] || { echo "bench: unknown workload '$w'" >&2; exit 2; }; W+=" $w" ;;
    esac
done
read -r -a WL <<<"$W"
read -r -a CL <<<"$CONTENDERS"
for c in "${CL[@]}"; do
    [[ " fusevol rclone smbnetfs smbclient local bindfs " == *" $c "* ]] || [[ $c =~ ^fusevol:[A-Za-z0-9_=.,]+$ ]] ||
        { echo "bench: unknown contender '$c'" >&2; exit 2; }
done
wants() { [[ " ${WL[*]} " == *" $1 "* ]]; }
has() { [[ " ${CL[*]} " == *" $1"[\ :]* ]]; }

say() { echo "[$(date +%H:%M:%S)] $*" | tee -a "${LOG:-/dev/null}" >&2; }
die() { say "bench: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (private smbd instances, FUSE mounts, drop_caches)"

# ---------------------------------------------------------------------------------- tools
need_pkgs=()
for t in smbd:samba smbclient:smbclient fusermount3:fuse3 git:git python3:python3 ss:iproute2 \
    fio:fio rclone:rclone smbnetfs:smbnetfs bindfs:bindfs; do
    cmd=${t%%:*} pkg=${t##*:}
    case $cmd in rclone | smbnetfs | bindfs) has "$cmd" || continue ;; esac
    command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
    [ "${NO_INSTALL:-0}" = 1 ] && die "missing: ${need_pkgs[*]} (NO_INSTALL=1)"
    say "installing ${need_pkgs[*]}"
    # Keep the packages' own daemons (smbd on :445) from starting, as scripts/setup.sh does.
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends \
        "${need_pkgs[@]}" >/dev/null || { [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d; die "apt-get install failed"; }
    [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
python3 "$LIB" selftest 2>/dev/null >/dev/null || die "benchlib.py selftest failed (python3 $LIB selftest)"

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
BIN=${FUSEVOL_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/fusevol}
if has fusevol; then
    if [ "${NO_BUILD:-0}" != 1 ]; then
        say "cargo build --release"
        cargo build --release --quiet || die "cargo build --release failed"
    fi
    [ -x "$BIN" ] || die "$BIN not found (build it, or set FUSEVOL_BIN)"
fi

# ---------------------------------------------------------------------------------- work dirs
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
STAMP=$(date +%Y%m%d-%H%M%S)
BASE=$OUT/bench-$STAMP
CSV=$BASE.csv LOG=$BASE.log
: >"$LOG"
# tmpfs: the server reads from memory, so the figures measure clients, not the shared disk.
need_kib=$(((SIZE_MIB * 5 + 512) * 1024))
PARENT=/tmp
[ -d /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt "$need_kib" ] && PARENT=/dev/shm
WORK=$(mktemp -d "$PARENT/fusevol-bench.XXXXXX") || die "mktemp failed"
chmod 0755 "$WORK"
SRC=$WORK/src
mkdir -p "$SRC" "$WORK/mnt" "$WORK/log"
echo "ts,rep,workload,metric,contender,value,unit,ok,load1,note" >"$CSV"

# ---------------------------------------------------------------------------------- cleanup
declare -A SRV_STATE SRV_PORT SRV_SHARE
MNT="" MPID="" MOUNTED=0 CUR=""
descendants() { local k; for k in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$k"; descendants "$k"; done; }
is_mounted() { grep -qs " $1 " /proc/self/mounts; }
cleanup() {
    trap - EXIT INT TERM
    [ $MOUNTED = 1 ] && do_umount
    local m s
    for m in "$WORK"/mnt/*; do
        [ -d "$m" ] && is_mounted "$m" && { timeout 20 umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
    done
    for s in "${!SRV_STATE[@]}"; do
        timeout 60 bash "$NATIVE" stop "${SRV_STATE[$s]}" >>"$LOG" 2>&1
    done
    if [ $KEEP = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------------------------- servers
# plain: samba-docker variant "default"; sign: "sign-gmac" (SMB 3.1.1, signing mandatory,
# AES-128-GMAC); enc: "encrypt-aes128gcm" (SMB 3.1.1, encryption required, AES-128-GCM).
declare -A VARIANT=([plain]=default [sign]=sign-gmac [enc]=encrypt-aes128gcm)
SERVERS=(plain)
{ wants sigread || wants sigwrite; } && SERVERS+=(sign)
{ wants encread || wants encwrite; } && SERVERS+=(enc)
port=${BENCH_PORT:-24800}
for s in "${SERVERS[@]}"; do
    SRV_STATE[$s]=$WORK/smbd-$s
    started=0
    for _ in $(seq 1 40); do
        out=$(timeout 60 bash "$NATIVE" start "${VARIANT[$s]}" "${SRV_STATE[$s]}" "$port" 2>>"$LOG")
        rc=$?
        [ $rc = 0 ] && { started=1; break; }
        [ $rc = 3 ] || die "native.sh start ${VARIANT[$s]} failed (exit $rc; see $LOG)"
        port=$((port + 1))
    done
    [ $started = 1 ] || die "no free port for smbd near ${BENCH_PORT:-24800}"
    SRV_PORT[$s]=$port
    SRV_SHARE[$s]=$(bash "$NATIVE" share-dir "${SRV_STATE[$s]}" share)
    say "smbd ${VARIANT[$s]}: $out"
    port=$((port + 1))
done
CREDS_PLAIN=${SRV_STATE[plain]}/creds
SMB_USER=$(sed -n 's/^username=//p' "$CREDS_PLAIN")

# ---------------------------------------------------------------------------------- data
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "generating data: $SIZE_MIB MiB file, $TREE_FILES-file tree in $TREE_DIRS dirs, $SMALL small files, $REPO_FILES-file git repo"
tree_arg=()
{ wants lsR || wants find || wants du; } && tree_arg=(--tree "${SRV_SHARE[plain]}/tree")
GEN=$(python3 "$LIB" gen "$SRC" --size-mib "$SIZE_MIB" --small "$SMALL" "${tree_arg[@]}" \
    --tree-dirs $TREE_DIRS --tree-files $TREE_FILES) || die "data generation failed"
jf() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else (int(v) if isinstance(v,bool) else v))' "$1" "$2" 2>/dev/null; }
SIZE=$(jf "$GEN" size) CRC=$(jf "$GEN" crc32) SHA=$(jf "$GEN" sha256)
cp "$SRC/big.src" "${SRV_SHARE[plain]}/big.bin" || die "copy failed"
for s in "${SERVERS[@]}"; do
    [ "$s" = plain ] || ln "${SRV_SHARE[plain]}/big.bin" "${SRV_SHARE[$s]}/big.bin" || die "link failed"
done
if wants gitclone; then
    R=$(python3 "$LIB" mkrepo "$SRC" --files $REPO_FILES 2>>"$LOG") || die "git repo generation failed"
    GIT_HEAD=$(jf "$R" head) GIT_FILES=$(jf "$R" files)
fi
for s in "${SERVERS[@]}"; do chown -R "$SMB_USER:" "${SRV_SHARE[$s]}"; done
say "data ready (crc32 $CRC)"

# ---------------------------------------------------------------------------------- clients
# rclone: one remote per server, defined by environment only; the password goes through
# `rclone obscure -` on stdin, never argv.
export RCLONE_CONFIG=$WORK/rclone.conf
: >"$RCLONE_CONFIG"
for s in "${SERVERS[@]}"; do
    R=B${s^^}
    pw=$(sed -n 's/^password=//p' "${SRV_STATE[$s]}/creds")
    export "RCLONE_CONFIG_${R}_TYPE=smb" "RCLONE_CONFIG_${R}_HOST=127.0.0.1" "RCLONE_CONFIG_${R}_PORT=${SRV_PORT[$s]}"
    export "RCLONE_CONFIG_${R}_USER=$SMB_USER" "RCLONE_CONFIG_${R}_DOMAIN=$(sed -n 's/^domain=//p' "${SRV_STATE[$s]}/creds")"
    if has rclone; then
        ob=$(printf '%s' "$pw" | rclone obscure -) || die "rclone obscure failed"
        export "RCLONE_CONFIG_${R}_PASS=$ob"
    fi
    # smbnetfs: private HOME per server. libsmbclient ignores "smb ports", but takes host:port in
    # the path; smbnetfs.conf must be 0600 or its auth lines are ignored; the stat workarounds
    # (fake ENOENT for .git, HEAD…) and network browsing are off.
    h=$WORK/smbnetfs-$s/.smb
    mkdir -p "$h"
    {
        echo "[global]"
        echo "  client min protocol = SMB2_02"
        echo "  client max protocol = SMB3_11"
        echo "  disable netbios = yes"
        echo "  name resolve order = host"
        [ "$s" = sign ] && echo "  client signing = required"
        [ "$s" = enc ] && echo "  client smb encrypt = required"
    } >"$h/smb.conf"
    (
        umask 077
        printf 'smb_query_browsers "false"\nshow_hidden_hosts "false"\nstat_workaround_depth "0"\n'
        printf 'stat_workaround_enable_default_entries "false"\nauth "127.0.0.1" "%s" "%s"\n' "$SMB_USER" "$pw"
    ) >"$h/smbnetfs.conf"
    chmod 600 "$h"/*
done
unset pw

smbclient_cmd() { # SERVER -> command line prefix (the password stays in the creds file)
    local prot=""
    case $1 in sign) prot=--client-protection=sign ;; enc) prot=--client-protection=encrypt ;; esac
    echo "smbclient //127.0.0.1/share -p ${SRV_PORT[$1]} -A ${SRV_STATE[$1]}/creds $prot"
}
smbc() { # SERVER: sets SMBC, the smbclient command (array) for that server
    local prot=()
    case $1 in sign) prot=(--client-protection=sign) ;; enc) prot=(--client-protection=encrypt) ;; esac
    SMBC=(smbclient //127.0.0.1/share -p "${SRV_PORT[$1]}" -A "${SRV_STATE[$1]}/creds" "${prot[@]}")
}

# ---------------------------------------------------------------------------------- records
clean_note() { local t=$*; t=${t//$WORK/WORK}; tr ',\n"' ';  ' <<<"$t" | cut -c1-300; }
rec() { # REP WORKLOAD METRIC CONTENDER VALUE UNIT OK [NOTE]
    echo "$(date +%s),$1,$2,$3,$4,$5,$6,$7,$(cut -d' ' -f1 /proc/loadavg),$(clean_note "${8:-}")" >>"$CSV"
    say "  r$1 $3 $4: $([ -n "$5" ] && printf '%.5g' "$5" || echo -) $6$([ "$7" = 1 ] || echo " FAIL")${8:+ ($(clean_note "$8"))}"
}
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.4f", b-a}'; }
per_s() { awk -v n="$1" -v s="$2" 'BEGIN{ if (s>0) printf "%.2f", n/s; else print "" }'; }

drop_caches() {
    [ $DROP = 1 ] || return 0
    timeout 60 sync
    echo 3 >/proc/sys/vm/drop_caches
}

# ---------------------------------------------------------------------------------- mounts
# do_mount CONTENDER SERVER: sets ROOT (where the share's root appears), MPID (the FUSE process,
# started in the foreground under setsid so we hold its pid), MOUNT_S (start to first ls).
do_mount() {
    local c=$1 s=$2 t0
    CUR=$c ROOT="" MPID="" MOUNT_S="" MOUNT_ERR=""
    case $c in
        local) ROOT=${SRV_SHARE[$s]}; return 0 ;;
        smbclient)
            t0=$EPOCHREALTIME
            local o
            smbc "$s"
            o=$(timeout 30 "${SMBC[@]}" -c 'ls big.bin' 2>&1)
            if grep -q 'big.bin' <<<"$o"; then MOUNT_S=$(elapsed "$t0"); return 0; fi
            MOUNT_ERR="smbclient: $(tail -1 <<<"$o")"
            return 1 ;;
    esac
    MNT=$WORK/mnt/${c//[^A-Za-z0-9]/_}-$s
    mkdir -p "$MNT"
    is_mounted "$MNT" && { MOUNT_ERR="$MNT is still mounted"; return 1; }
    local logf=$WORK/log/${c//[^A-Za-z0-9]/_}-$s.log
    t0=$EPOCHREALTIME
    case $c in
        fusevol | fusevol:*)
            ROOT=$MNT
            local extra=${FUSEVOL_OPTS:-}
            [[ $c == fusevol:* ]] && extra+=${extra:+,}${c#fusevol:}
            setsid "$BIN" mount //127.0.0.1/share "$MNT" -f \
                -o "port=${SRV_PORT[$s]},credentials=${SRV_STATE[$s]}/creds,vers=3.1.1${extra:+,$extra}" \
                </dev/null >>"$logf" 2>&1 &
            ;;
        rclone)
            ROOT=$MNT
            # shellcheck disable=SC2086
            setsid rclone mount "b$s:share" "$MNT" --vfs-cache-mode off --log-level NOTICE \
                ${RCLONE_OPTS:-} </dev/null >>"$logf" 2>&1 &
            ;;
        smbnetfs)
            ROOT=$MNT/127.0.0.1:${SRV_PORT[$s]}/share
            # shellcheck disable=SC2086
            HOME=$WORK/smbnetfs-$s setsid smbnetfs "$MNT" -f -o big_writes ${SMBNETFS_OPTS:-} \
                </dev/null >>"$logf" 2>&1 &
            ;;
        bindfs)
            ROOT=$MNT
            setsid bindfs -f --multithreaded -o big_writes "${SRV_SHARE[$s]}" "$MNT" </dev/null >>"$logf" 2>&1 &
            ;;
    esac
    MPID=$! MOUNTED=1
    local deadline=$((SECONDS + 30))
    until is_mounted "$MNT" && timeout 5 ls "$ROOT" 2>/dev/null | grep -qx big.bin; do
        # rclone retries a refused connection for ever: its log says so at once
        if [ "$c" = rclone ] && grep -q "couldn't connect SMB" "$logf"; then
            MOUNT_ERR="rclone: $(grep -m1 -o "couldn't connect SMB.*" "$logf")"
            break
        fi
        if ! kill -0 "$MPID" 2>/dev/null; then
            MOUNT_ERR="$c exited: $(tail -c 200 "$logf")"
            break
        fi
        [ $SECONDS -ge $deadline ] && { MOUNT_ERR="$c: share not listed after 30 s; log: $(tail -c 200 "$logf")"; break; }
        sleep 0.005
    done
    [ -z "$MOUNT_ERR" ] && MOUNT_S=$(elapsed "$t0")
    [ -n "$MOUNT_ERR" ] && { do_umount; return 1; }
    return 0
}

do_umount() {
    [ $MOUNTED = 1 ] || return 0
    MOUNTED=0
    local kids="" p i
    [ -n "$MPID" ] && kids=$(descendants "$MPID")
    for i in 1 2 3; do
        is_mounted "$MNT" || break
        if [[ $CUR == fusevol* ]]; then timeout 30 "$BIN" umount "$MNT" >>"$LOG" 2>&1
        else timeout 30 umount "$MNT" >>"$LOG" 2>&1; fi
        is_mounted "$MNT" && sleep 1
    done
    is_mounted "$MNT" && { say "  $CUR: unmount failed, lazy unmount"; umount -l "$MNT"; }
    # The daemon exits by itself once unmounted: wait (bounded), then signal it, by pid.
    for p in $MPID $kids; do
        local deadline=$((SECONDS + 20))
        while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
        if kill -0 "$p" 2>/dev/null; then
            say "  $CUR: pid $p still running after unmount: SIGTERM"
            kill -TERM "$p" 2>/dev/null
            sleep 2
            kill -KILL "$p" 2>/dev/null
        fi
    done
    [ -n "$MPID" ] && wait "$MPID" 2>/dev/null
    MPID=""
}

peak_rss() { # -> MiB: VmHWM of the FUSE process plus its descendants' (smbnetfs forks helpers)
    [ -n "$MPID" ] && [ -r "/proc/$MPID/status" ] || return 0
    # shellcheck disable=SC2046
    jf "$(python3 "$LIB" rss "$MPID" $(descendants "$MPID"))" hwm_mib
}

# wait_server_size PATH SIZE T0: bounded wait (60 s) until the server's file has SIZE bytes;
# prints seconds since T0 when it had to wait, nothing when it was already complete.
wait_server_size() {
    local first=1 deadline=$((SECONDS + 60))
    while [ "$(stat -c %s "$1" 2>/dev/null)" != "$2" ]; do
        [ $SECONDS -ge $deadline ] && return 1
        first=0
        sleep 0.02
    done
    [ $first = 1 ] || elapsed "$3"
}

# ---------------------------------------------------------------------------------- workloads
# w_NAME REP CONTENDER SERVER METRIC; the mount is up; each unmounts before its server-side check.
w_seqread() {
    local r=$1 c=$2 s=$3 m=$4 j rss
    if [ "$c" = smbclient ]; then
        j=$(timeout 900 python3 "$LIB" readcrc --cmd "$(smbclient_cmd "$s") -c 'get big.bin -'" --size "$SIZE" --crc "$CRC")
    else
        j=$(timeout 900 python3 "$LIB" readcrc "$ROOT/big.bin" --size "$SIZE" --crc "$CRC")
    fi
    rss=$(peak_rss)
    do_umount
    rec "$r" "$m" "$m" "$c" "$(jf "$j" MBps)" MB/s "$(jf "$j" ok)" "$(jf "$j" error)"
    [ "$m" = seqread ] && [ -n "$rss" ] && rec "$r" "$m" rss_read "$c" "$rss" MiB 1
}

w_seqwrite() {
    local r=$1 c=$2 s=$3 m=$4 name=w-${2//[^A-Za-z0-9]/_}-$1-$4.bin t0 dt o rc=0 ok=1 note="" rss late j
    local dst=${SRV_SHARE[$s]}/$name
    t0=$EPOCHREALTIME
    if [ "$c" = smbclient ]; then
        smbc "$s"
        o=$(timeout 900 "${SMBC[@]}" -c "put $SRC/big.src $name" 2>&1) || rc=$?
        grep -q NT_STATUS <<<"$o" && rc=1
    else
        o=$(timeout 900 dd if="$SRC/big.src" of="$ROOT/$name" bs=1M conv=fsync status=none 2>&1) || rc=$?
    fi
    dt=$(elapsed "$t0")
    rss=$(peak_rss)
    [ $rc = 0 ] || { ok=0; note="writer exited $rc: $o"; }
    # After fsync+close the data must be on the server: wait (bounded) and charge the wait.
    if [ $ok = 1 ]; then
        if late=$(wait_server_size "$dst" "$SIZE" "$t0"); then
            [ -n "$late" ] && { note="on the server ${late}s after start (close at ${dt}s)"; dt=$late; }
        else ok=0; note="server file has $(stat -c %s "$dst" 2>/dev/null) bytes 60 s after close"; fi
    fi
    do_umount
    if [ $ok = 1 ]; then
        j=$(timeout 300 python3 "$LIB" hash "$dst")
        [ "$(jf "$j" sha256)" = "$SHA" ] || { ok=0; note="server copy differs from the source (sha256; size $(jf "$j" size))"; }
    fi
    rm -f "$dst"
    rec "$r" "$m" "$m" "$c" "$(per_s "$((SIZE / 1000000))" "$dt")" MB/s $ok "$note"
    [ "$m" = seqwrite ] && [ -n "$rss" ] && rec "$r" "$m" rss_write "$c" "$rss" MiB 1
}

w_randread() {
    local r=$1 c=$2 fj=$WORK/fio.json ok=1 note="" v j direct
    for direct in 1 0; do
        rm -f "$fj"
        local extra=()
        [ $direct = 0 ] && extra=(--fadvise_hint=random) && note="O_DIRECT refused, buffered reads; "
        # inside ROOT: fio splits --filename at ':' (smbnetfs's path has 127.0.0.1:PORT)
        (cd "$ROOT" && timeout $((FIO_SECS + 120)) fio --name=randread --filename=big.bin --readonly \
            --rw=randread --bs=4k --numjobs=4 --iodepth=1 --ioengine=psync --direct=$direct "${extra[@]}" \
            --time_based --runtime="$FIO_SECS" --ramp_time=1 --group_reporting \
            --output-format=json --output="$fj" >>"$LOG" 2>&1)
        v=$(python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))["jobs"][0]
assert d["error"]==0 and d["read"]["io_bytes"]>0
p=d["read"]["clat_ns"].get("percentile",{})
print("%.0f %.0f %.0f" % (d["read"]["iops"], p.get("50.000000",0)/1e3, p.get("99.000000",0)/1e3))' "$fj" 2>/dev/null) && break
    done
    if [ -z "$v" ]; then ok=0; note="fio failed (see log)"
    else
        local p50 p99
        read -r v p50 p99 <<<"$v"
        note="${note}p50 $p50 us, p99 $p99 us"
        j=$(timeout 300 python3 "$LIB" spotcheck "$ROOT/big.bin" "$SRC/big.src" --blocks 512)
        [ "$(jf "$j" ok)" = 1 ] || { ok=0; note="$(jf "$j" error)"; }
    fi
    do_umount
    rec "$r" randread randread "$c" "$v" IOPS $ok "$note"
}

w_lsR() {
    local r=$1 c=$2 s=$3 t0 dt rc=0 n ok=1 note=""
    t0=$EPOCHREALTIME
    if [ "$c" = smbclient ]; then
        smbc "$s"
        timeout 600 "${SMBC[@]}" -c 'cd tree; recurse on; ls' >"$WORK/ls.out" 2>"$WORK/ls.err" || rc=$?
        dt=$(elapsed "$t0")
        n=$(grep -cE '^  f[0-9]{4} +[A-Z]* +4096 ' "$WORK/ls.out")
    else
        timeout 600 ls -lR "$ROOT/tree" >"$WORK/ls.out" 2>"$WORK/ls.err" || rc=$?
        dt=$(elapsed "$t0")
        n=$(awk '/^-/ && $5 == 4096 {n++} END {print n+0}' "$WORK/ls.out")
    fi
    do_umount
    [ $rc = 0 ] || { ok=0; note="exit $rc: $(head -c 150 "$WORK/ls.err")"; }
    [ "$n" = $TREE_FILES ] || { ok=0; note="$note listed $n files of 4096 bytes, expected $TREE_FILES"; }
    rec "$r" lsR lsR "$c" "$dt" s $ok "$note"
}

w_find() {
    local r=$1 c=$2 t0 dt n ok=1 note=""
    t0=$EPOCHREALTIME
    n=$(timeout 600 find "$ROOT/tree" -type f 2>"$WORK/find.err" | wc -l)
    dt=$(elapsed "$t0")
    do_umount
    [ "$n" = $TREE_FILES ] || { ok=0; note="found $n files, expected $TREE_FILES; $(head -c 100 "$WORK/find.err")"; }
    rec "$r" find find "$c" "$dt" s $ok "$note"
}

w_du() {
    local r=$1 c=$2 t0 dt o rc=0 kib ok=1
    t0=$EPOCHREALTIME
    o=$(timeout 600 du -s "$ROOT/tree" 2>"$WORK/du.err") || rc=$?
    dt=$(elapsed "$t0")
    do_umount
    kib=${o%%[[:space:]]*}
    # every file holds 4 KiB of data; fewer KiB in use than that is a wrong answer
    { [ $rc = 0 ] && [ "${kib:-0}" -ge $((TREE_FILES * 4)) ] 2>/dev/null; } || ok=0
    rec "$r" du du "$c" "$dt" s $ok "$([ $ok = 1 ] || echo "du said ${kib:-?} KiB (exit $rc), expected >= $((TREE_FILES * 4)); $(head -c 100 "$WORK/du.err")")"
}

w_smallfiles() {
    local r=$1 c=$2 s=$3 d=small-${2//[^A-Za-z0-9]/_}-$1 t0 dt ok=1 note="" j rc=0 late
    local sd=${SRV_SHARE[$s]}/$d
    if [ "$c" = smbclient ]; then
        t0=$EPOCHREALTIME
        smbc "$s"
        timeout 900 "${SMBC[@]}" -c "mkdir $d; cd $d; lcd $SRC/small; prompt off; mput f*" >"$WORK/sf.out" 2>&1 || rc=$?
        dt=$(elapsed "$t0")
        grep -q NT_STATUS "$WORK/sf.out" && rc=1
        [ $rc = 0 ] || { ok=0; note="smbclient exit $rc: $(grep -m1 NT_STATUS "$WORK/sf.out")"; }
        t0=$(awk -v t="$t0" 'BEGIN{printf "%.6f", t}')
    else
        j=$(timeout 900 python3 "$LIB" mkfiles "$ROOT/$d" --src "$SRC/small" --n "$SMALL")
        dt=$(jf "$j" seconds) t0=$(jf "$j" wall0)
        [ "$(jf "$j" ok)" = 1 ] || { ok=0; note="$(jf "$j" error)"; }
    fi
    # the rate counts until every file is on the server (a write-back client must not look faster)
    if [ $ok = 1 ]; then
        j=$(python3 "$LIB" waitfiles "$sd" --n "$SMALL" --since "$t0" --timeout 120)
        if [ "$(jf "$j" ok)" = 1 ]; then
            late=$(jf "$j" landed)
            [ -n "$late" ] && { note="on the server after ${late}s (closed at ${dt}s)"; dt=$late; }
        else ok=0; note="$(jf "$j" error)"; fi
    fi
    do_umount
    if [ $ok = 1 ]; then
        j=$(timeout 300 python3 "$LIB" verifyfiles "$sd" --src "$SRC/small" --n "$SMALL")
        [ "$(jf "$j" ok)" = 1 ] || { ok=0; note="$(jf "$j" error)"; }
    fi
    rm -rf "$sd"
    rec "$r" smallfiles smallfiles "$c" "$(per_s "$SMALL" "$dt")" files/s $ok "$note"
}

w_mount() { do_umount; }  # the mount time is recorded for every mount (metric "mount")

w_gitclone() {
    local r=$1 c=$2 s=$3 d=clone-${2//[^A-Za-z0-9]/_}-$1 t0 dt tf="" rc=0 ok=1 fok=1 st notes=()
    local sd=${SRV_SHARE[$s]}/$d g=(git -c safe.directory='*')
    t0=$EPOCHREALTIME
    timeout 600 git -c advice.detachedHead=false clone -q --no-hardlinks "file://$SRC/repo.git" "$ROOT/$d" \
        >"$WORK/git.out" 2>&1 || rc=$?
    dt=$(elapsed "$t0")
    if [ $rc != 0 ]; then
        ok=0 notes+=("git clone exit $rc: $(tail -c 200 "$WORK/git.out")")
    else
        # in the mount: the repository must check out clean (git compares sizes and mtimes from
        # lstat with what it recorded while writing) and pass fsck
        t0=$EPOCHREALTIME
        timeout 600 "${g[@]}" -C "$ROOT/$d" fsck --no-progress >"$WORK/fsck.out" 2>&1 ||
            { ok=0 fok=0 notes+=("git fsck in the mount failed: $(tail -c 150 "$WORK/fsck.out")"); }
        tf=$(elapsed "$t0")
        if ! st=$(timeout 600 "${g[@]}" -C "$ROOT/$d" status --porcelain 2>&1) || [ -n "$st" ]; then
            ok=0 notes+=("git status in the mount: $(wc -l <<<"$st") entries, e.g. $(head -c 80 <<<"$st")")
        fi
    fi
    do_umount
    # on the server: the same repository, complete, clean and sound (checked even after a failure
    # in the mount, to tell what reached the server)
    if [ $rc = 0 ]; then
        if [ "$(timeout 60 "${g[@]}" -C "$sd" rev-parse HEAD 2>/dev/null)" != "$GIT_HEAD" ]; then
            ok=0 notes+=("server copy: HEAD is not $GIT_HEAD")
        elif [ "$(timeout 60 "${g[@]}" -C "$sd" ls-files | wc -l)" != "$GIT_FILES" ]; then
            ok=0 notes+=("server copy: not $GIT_FILES tracked files")
        elif ! timeout 600 "${g[@]}" -C "$sd" fsck --no-progress >"$WORK/fsck2.out" 2>&1; then
            ok=0 notes+=("server copy: git fsck failed: $(tail -c 150 "$WORK/fsck2.out")")
        elif ! st=$(timeout 600 "${g[@]}" -C "$sd" status --porcelain 2>&1) || [ -n "$st" ]; then
            ok=0 notes+=("server copy: git status $(wc -l <<<"$st") entries, e.g. $(head -c 80 <<<"$st")")
        fi
    fi
    rm -rf "$sd"
    local IFS=';'
    rec "$r" gitclone gitclone "$c" "$dt" s $ok "${notes[*]}"
    [ -n "$tf" ] && rec "$r" gitclone gitfsck "$c" "$tf" s $fok "$([ $fok = 1 ] || echo "${notes[*]}")"
}

# which server each workload uses, and who sits it out
server_of() { case $1 in sig*) echo sign ;; enc*) echo enc ;; *) echo plain ;; esac; }
func_of() { case $1 in sigread | encread) echo seqread ;; sigwrite | encwrite) echo seqwrite ;; *) echo "$1" ;; esac; }
applies() { # CONTENDER WORKLOAD
    case $1 in
        smbclient) [[ " randread find du gitclone " != *" $2 "* ]] ;;
        local | bindfs) [[ " mount sigread sigwrite encread encwrite " != *" $2 "* ]] ;;
        *) true ;;
    esac
}

# ---------------------------------------------------------------------------------- run
{
    echo "# fusevol benchmark — $(date -Iseconds)"
    echo
    echo "scripts/bench.sh -r $REPS$([ $QUICK = 1 ] && echo " -q") -c \"${CL[*]}\" -w \"${WL[*]}\"" \
        "on $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo "+dirty");" \
        "fusevol -o vers=3.1.1${FUSEVOL_OPTS:+,$FUSEVOL_OPTS}; rclone mount --vfs-cache-mode off;" \
        "smbnetfs -o big_writes. Samba $(smbd --version 2>/dev/null | cut -d' ' -f2) on 127.0.0.1, share on" \
        "$(df -P "$WORK" | awk 'NR==2 {print $1}'), variants default / sign-gmac / encrypt-aes128gcm." \
        "Sizes: sequential file $SIZE_MIB MiB, tree $TREE_FILES x 4 KiB in $TREE_DIRS dirs, $SMALL small files," \
        "git repo $REPO_FILES files / 3 commits, fio ${FIO_SECS} s + 1 s ramp. Page cache dropped before each run:" \
        "$([ $DROP = 1 ] && echo yes || echo no). Fresh mount per run."
    echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r)."
} >"$BASE.meta"
say "contenders: ${CL[*]}; workloads: ${WL[*]}; $REPS rep(s); load $LOAD_START"

NC=${#CL[@]}
declare -A BROKEN
T0=$SECONDS
for ((rep = 1; rep <= REPS; rep++)); do
    say "=== repetition $rep/$REPS ($((SECONDS - T0)) s, load $(cut -d' ' -f1-3 /proc/loadavg))"
    for w in "${WL[@]}"; do
        s=$(server_of "$w") f=$(func_of "$w")
        for ((i = 0; i < NC; i++)); do
            c=${CL[$(((i + rep - 1) % NC))]}
            applies "$c" "$w" || continue
            drop_caches
            # a client that could not mount a server at all is not retried (each try costs 30 s)
            if [ -n "${BROKEN[$c-$s]:-}" ]; then
                rec "$rep" "$w" "$w" "$c" "" "" 0 "${BROKEN[$c-$s]}"
                continue
            fi
            if ! do_mount "$c" "$s"; then
                rec "$rep" "$w" "$w" "$c" "" "" 0 "mount failed: $MOUNT_ERR"
                [ "$c" = rclone ] && [[ $MOUNT_ERR == *"couldn't connect"* ]] && BROKEN[$c-$s]="mount failed: $MOUNT_ERR"
                continue
            fi
            [ -n "$MOUNT_S" ] && [ "$s" = plain ] && rec "$rep" "$w" mount "$c" "$MOUNT_S" s 1
            "w_$f" "$rep" "$c" "$s" "$w"
            do_umount
        done
    done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
echo "Load average (1/5/15 min) at start: $LOAD_START; at end: $LOAD_END; $((SECONDS - T0)) s of measuring." >>"$BASE.meta"
say "done in $((SECONDS - T0)) s; load $LOAD_END"
python3 "$LIB" report "$CSV" --md "$BASE.md" --meta "$BASE.meta" || die "report failed"
say "results: $BASE.md (.csv, .log)"
