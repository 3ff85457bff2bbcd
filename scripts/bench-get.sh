#!/usr/bin/env bash
# scripts/bench-get.sh — short benchmark (not a test): sequential download of a 1 GiB file,
# `fusevol smb get` against `smbclient get`, on two private Samba servers on loopback:
#
#   sign-gmac           SMB 3.1.1, signing required, AES-128-GMAC
#   encrypt-aes128gcm   SMB 3.1.1, encryption required, AES-128-GCM
#
# For each server, REPS (3) interleaved repetitions of
#   target/release/fusevol smb get //127.0.0.1/share/big.bin /dev/null -o port=P,credentials=C,vers=3.1.1
#   smbclient //127.0.0.1/share -p P -A C -m SMB3_11 --client-protection=sign|encrypt -c 'get big.bin /dev/null'
# each timed with a monotonic clock (process start to exit, so connect + auth are included for
# both). Before timing, one run of each writes the file to tmpfs and its sha256 is compared with
# the source. Prints median MiB/s (min-max) per contender and the ratio ours/smbclient, and
# keeps a CSV + Markdown copy in bench-results/ (gitignored).
#
# As root (native.sh creates the test user and runs smbd). Environment:
#   REPS (3), SIZE_MIB (1024), BENCH_DIR (parent of the state dirs; default /dev/shm when it has
#   room, so the server reads from memory), NO_BUILD=1 (skip cargo build --release),
#   OUT_DIR (bench-results), FUSEVOL_BIN (target/release/fusevol; e.g. a debug build or a stub).
# If the fusevol binary has no `smb get` yet, its half is skipped with a message.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
NATIVE=$ROOT/samba-docker/native.sh
REPS=${REPS:-3}
SIZE_MIB=${SIZE_MIB:-1024}
OUT_DIR=${OUT_DIR:-$ROOT/bench-results}
BIN=${FUSEVOL_BIN:-$ROOT/target/release/fusevol}
MODES=(sign-gmac encrypt-aes128gcm)

say() { echo "bench-get: $*" >&2; }
die() {
    say "$*"
    exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (starts private smbd instances, creates the test user)"
for t in smbclient python3 sha256sum ss; do command -v "$t" >/dev/null || die "$t not found (scripts/setup.sh)"; done
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi

# ---- where the data lives: tmpfs if it has room for 2 servers' copies + 2 verify copies ----
need_kib=$(((SIZE_MIB * 4 + 256) * 1024))
if [ -z "${BENCH_DIR:-}" ]; then
    BENCH_DIR=/tmp
    if [ -d /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt "$need_kib" ]; then
        BENCH_DIR=/dev/shm
    fi
fi
WORK=$(mktemp -d "$BENCH_DIR/fusevol-bench.XXXXXX")
chmod 0755 "$WORK"
declare -A STATE PORT
cleanup() {
    local m
    for m in "${MODES[@]}"; do
        [ -n "${STATE[$m]:-}" ] && bash "$NATIVE" stop "${STATE[$m]}" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build ----
if [ "${NO_BUILD:-0}" != 1 ]; then
    say "cargo build --release"
    cargo build --release --quiet
fi
OURS=1
if [ ! -x "$BIN" ]; then
    say "SKIP fusevol: $BIN not built"
    OURS=0
elif ! help=$("$BIN" smb get --help 2>&1) || ! grep -qi 'usage' <<<"$help" || ! grep -qw 'get' <<<"$help"; then
    say "SKIP fusevol: '$BIN smb get' does not exist yet; only smbclient is measured"
    OURS=0
fi

# ---- servers and data ----
free_port() {
    local p
    for p in $(seq "$1" $(($1 + 200))); do
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
    die "no free port near $1"
}
next=24600
for m in "${MODES[@]}"; do
    STATE[$m]=$WORK/$m
    PORT[$m]=$(free_port $next)
    next=$((PORT[$m] + 1))
    bash "$NATIVE" start "$m" "${STATE[$m]}" "${PORT[$m]}" >/dev/null
    say "started $m on 127.0.0.1:${PORT[$m]}"
done

src=${STATE[${MODES[0]}]}/shares/share/big.bin
say "creating ${SIZE_MIB} MiB of random data"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$src"
for m in "${MODES[@]:1}"; do cp "$src" "${STATE[$m]}/shares/share/big.bin"; done
for m in "${MODES[@]}"; do chown fusevoltest: "${STATE[$m]}/shares/share/big.bin"; done
SRC_SHA=$(sha256sum "$src" | cut -d' ' -f1)
SIZE_BYTES=$((SIZE_MIB * 1024 * 1024))

# ---- contenders ----
ours_cmd() { # ours_cmd MODE DEST
    local m=$1
    echo "$BIN" smb get //127.0.0.1/share/big.bin "$2" \
        -o "port=${PORT[$m]},credentials=${STATE[$m]}/creds,vers=3.1.1"
}
smbclient_cmd() { # smbclient_cmd MODE DEST
    local m=$1 prot
    case $m in
        sign-*) prot=sign ;;
        encrypt-*) prot=encrypt ;;
        *) prot=off ;;
    esac
    echo smbclient //127.0.0.1/share -p "${PORT[$m]}" -A "${STATE[$m]}/creds" -m SMB3_11 \
        --client-protection=$prot -c "'get big.bin $2'"
}

# timed LOG CMD...: run CMD (a shell string) and print its wall time in seconds from a monotonic
# clock; fails if CMD fails.
timed() {
    local log=$1
    shift
    python3 - "$log" "$*" <<'EOF'
import subprocess, sys, time
log, cmd = sys.argv[1], sys.argv[2]
with open(log, "ab") as f:
    t0 = time.monotonic()
    rc = subprocess.call(["bash", "-c", cmd], stdout=f, stderr=subprocess.STDOUT)
    dt = time.monotonic() - t0
if rc != 0:
    sys.exit(f"command failed (exit {rc}): {cmd}")
print(f"{dt:.6f}")
EOF
}

LOG=$WORK/run.log
CONTENDERS=(smbclient)
[ $OURS = 1 ] && CONTENDERS=(fusevol smbclient)

cmd_for() { # cmd_for CONTENDER MODE DEST
    if [ "$1" = fusevol ]; then ours_cmd "$2" "$3"; else smbclient_cmd "$2" "$3"; fi
}

CSV=$WORK/results.csv
echo "mode,contender,rep,seconds,mib_per_s" >"$CSV"
declare -A BAD=()
for m in "${MODES[@]}"; do
    for c in "${CONTENDERS[@]}"; do
        dst=$WORK/verify.bin
        rm -f "$dst"
        if ! timed "$LOG" "$(cmd_for "$c" "$m" "$dst")" >/dev/null; then
            say "FAIL $m/$c: verification run failed; log tail:"
            tail -n 5 "$LOG" >&2
            BAD[$m/$c]=1
            continue
        fi
        sha=$(sha256sum "$dst" 2>/dev/null | cut -d' ' -f1)
        rm -f "$dst"
        if [ -z "$sha" ]; then
            say "FAIL $m/$c: the verification run wrote no file"
            BAD[$m/$c]=1
            continue
        fi
        if [ "$sha" != "$SRC_SHA" ]; then
            say "FAIL $m/$c: sha256 of the download $sha != source $SRC_SHA"
            BAD[$m/$c]=1
        else
            say "verified $m/$c: downloaded bytes match the source (sha256)"
        fi
    done
    for rep in $(seq 1 "$REPS"); do
        order=("${CONTENDERS[@]}")
        # Alternate who goes first, so neither always runs right after the other.
        if [ $((rep % 2)) = 0 ] && [ ${#order[@]} = 2 ]; then order=("${order[1]}" "${order[0]}"); fi
        for c in "${order[@]}"; do
            [ -n "${BAD[$m/$c]:-}" ] && continue
            if secs=$(timed "$LOG" "$(cmd_for "$c" "$m" /dev/null)"); then
                mibs=$(python3 -c "print(f'{$SIZE_MIB / $secs:.1f}')")
                echo "$m,$c,$rep,$secs,$mibs" >>"$CSV"
                say "$m rep $rep $c: ${secs}s ${mibs} MiB/s"
            else
                say "FAIL $m/$c rep $rep; log tail:"
                tail -n 5 "$LOG" >&2
                BAD[$m/$c]=1
            fi
        done
    done
done

# smbclient must have announced the whole file on every run (verification runs included).
sc_runs=$(grep -c ',smbclient,' "$CSV" || true)
sc_full=$(grep -c "of size $SIZE_BYTES as" "$LOG" || true)
if [ "$sc_full" -lt "$sc_runs" ]; then
    say "FAIL: only $sc_full smbclient runs reported a $SIZE_BYTES-byte file, expected >= $sc_runs"
    BAD[smbclient-size]=1
fi

mkdir -p "$OUT_DIR"
stamp=$(date +%Y%m%d-%H%M%S)
cp "$CSV" "$OUT_DIR/get-$stamp.csv"
python3 - "$CSV" "$SIZE_MIB" "$OUT_DIR/get-$stamp.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
size, out = sys.argv[2], sys.argv[3]
modes, data = [], {}
for r in rows:
    if r["mode"] not in modes:
        modes.append(r["mode"])
    data.setdefault((r["mode"], r["contender"]), []).append(float(r["mib_per_s"]))
desc = {"sign-gmac": "3.1.1 signed (AES-128-GMAC)", "encrypt-aes128gcm": "3.1.1 encrypted (AES-128-GCM)"}
lines = [f"Sequential get of {size} MiB over loopback, process start to exit (MiB/s)", "",
         "| server mode | contender | median MiB/s (min–max) | n | ours/smbclient |",
         "|---|---|---|---|---|"]
for m in modes:
    base = data.get((m, "smbclient"))
    for c in ("fusevol", "smbclient"):
        v = data.get((m, c))
        if not v:
            lines.append(f"| {m}: {desc.get(m, '')} | {c} | skipped/failed | 0 | |")
            continue
        ratio = ""
        if c == "fusevol" and base:
            ratio = f"{statistics.median(v) / statistics.median(base):.2f}"
        lines.append(f"| {m}: {desc.get(m, '')} | {c} | {statistics.median(v):.1f} ({min(v):.1f}–{max(v):.1f}) | {len(v)} | {ratio} |")
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
EOF
say "results: $OUT_DIR/get-$stamp.md (.csv)"
[ ${#BAD[@]} = 0 ] || die "some runs failed: ${!BAD[*]}"
