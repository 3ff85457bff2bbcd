#!/usr/bin/env bash
# scripts/bench-btfs.sh — benchmark (not a test): fusevol's torrent mount beside Debian's `btfs`
# (johang/btfs 2.24) and `aria2c` on one loopback swarm, in one run.
#
# The swarm is protocol-tests/btfs_swarm.py (Debian's opentracker on 127.0.0.1, a
# python3-libtorrent seeder on 127.0.0.2), inside a private network namespace (`unshare -n`,
# only `lo`), so nothing leaves the machine. Payload: big.bin (BENCH_MB, default 256 MiB, random)
# plus three small files, 256 KiB pieces. For each mount, in this order, timed with a monotonic
# clock:
#   list        mount command started → `payload/big.bin` visible (both mount in the foreground)
#   first byte  4 KiB `dd` at offset 0 of big.bin on the fresh mount
#   full read   `dd bs=1M` of the whole big.bin through the mount (sha256 checked afterwards)
#   peak RSS    VmHWM of the mount process after the full read
# aria2c downloads the whole torrent as a reference (no mount: its time is the "full read").
# Prints a table, one row per contender, medians over RUNS (1) runs.
#
# As root. Installs what is missing (btfs opentracker mktorrent python3-libtorrent aria2 fuse)
# with apt-get. Environment: RUNS (1), BENCH_MB (256), NO_BUILD=1 (skip `cargo build
# --release`), FUSEVOL_BIN (target/release/fusevol, or $CARGO_TARGET_DIR/release/fusevol),
# KEEP=1 (keep the work dir), FUSEVOL_OPTS (extra -o options for fusevol), CONTENDERS
# ("fusevol btfs aria2c"), FUSEVOL_LOG (fusevol's log filter; the log is $WORK/fusevol.log).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

if [ "${BENCH_BTFS_IN_NETNS:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "bench-btfs.sh: run as root (FUSE mounts, unshare)" >&2; exit 1; }
    need=()
    for pair in btfs:btfs opentracker:opentracker mktorrent:mktorrent aria2c:aria2 fusermount:fuse; do
        command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
    done
    /usr/bin/python3 -c 'import libtorrent' 2>/dev/null || need+=(python3-libtorrent)
    if [ ${#need[@]} -gt 0 ]; then
        echo "installing: ${need[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
    fi
    if [ "${NO_BUILD:-}" != 1 ] && [ -z "${FUSEVOL_BIN:-}" ]; then
        cargo build --release --quiet
    fi
    exec unshare -n env BENCH_BTFS_IN_NETNS=1 bash "$0" "$@"
fi

RUNS=${RUNS:-1}
BENCH_MB=${BENCH_MB:-256}
KEEP=${KEEP:-0}
BIN=${FUSEVOL_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/fusevol}
[ -x "$BIN" ] || { echo "no fusevol binary at $BIN (cargo build --release)" >&2; exit 1; }
PY=/usr/bin/python3
TRACKER_PORT=17969 SEED_PORT=17001 BTFS_PORT=17100 ARIA_PORT=17200 FV_PORT=17300

WORK=$(mktemp -d /tmp/bench-btfs.XXXXXX)
PIDS=() MOUNTS=()
now_ms() { date +%s%3N; }
log() { echo "[$(date +%T)] $*" >&2; }
is_mounted() { awk -v m="$1" '$2 == m {f=1} END {exit !f}' /proc/mounts; }

cleanup() {
    local m p
    for m in "${MOUNTS[@]:-}"; do
        [ -n "$m" ] && is_mounted "$m" && { timeout -s KILL 10 umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; }
    done
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do
        [ -z "$p" ] && continue
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    exec 4>&- 2>/dev/null || true
    wait 2>/dev/null || true
    if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_until TIMEOUT_S cmd... : poll every 5 ms; 1 on timeout.
wait_until() {
    local limit=$(( $(now_ms) + $1 * 1000 )); shift
    until "$@" >/dev/null 2>&1; do
        [ "$(now_ms)" -ge "$limit" ] && return 1
        sleep 0.005
    done
}
stop_pid() { # TERM, bounded wait, KILL
    kill "$1" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
hwm_kib() { awk '/^VmHWM/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ------------------------------------------------------------------ payload, torrent, swarm
$PY - <<'PY'
import fcntl, socket, struct
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    f = struct.unpack("16sh", fcntl.ioctl(s, 0x8913, struct.pack("16sh", b"lo", 0)))[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sh", b"lo", f | 1))
PY
log "work dir $WORK; big.bin ${BENCH_MB} MiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$WORK/seed/payload/docs/deep"
head -c $(( BENCH_MB << 20 )) /dev/urandom > "$WORK/seed/payload/big.bin"
echo "hello from the bench swarm" > "$WORK/seed/payload/readme.txt"
head -c 100000 /dev/urandom > "$WORK/seed/payload/docs/small-100k.bin"
head -c 3158073 /dev/urandom > "$WORK/seed/payload/docs/deep/medium-3m.bin"
BIG_SHA=$(sha256sum < "$WORK/seed/payload/big.bin" | cut -d' ' -f1)
TORRENT=$WORK/payload.torrent
mktorrent -a "http://127.0.0.1:$TRACKER_PORT/announce" -l 18 -o "$TORRENT" "$WORK/seed/payload" >/dev/null
mkfifo "$WORK/swarm.in"
$PY "$ROOT/protocol-tests/btfs_swarm.py" "$WORK/swarm" "$TRACKER_PORT" "$SEED_PORT" "$WORK/seed" "$TORRENT" \
    < "$WORK/swarm.in" > "$WORK/swarm.out" 2> "$WORK/swarm.err" &
PIDS+=($!)
exec 4> "$WORK/swarm.in"   # the swarm runs until this closes
wait_until 120 grep -q READY "$WORK/swarm.out" || { echo "swarm did not start:" >&2; cat "$WORK/swarm.err" >&2; exit 1; }
log "swarm ready (seeder 127.0.0.2:$SEED_PORT, tracker 127.0.0.1:$TRACKER_PORT)"

RESULTS=$WORK/results.tsv
: > "$RESULTS"
rec() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; log "  $1 $2 = $3"; }

# ------------------------------------------------------------------ one mount
# mount_run NAME MNT PID_CMD... : the command mounts in the foreground on MNT.
mount_run() {
    local name=$1 mnt=$2; shift 2
    local t0 t1 pid ms sha
    MOUNTS+=("$mnt")
    t0=$(now_ms)
    "$@" > "$WORK/$name.log" 2>&1 &
    pid=$!; PIDS+=($pid)
    if ! wait_until 120 timeout -s KILL 5 test -e "$mnt/payload/big.bin"; then
        rec "$name" list_ms TIMEOUT; stop_pid "$pid"; return
    fi
    rec "$name" list_ms $(( $(now_ms) - t0 ))
    t1=$(now_ms)
    if timeout -s KILL 120 dd if="$mnt/payload/big.bin" of=/dev/null bs=4096 count=1 status=none; then
        rec "$name" first_byte_ms $(( $(now_ms) - t1 ))
    else
        rec "$name" first_byte_ms FAILED
    fi
    t1=$(now_ms)
    if timeout -s KILL 900 dd if="$mnt/payload/big.bin" of=/dev/null bs=1M status=none; then
        ms=$(( $(now_ms) - t1 ))
        rec "$name" full_read_ms "$ms"
        rec "$name" full_read_mib_s "$(awk -v m="$BENCH_MB" -v t="$ms" 'BEGIN{printf "%.1f", m/(t/1000)}')"
    else
        rec "$name" full_read_ms FAILED
    fi
    rec "$name" peak_rss_mib "$(awk -v k="$(hwm_kib "$pid")" 'BEGIN{printf "%.1f", k/1024}')"
    sha=$(timeout -s KILL 300 sha256sum < "$mnt/payload/big.bin" | cut -d' ' -f1 || true)
    [ "$sha" = "$BIG_SHA" ] && rec "$name" sha_ok 1 || rec "$name" sha_ok 0
    t1=$(now_ms)
    timeout -s KILL 10 umount "$mnt" 2>/dev/null || timeout -s KILL 10 fusermount -u "$mnt" 2>/dev/null || umount -l "$mnt" || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    rec "$name" unmount_exit_ms $(( $(now_ms) - t1 ))
    stop_pid "$pid"
}

aria_run() {
    local dir=$WORK/aria t0 pid ms hwm=0 h
    rm -rf "$dir"; mkdir -p "$dir"
    t0=$(now_ms)
    aria2c --dir="$dir" --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
        --enable-peer-exchange=false --seed-time=0 --listen-port=$ARIA_PORT --disable-ipv6=true \
        --file-allocation=none --summary-interval=0 --console-log-level=warn --bt-stop-timeout=120 \
        "$TORRENT" > "$WORK/aria2c.log" 2>&1 &
    pid=$!; PIDS+=($pid)
    while kill -0 "$pid" 2>/dev/null; do
        h=$(hwm_kib "$pid"); [ "${h:-0}" -gt "$hwm" ] && hwm=$h
        sleep 0.02
    done
    wait "$pid" || true
    ms=$(( $(now_ms) - t0 ))
    rec aria2c list_ms -; rec aria2c first_byte_ms -
    rec aria2c full_read_ms "$ms"
    rec aria2c full_read_mib_s "$(awk -v m="$BENCH_MB" -v t="$ms" 'BEGIN{printf "%.1f", m/(t/1000)}')"
    rec aria2c peak_rss_mib "$(awk -v k="$hwm" 'BEGIN{printf "%.1f", k/1024}')"
    [ "$(sha256sum < "$dir/payload/big.bin" | cut -d' ' -f1)" = "$BIG_SHA" ] && rec aria2c sha_ok 1 || rec aria2c sha_ok 0
    rec aria2c unmount_exit_ms -
    rm -rf "$dir"
}

CONTENDERS=${CONTENDERS:-fusevol btfs aria2c}
for run in $(seq 1 "$RUNS"); do
    log "=== run $run/$RUNS"
    for c in $CONTENDERS; do
        log "$c"
        m=$WORK/mnt-$c; d=$WORK/data-$c; rm -rf "$m" "$d"; mkdir -p "$m" "$d"
        case $c in
        fusevol) mount_run fusevol "$m" "$BIN" mount -f -t btfs \
            -o "nodht,listen=127.0.0.1,min_port=$FV_PORT,max_port=$FV_PORT,data_dir=$d${FUSEVOL_OPTS:+,$FUSEVOL_OPTS}" \
            "$TORRENT" "$m" ;;
        btfs) mount_run btfs "$m" btfs -f --data-directory="$d" --min-port=$BTFS_PORT \
            --max-port=$BTFS_PORT "$TORRENT" "$m" ;;
        aria2c) aria_run ;;
        *) echo "unknown contender $c" >&2; exit 1 ;;
        esac
    done
done

# ------------------------------------------------------------------ table (medians)
echo
echo "bench-btfs: big.bin ${BENCH_MB} MiB, 256 KiB pieces, loopback swarm, median of $RUNS run(s); load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
awk -F'\t' '
    { k = $1 SUBSEP $2; n[k]++; v[k, n[k]] = $3; if (!($1 in seen)) { seen[$1] = 1; who[++w] = $1 } }
    function med(k,   m, j, x, y, t, a, num) {
        m = n[k]; if (!m) return "?"
        num = 1; for (j = 1; j <= m; j++) { a[j] = v[k, j]; if (a[j] !~ /^[0-9.]+$/) num = 0 }
        if (!num) return a[1]
        for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (a[y] + 0 < a[x] + 0) { t = a[x]; a[x] = a[y]; a[y] = t }
        return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    END {
        split("list_ms first_byte_ms full_read_ms full_read_mib_s peak_rss_mib sha_ok unmount_exit_ms", cols, " ")
        printf "%-16s", "metric"; for (i = 1; i <= w; i++) printf " %12s", who[i]; printf "   goal (fusevol)\n"
        goal["list_ms"] = "<= btfs"; goal["first_byte_ms"] = "<= 50"; goal["full_read_mib_s"] = ">= 150"
        goal["peak_rss_mib"] = "<= 48"
        for (c = 1; c <= 7; c++) {
            printf "%-16s", cols[c]
            for (i = 1; i <= w; i++) printf " %12s", med(who[i] SUBSEP cols[c])
            printf "   %s\n", goal[cols[c]]
        }
    }' "$RESULTS"
[ "$KEEP" = 1 ] && echo "raw: $RESULTS"
exit 0
