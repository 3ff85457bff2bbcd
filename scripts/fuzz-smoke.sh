#!/usr/bin/env bash
# scripts/fuzz-smoke.sh — build every cargo-fuzz target once, run each for a bounded time, fail
# if any of them finds a crash (panic, overflow, broken invariant, OOM, timeout).
#
# Environment:
#   FUZZ_SECONDS    seconds per target (libFuzzer -max_total_time), default 10
#   FUZZ_JOBS       targets run at the same time, default 2
#   FUZZ_TARGETS    space-separated subset, default all (`cargo fuzz list`)
#   FUZZ_SANITIZER  none (default: the crate forbids unsafe code; 2x faster), address, ...
#   FUZZ_ARGS       extra libFuzzer flags for every run, e.g. "-max_len=131072"
#   CARGO_TARGET_DIR  honoured (default fuzz/target)
#
# Needs a nightly toolchain (`cargo +nightly`); installs cargo-fuzz if missing. New inputs go to
# a temporary corpus (the committed seeds in fuzz/corpus/ are only read); crashes are written to
# fuzz/artifacts/<target>/ and the command to reproduce one is printed. Exit 0 when every
# target ran its time without a finding, 1 otherwise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
SECS=${FUZZ_SECONDS:-10}
JOBS=${FUZZ_JOBS:-2}
SAN=${FUZZ_SANITIZER:-none}
read -r -a EXTRA <<<"${FUZZ_ARGS:-}"
start=$(date +%s)

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz-smoke: needs a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

cd "$ROOT/fuzz"
echo "fuzz-smoke: building all targets (sanitizer: $SAN)" >&2
cargo +nightly fuzz build -s "$SAN"
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
tdir=$(cargo +nightly metadata --format-version 1 --no-deps |
    grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
BIN="$tdir/$triple/release"
read -r -a targets <<<"${FUZZ_TARGETS:-$(cargo +nightly fuzz list | tr '\n' ' ')}"
built=$(date +%s)

work=$(mktemp -d "${TMPDIR:-/tmp}/fusevol-fuzz-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
ART="$ROOT/fuzz/artifacts"

run_one() {
    local t=$1 seeds="$ROOT/fuzz/corpus/$1"
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    [ -d "$seeds" ] || seeds=
    # -timeout: one input taking 10 s is a finding; -rss_limit_mb also caps single mallocs.
    if "$BIN/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        ${EXTRA[@]+"${EXTRA[@]}"} -artifact_prefix="$work/artifacts/$t/" "$work/corpus/$t" ${seeds:+"$seeds"} \
        >"$work/$t.log" 2>&1; then
        echo "ok $t"
    else
        echo "FAIL $t"
    fi
}

running=0
: >"$work/results"
for t in "${targets[@]}"; do
    run_one "$t" >>"$work/results" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

fail=0
for t in "${targets[@]}"; do
    log="$work/$t.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    if grep -qx "ok $t" "$work/results"; then
        printf '  %-26s ok    %10s execs  %8s/s\n' "$t" "${execs:-?}" "${secs:-?}"
    else
        fail=1
        printf '  %-26s FAIL\n' "$t"
        grep -E 'panicked at|^SUMMARY|==ERROR|assertion|left:|right:' "$log" | head -8 | cut -c1-300 | sed 's/^/      /'
        art=$(grep -o "Test unit written to [^ ]*" "$log" | head -1 | cut -d' ' -f5)
        if [ -n "$art" ] && [ -f "$art" ]; then
            mkdir -p "$ART/$t"
            cp "$art" "$ART/$t/"
            art="$ART/$t/$(basename "$art")"
            echo "      input: $art"
            echo "      reproduce: (cd fuzz && cargo +nightly fuzz run -s $SAN $t $art)"
            echo "      then copy it into fuzz/corpus/$t/ so cargo test replays it"
        fi
    fi
done
end=$(date +%s)
echo "fuzz-smoke: ${#targets[@]} targets x ${SECS}s, build $((built - start))s, total $((end - start))s"
exit "$fail"
