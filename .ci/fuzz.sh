#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each one for a short time; fails when a
# target crashes (a panic or a failed assertion), and prints the input that caused it.
#
# cargo-fuzz needs compiler flags that only nightly Rust accepts. This machine has one stable
# toolchain, so the script sets RUSTC_BOOTSTRAP=1, which lets stable rustc accept them.
# The targets are built without a sanitizer (`--sanitizer none`): the Leadflow crates forbid
# unsafe code, so AddressSanitizer would add a second full build and little else. Set
# FUZZ_SANITIZER=address to build with it.
#
# Usage: .ci/fuzz.sh [SECONDS_PER_TARGET]   (default 25)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds="${1:-25}"
sanitizer="${FUZZ_SANITIZER:-none}"
targets=(activity_validators scoring_model page_token csv_import)

export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never
# Outside the clone, so the instrumented build and the corpus survive between CI runs.
target_dir="${LEADFLOW_FUZZ_TARGET:-$HOME/.cache/leadflow-fuzz-target}"
corpus_root="${LEADFLOW_FUZZ_CORPUS:-$HOME/.cache/leadflow-fuzz-corpus}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found; installing it from crates.io"
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

cd "$root/fuzz"
start=$(date +%s)
cargo fuzz build --sanitizer "$sanitizer" --target-dir "$target_dir"
echo "fuzz targets built in $(( $(date +%s) - start )) s"

passed=0
for target in "${targets[@]}"; do
    corpus="$corpus_root/$target"
    mkdir -p "$corpus"
    inputs=("$corpus")
    if [ -d "seeds/$target" ]; then
        inputs+=("seeds/$target")
    fi

    echo "fuzzing $target for $seconds s"
    log="$corpus_root/$target.log"
    status=0
    cargo fuzz run --sanitizer "$sanitizer" --target-dir "$target_dir" "$target" "${inputs[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log"
        echo "fuzz target $target failed (exit $status); the crashing input is under fuzz/artifacts/$target"
        echo "fuzz: $passed passed, 1 failed"
        exit 1
    fi
    passed=$((passed + 1))
done

echo "fuzz: $passed passed, 0 failed"
