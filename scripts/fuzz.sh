#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz / libFuzzer) of the parsers and decoders that take
# untrusted input; see docs/fuzzing.md.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 20)
#
# Builds every target in fuzz/, replays the crash reproducers kept in
# fuzz/regressions/<target>/, then fuzzes each target for SECONDS_PER_TARGET on a copy of
# its seed corpus (fuzz/corpus/<target>/) in a scratch directory, so the repository is
# never changed. Exits non-zero when any target crashes, leaks past the RSS limit or times
# out, printing where the reproducer was written.
#
# Environment:
#   FUZZ_TARGETS   space-separated subset of targets (default: all in fuzz/fuzz_targets)
#   FUZZ_MODE      asan (nightly + cargo-fuzz) or stable (default: asan when available)
#   FUZZ_OUT       directory for logs, corpus copies and crash artifacts (default: a new
#                  temporary directory, removed after a clean run and kept after a failure)
#   CARGO_BUILD_JOBS  parallel build jobs (cargo's own variable)
#   FUZZ_ARGS      extra libFuzzer flags for the fuzzing runs (e.g. "-max_len=65536")
#
# Needs a C++ compiler for libFuzzer (cc/c++). With nightly and cargo-fuzz installed it builds
# with AddressSanitizer; otherwise with the stable toolchain (FUZZ_MODE=asan|stable forces one).
set -euo pipefail

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$root/fuzz"
cd "$root"

# libFuzzer limits for every run (fuzzing and regression replay).
limits=(-rss_limit_mb=2048 -timeout=10)

# Two ways to build the same targets:
# - asan: nightly + cargo-fuzz, with AddressSanitizer (the default where both are installed);
# - stable: the stable toolchain with libFuzzer's coverage instrumentation (sancov) and debug
#   assertions but no sanitizer. The fuzzed code is safe Rust, so what the targets look for
#   (panics, unbounded memory, timeouts) is caught the same; this is what CI runs, since a CI
#   machine has only the stable toolchain.
mode="${FUZZ_MODE:-}"
if [ -z "$mode" ]; then
    if rustup run nightly rustc --version >/dev/null 2>&1 && cargo +nightly fuzz --version >/dev/null 2>&1; then
        mode=asan
    else
        mode=stable
    fi
fi

target_dir="${CARGO_TARGET_DIR:-$fuzz_dir/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac

targets="${FUZZ_TARGETS:-}"
if [ -z "$targets" ]; then
    targets="$(find "$fuzz_dir/fuzz_targets" -name '*.rs' -exec basename {} .rs \; | sort | tr '\n' ' ')"
fi

build_started=$SECONDS
case "$mode" in
asan)
    host="$(rustup run nightly rustc -vV | sed -n 's/^host: //p')"
    bin_dir="$target_dir/$host/release"
    echo "== building fuzz targets (nightly, release + debug assertions, AddressSanitizer)"
    for target in $targets; do
        cargo +nightly fuzz build --fuzz-dir "$fuzz_dir" --target "$host" "$target"
    done
    ;;
stable)
    host="$(rustc -vV | sed -n 's/^host: //p')"
    bin_dir="$target_dir/stable/$host/release"
    echo "== building fuzz targets (stable, release + debug assertions, sancov, no sanitizer)"
    # The flags cargo-fuzz gives libFuzzer builds; `--target` keeps them off build scripts.
    RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks" \
        cargo build --manifest-path "$fuzz_dir/Cargo.toml" --release --target "$host" \
        --target-dir "$target_dir/stable" $(printf -- '--bin %s ' $targets)
    ;;
*)
    echo "FUZZ_MODE must be asan or stable, not $mode" >&2
    exit 2
    ;;
esac
echo "== built in $((SECONDS - build_started))s"

out="${FUZZ_OUT:-}"
keep_out=1
if [ -z "$out" ]; then
    out="$(mktemp -d "${TMPDIR:-/tmp}/drp-fuzz.XXXXXX")"
    keep_out=0
fi
mkdir -p "$out/logs"

failed=()
summary=()

# Reports a failed libFuzzer run: its exit status and the reproducer it wrote.
report_failure() {
    local target="$1" what="$2" log="$3" status="$4"
    failed+=("$target ($what)")
    echo "!! $target: $what failed (exit $status); log: $log" >&2
    grep -E '^==[0-9]+== ERROR|^(SUMMARY|thread .* panicked)|deadly signal|out-of-memory|timeout after' "$log" | head -5 >&2 || true
    grep -E 'Test unit written to|artifact_prefix' "$log" | sed 's/^/!! /' >&2 || true
}

# shellcheck disable=SC2086
for target in $targets; do
    bin="$bin_dir/$target"
    [ -x "$bin" ] || { echo "no binary $bin" >&2; exit 1; }

    # 1. The minimized reproducers of fixed crashes must stay fixed.
    regressions=()
    if [ -d "$fuzz_dir/regressions/$target" ]; then
        while IFS= read -r -d '' file; do regressions+=("$file"); done \
            < <(find "$fuzz_dir/regressions/$target" -type f ! -name '*.md' -print0 | sort -z)
    fi
    if [ "${#regressions[@]}" -gt 0 ]; then
        echo "== $target: replaying ${#regressions[@]} regression input(s)"
        for file in "${regressions[@]}"; do
            log="$out/logs/$target.regression.$(basename "$file").log"
            status=0
            "$bin" "${limits[@]}" "$file" >"$log" 2>&1 || status=$?
            if [ "$status" -ne 0 ]; then
                report_failure "$target" "regression ${file#"$root/"}" "$log" "$status"
            fi
        done
    fi

    # 2. Fuzz a copy of the seed corpus.
    corpus="$out/corpus/$target"
    artifacts="$out/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    if [ -d "$fuzz_dir/corpus/$target" ]; then
        cp -R "$fuzz_dir/corpus/$target/." "$corpus/"
    fi
    dict=()
    if [ -f "$fuzz_dir/dicts/$target.dict" ]; then
        dict=(-dict="$fuzz_dir/dicts/$target.dict")
    fi
    log="$out/logs/$target.log"
    echo "== $target: fuzzing for ${seconds}s"
    status=0
    # shellcheck disable=SC2086 # FUZZ_ARGS is a flag list on purpose.
    "$bin" "$corpus" "${limits[@]}" "${dict[@]}" \
        -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    units="$(find "$corpus" -type f | wc -l | tr -d ' ')"
    summary+=("$(printf '%-16s %10s execs  %5s corpus units  exit %s' "$target" "${execs:-?}" "$units" "$status")")
    if [ "$status" -ne 0 ]; then
        report_failure "$target" "fuzzing" "$log" "$status"
        for artifact in "$artifacts"/*; do
            [ -e "$artifact" ] && echo "!! reproducer: $artifact  (replay: $bin $artifact)" >&2
        done
    fi
done

echo "== summary (${seconds}s per target)"
printf '   %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "== FAILED: ${failed[*]}" >&2
    echo "== logs, corpus copies and artifacts kept in $out" >&2
    exit 1
fi
if [ "$keep_out" -eq 0 ]; then
    rm -rf "$out"
else
    echo "== logs and corpus copies in $out"
fi
echo "== all targets ran clean"
