#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets) for a bounded time:
#   datagram  any bytes as a UDP datagram into the server's sans-IO endpoint
#   scenario  any bytes as a scenario file into the harness's parser
# Usage: bash ci/fuzz.sh [SECONDS_PER_TARGET]   (default: $FUZZ_SECONDS or 60)
#
# Stable Rust: `-s none` builds with libFuzzer's coverage instrumentation but
# no sanitizer (sanitizers need a nightly compiler); Rust's own checks, debug
# assertions and overflow checks stay on. A crash fails the run and leaves
# its input in fuzz/artifacts/TARGET/; `cargo fuzz run TARGET -s none FILE`
# replays it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-${FUZZ_SECONDS:-60}}
cargo_fuzz_version=0.13.2

if ! cargo fuzz --version 2>/dev/null | grep -q " $cargo_fuzz_version"; then
    echo "fuzz: installing cargo-fuzz $cargo_fuzz_version" >&2
    cargo install --quiet --locked cargo-fuzz --version "$cargo_fuzz_version"
fi

cd "$root/fuzz"
flags=(-s none --target-dir "$root/target/fuzz")
echo "fuzz: building the targets (instrumented; the first build takes minutes)" >&2
cargo fuzz build "${flags[@]}"

run() {
    local target=$1
    shift
    mkdir -p "corpus/$target"
    echo "fuzz: $target for ${seconds}s" >&2
    # The first folder collects new inputs; the others only seed it.
    if ! cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "$@" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        >"$root/target/fuzz/$target.log" 2>&1; then
        tail -n 40 "$root/target/fuzz/$target.log" >&2
        echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
        return 1
    fi
    grep -E '^Done|DONE' "$root/target/fuzz/$target.log" | sed "s/^/fuzz: $target: /" >&2 || true
}

run datagram seeds/datagram
run scenario "$root/scenarios"
echo "fuzz: no crashes" >&2
