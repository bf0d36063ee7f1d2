#!/usr/bin/env bash
# Writes docs/bench.md from one `harness bench` run (release build): the
# reference server against the quinn peer, churn and saturation, server and
# load generator on disjoint CPUs; the page names the commit and the
# machine. Extra arguments go to the bench (e.g. --server NAME to add a
# peer, --workload warm). Exits as the bench does. Run it on a quiet machine: the figures are
# only as good as the machine's idleness.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p target/reports
args=(--server reference --server quinn --workload churn --workload saturation "$@")
cargo build --quiet --release -p harness
# A failed connection makes the bench exit 1; the page still shows it.
status=0
target/release/harness bench "${args[@]}" --json target/reports/bench.json \
    >target/reports/bench.txt 2>target/reports/bench.log || status=$?
commit=$(git rev-parse --short HEAD)
dirty=$(git status --porcelain --untracked-files=no | grep -q . && echo " (with uncommitted changes)" || true)
{
    echo "# Bench: one run"
    echo
    echo "Written by \`bash ci/bench-results.sh\` at commit $commit$dirty on $(date -u +%Y-%m-%d),"
    echo "on $(nproc) cores ($(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
    echo "release build: \`harness bench ${args[*]}\`. Do not edit by hand: run the script."
    echo "What each figure means: [performance.md](performance.md)."
    echo
    echo '```'
    cat target/reports/bench.txt
    echo '```'
} >docs/bench.md
echo "bench-results: docs/bench.md (bench exit status $status)" >&2
exit "$status"
