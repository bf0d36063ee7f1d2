#!/usr/bin/env bash
# Writes a page of docs/ from one `harness bench` run (release build), with
# the commit and the machine, server and load generator on disjoint CPUs:
#   bash ci/bench-results.sh [ARGS]          docs/bench.md: the reference
#       against the quinn peer, churn and saturation
#   bash ci/bench-results.sh --peers [ARGS]  docs/bench-peers.md: every
#       server known by name (harness servers), churn at 16 clients
# Extra arguments go to the bench (e.g. --server NAME to add a server,
# --workload warm). Exits as the bench does. Run it on a quiet machine: the
# figures are only as good as the machine's idleness.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "${1:-}" = --peers ]; then
    shift
    page=docs/bench-peers.md title="Bench: every server, one run" how=" --peers"
    args=(--all-servers --workload churn --clients 16 "$@")
else
    page=docs/bench.md title="Bench: one run" how=""
    args=(--server reference --server quinn --workload churn --workload saturation "$@")
fi
mkdir -p target/reports
cargo build --quiet --release -p harness
# A failed connection makes the bench exit 1; the page still shows it.
status=0
target/release/harness bench "${args[@]}" --json target/reports/bench.json \
    >target/reports/bench.txt 2>target/reports/bench.log || status=$?
commit=$(git rev-parse --short HEAD)
# Uncommitted changes outside docs/ (the pages this script writes) make a
# run of other code than the commit named.
dirty=$(git status --porcelain --untracked-files=no -- . ':!docs' | grep -q . \
    && echo " (with uncommitted changes)" || true)
{
    echo "# $title"
    echo
    echo "Written by \`bash ci/bench-results.sh$how\` at commit $commit$dirty on $(date -u +%Y-%m-%d),"
    echo "on $(nproc) cores ($(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
    echo "release build: \`harness bench ${args[*]}\`. Do not edit by hand: run the script."
    echo "What each figure means: [performance.md](performance.md)."
    echo
    echo '```'
    cat target/reports/bench.txt
    echo '```'
} >"$page"
echo "bench-results: $page (bench exit status $status)" >&2
exit "$status"
