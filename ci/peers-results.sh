#!/usr/bin/env bash
# Writes docs/peers.md from one run: the reference server and every peer
# (harness servers), each with its expect file, all drivers, the pinned
# seed; the page names the commit and the machine. Builds what is missing
# first (ci/setup.sh, ci/build-peers.sh). Exits as the run does: non-zero
# when a result is not what the expect files say (the page still shows it).
#   bash ci/peers-results.sh --from DIR   writes the page from the run that
#   ci/test.sh made (DIR/conformance.md and .txt, e.g. a CI clone's
#   target/reports) instead of running again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seed="${HARNESS_SEED:-20261125}"
status=0
mkdir -p target/reports
if [ "${1:-}" = "--from" ]; then
    cp "$2/conformance.md" target/reports/peers.md
    cp "$2/conformance.txt" target/reports/peers.txt
else
    bash ci/setup.sh
    bash ci/build-peers.sh >/dev/null
    cargo run --quiet -p harness -- scenarios/ --require-driver openssl --all-servers \
        --seed "$seed" --markdown target/reports/peers.md --json target/reports/peers.json \
        >target/reports/peers.txt || status=$?
fi
commit=$(git rev-parse --short HEAD)
dirty=$(git status --porcelain --untracked-files=no | grep -q . && echo " (with uncommitted changes)" || true)
{
    echo "# The peers: every stack against the suite"
    echo
    echo "Written by \`bash ci/peers-results.sh\` at commit $commit$dirty on $(date -u +%Y-%m-%d),"
    echo "on $(nproc) cores ($(uname -sr)), seed $seed; the run's last line:"
    echo "\`$(tail -n 1 target/reports/peers.txt)\`. Do not edit by hand: run the script."
    echo
    echo "Each peer is an echo server written on its stack the way that library's users write"
    echo "one (see its README in \`peers/NAME/\`); each failure's cause is the behaviour seen,"
    echo "from its expect file. \`harness servers\` prints how each one is started."
    tail -n +2 target/reports/peers.md
} >docs/peers.md
echo "peers-results: docs/peers.md ($(tail -n 1 target/reports/peers.txt))" >&2
exit "$status"
