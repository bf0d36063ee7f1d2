#!/usr/bin/env bash
# Runs the conformance suite against the reference server with both drivers.
# Extra arguments go to the harness (e.g. --server, --junit FILE, --filter);
# relative paths in them are taken from the directory you run this in.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/ci/setup.sh"
exec cargo run --quiet --manifest-path "$root/Cargo.toml" -p harness -- \
    "$root/scenarios/" --require-driver openssl "$@"
