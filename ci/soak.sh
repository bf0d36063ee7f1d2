#!/usr/bin/env bash
# Reliability soak (not part of ci/test.sh: about 10 minutes at the default
# counts on 2 cores). Proves the verdicts do not depend on luck:
#   1. the network and transport scenarios against the reference server,
#      RUNS times each (default 200), every run with its own random seed
#      (--repeat): no run may fail (exit 0 from the harness);
#   2. each fault build against the case that catches it, FAULT_RUNS times
#      (default 20): every driver that fails it must fail it in every run
#      (no flaky catch), and each fault must be caught.
# Usage: bash ci/soak.sh [RUNS] [FAULT_RUNS]. Reports go to
# target/reports/soak/, with summary.md: the figures, the commit and the
# machine (docs/soak.md is a copy of one).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-200}
fault_runs=${2:-20}
bash "$root/ci/setup.sh"
cd "$root"
cargo build --quiet -p harness --tests
# A copy, so a build during the soak cannot pull the binary away from the
# servers it starts.
bin=$(mktemp -d)/harness
cp target/debug/harness "$bin"
out=target/reports/soak
mkdir -p "$out"
export HARNESS_OPENSSL="$root/target/openssl-quic/bin/openssl"

summary="$out/summary.md"
{
    echo "# Soak: $runs runs per case, random seeds"
    echo
    echo "From \`bash ci/soak.sh $runs $fault_runs\` at commit $(git rev-parse --short HEAD) on"
    echo "$(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -sr), $(date -u +%Y-%m-%d)."
    echo
} > "$summary"
echo "soak: network and transport scenarios, $runs runs each, random seeds" >&2
"$bin" scenarios/ --filter 'network/*' --filter 'transport/*' --require-driver openssl \
    --repeat "$runs" --json "$out/reference.json" --junit "$out/reference.xml" \
    --artifacts "$out/evidence" | grep -v '^PASS ' || true
python3 - "$out/reference.json" "$summary" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]["all"]
cases = {(x["scenario"], x["driver"]) for x in r["results"]}
line = (f"Reference server: {s['passed']} runs passed, {s['failed']} failed, "
        f"{s['errors']} errors, {s['skipped']} skipped, over {len(cases)} cases "
        f"(network and transport scenarios, every driver), {r['wall_ms'] / 1000:.0f} s.")
print("soak: " + line, file=sys.stderr)
with open(sys.argv[2], "a") as f:
    f.write(line + "\n\n")
    for c in r.get("repeated", []):
        if c["passed"] != c["runs"]:
            f.write(f"- {c['scenario']} [{c['driver']}]: {c['passed']}/{c['runs']} passed\n")
    f.write("\n| fault build | case [driver] | runs failed |\n| --- | --- | --- |\n")
sys.exit(0 if s["failed"] == 0 and s["errors"] == 0 else 1)
PY

# fault build, then the scenarios that must catch it
pairs=(
    "reverse network/blackhole network/burst-loss network/delay-jitter network/duplicate-corrupt network/loss-and-reorder network/lost-handshake-packets"
    "amplify network/amplification-limit"
    "pin-peer transport/nat-rebinding-port transport/nat-rebinding-address transport/migration"
    "lan-idle transport/long-rtt"
    "v4-only transport/ipv6"
    "short-write transport/tiny-windows"
    "blocking-write transport/never-grants"
    "no-key-update transport/key-update"
    "aes-only transport/chacha20"
    "idle-ignores-activity transport/keep-alive"
    "no-resumption transport/resumption transport/zero-rtt-accepted"
    "early-data-lost transport/zero-rtt"
    "no-idle-timeout transport/idle-forgotten"
    "no-version-negotiation transport/version-2"
    "no-stateless-reset transport/stateless-reset"
    "volatile-reset-key transport/stateless-reset"
)
for pair in "${pairs[@]}"; do
    read -r fault scenarios <<<"$pair"
    files=()
    for s in $scenarios; do files+=("scenarios/$s.json"); done
    template="fault=$bin serve-reference --listen {host}:{port} --cert {chain} --key {key} --fault $fault {args}"
    "$bin" "${files[@]}" --server "$template" --repeat "$fault_runs" \
        --format json > "$out/fault-$fault.json" || true
    python3 - "$out/fault-$fault.json" "$fault" "$summary" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
fault = sys.argv[2]
# Every case's runs together (also for a single run, which has no list).
groups = {}
for x in r["results"]:
    c = groups.setdefault((x["scenario"], x["driver"]), {
        "scenario": x["scenario"], "driver": x["driver"], "runs": 0,
        "passed": 0, "failed": 0, "errors": 0})
    c["runs"] += 1
    key = {"pass": "passed", "fail": "failed", "error": "errors"}.get(x["status"])
    if key:
        c[key] += 1
r["repeated"] = list(groups.values())
caught = [c for c in r["repeated"] if c["failed"] > 0]
loose = [c for c in caught if c["passed"] > 0 or c["errors"] > 0]
with open(sys.argv[3], "a") as f:
    for c in r["repeated"]:
        line = f"{c['scenario']} [{c['driver']}] | {c['failed']}/{c['runs']}"
        print(f"soak: --fault {fault}: {line}", file=sys.stderr)
        f.write(f"| {fault} | {line} |\n")
if not caught:
    sys.exit(f"soak: --fault {fault} was caught by no case")
if loose:
    sys.exit(f"soak: --fault {fault} was not caught in every run: {loose}")
PY
done
echo "soak: ok" >&2
