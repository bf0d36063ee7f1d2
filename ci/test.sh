#!/usr/bin/env bash
# Everything CI checks: formatting, lints, every test, and the full suite
# against the reference server and the peers (scenario-by-server matrix),
# with the openssl driver required, the HTML report and the evidence of a
# failing run checked with Chromium and tshark, then bounded fuzzing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/ci/setup.sh"
cd "$root"
step() { printf '\n==> %s\n' "$*" >&2; }
# The peers outside the workspace, each with its own lock file.
peer_manifests=(peers/s2n-quic-echo/Cargo.toml peers/tquic-echo/Cargo.toml peers/msquic-echo/Cargo.toml)
step "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
for m in "${peer_manifests[@]}"; do cargo fmt --manifest-path "$m" -- --check; done
step "functions of one step, files of one idea (ci/sizes.py)"
python3 ci/sizes.py .
step "build the peers on other stacks (ci/build-peers.sh)"
bash ci/build-peers.sh
test -z "$(gofmt -l peers/quic-go-echo)" || { gofmt -l peers/quic-go-echo; exit 1; }
step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy --manifest-path fuzz/Cargo.toml --target-dir target --quiet -- -D warnings
for m in "${peer_manifests[@]}"; do
    cargo clippy --manifest-path "$m" --target-dir target/peers-build --release --locked \
        --quiet -- -D warnings
done
step "cargo test"
# tshark dissects the hand-built Initials in harness/tests/dissect.rs.
bash ci/apt-install.sh tshark
HARNESS_OPENSSL="$root/target/openssl-quic/bin/openssl" HARNESS_REQUIRE_OPENSSL=1 \
    HARNESS_REQUIRE_TSHARK=1 cargo test --workspace
step "conformance suite: the reference server and every peer, native + quinn + openssl drivers"
mkdir -p target/reports
# Every server known by name (harness servers), each peer with its expect
# file. The network scenarios' seed is pinned so the gate is reproducible;
# run without --seed (or with HARNESS_SEED) to try other packet fates. Each
# peer's expect file lists what it is known to fail, and why; any other
# result (an unexpected pass included) fails the gate. The reference server
# has none: it must pass everything. Failed cases keep their evidence, so
# the log's last lines give each unexpected result's timeline.
cargo run --quiet -p harness -- scenarios/ --require-driver openssl --all-servers \
    --seed "${HARNESS_SEED:-20261125}" --artifacts target/reports/evidence \
    --junit target/reports/conformance.xml \
    --json target/reports/conformance.json --markdown target/reports/conformance.md \
    | tee target/reports/conformance.txt
step "reports as people see them: HTML in headless Chromium, captures decrypted by tshark"
bash ci/report-check.sh
step "fuzzing (cargo fuzz, ${FUZZ_SECONDS:-60}s per target)"
bash ci/fuzz.sh "${FUZZ_SECONDS:-60}"
