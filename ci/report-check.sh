#!/usr/bin/env bash
# The reports as people use them, checked with real tools: a run against a
# server that reverses its echoes writes an HTML report and the failing
# cases' evidence; headless Chromium must show the matrix and a failing
# case's checks and evidence links; tshark must decrypt a failing case's
# capture with its key log, for every client; the failing network case must
# be drawn as a timeline whose drops are the relay log's, and `harness
# explain` must print the same drops. Installs chromium and tshark if
# missing. With --screenshot, refreshes docs/report.png and docs/timeline.png
# (the README's).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash "$root/ci/apt-install.sh" chromium tshark

# The test build of the harness can start the reference server with faults.
cargo build --quiet -p harness --tests
out="$root/target/reports/report-check"
rm -rf "$out"
mkdir -p "$out"
harness="$root/target/debug/harness"
set +e
"$harness" scenarios/input/8192-bytes.json scenarios/network/loss-and-reorder.json \
    --server reference \
    --server "broken=$harness serve-reference --listen {host}:{port} --cert {chain} --key {key} --fault reverse" \
    --openssl "$root/target/openssl-quic/bin/openssl" --require-driver openssl \
    --seed 5 --artifacts "$out/evidence" --html "$out/report.html" > "$out/report.txt" 2>&1
status=$?
set -e
fail() { echo "report-check: FAILED: $*" >&2; exit 1; }
[ "$status" -eq 1 ] || fail "the harness exited $status, expected 1 (cases fail against the broken server); see $out/report.txt"

chrome() {
    timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --no-first-run --disable-dev-shm-usage "$@" 2>/dev/null
}
chrome --dump-dom "file://$out/report.html" > "$out/dom.html" \
    || fail "chromium could not open the report"
expect() {
    grep -q -- "$1" "$out/dom.html" || fail "the page as Chromium shows it lacks $2"
}
expect '<table class="matrix">' "the matrix"
expect '<th>broken</th>' "the broken server's column"
expect 'class="cell fail unexpected"><a href="#c' "a failing cell linked to its details"
expect '<td class="verdict fail">FAIL</td>' "a failing check"
expect 'href="evidence/broken/network_loss-and-reorder/native/client.pcap"' "the failing case's capture"
expect 'href="evidence/broken/network_loss-and-reorder/native/keys.log"' "the failing case's key log"
chrome --window-size=1100,1300 --screenshot="$out/report.png" "file://$out/report.html" >/dev/null \
    || fail "chromium could not take a screenshot"
[ "$(stat -c %s "$out/report.png")" -gt 10000 ] || fail "the screenshot is empty"

expect '<svg class="timeline"' "the failing cases' timelines"
for driver in native openssl quinn; do
    case="$out/evidence/broken/network_loss-and-reorder/$driver"
    logged=$(awk -F'\t' '$3 != "-" && $6 ~ /^dropped/' "$case/relay.log" | wc -l)
    shown=$("$harness" explain "$case" | grep -E 'C(->|<-)S' | grep -c DROPPED || true)
    [ "$logged" -eq "$shown" ] \
        || fail "harness explain shows $shown drops of $driver's case; its relay.log has $logged"
    echo "report-check: $driver timeline explained ($shown of the relay's drops marked)" >&2
    frames=$(tshark -r "$case/client.pcap" -o "tls.keylog_file:$case/keys.log" \
        -Y quic.stream_data -T fields -e frame.number 2>/dev/null | wc -l)
    [ "$frames" -gt 0 ] || fail "tshark decrypted no STREAM frame of $case/client.pcap"
    echo "report-check: $driver capture decrypted ($frames packets with stream data)" >&2
done

grep -q 'class="dg dropped"' "$out/dom.html" || fail "no drop is drawn in the page's timelines"
"$harness" explain "$out/evidence/broken/network_loss-and-reorder/native" --client 0 \
    --html "$out/timeline.html" > /dev/null || fail "harness explain --html failed"
chrome --window-size=700,640 --screenshot="$out/timeline.png" "file://$out/timeline.html" \
    >/dev/null || fail "chromium could not take the timeline's screenshot"

if [ "${1:-}" = "--screenshot" ]; then
    mkdir -p docs
    cp "$out/report.png" docs/report.png
    cp "$out/timeline.png" docs/timeline.png
    echo "report-check: docs/report.png and docs/timeline.png refreshed" >&2
fi
echo "report-check: ok (page, evidence and screenshot in $out)" >&2
