#!/usr/bin/env bash
# The design's performance targets, measured on the local node: operator overhead (flow wall time
# minus Kaniko's own run time, median of 5), an unchanged re-run (context bytes uploaded), and one
# service against four. Brings the node up (hack/deploy.sh) and prints the figures at the end.
# FLOW_USER_NAMESPACES=false measures build pods without user namespaces, for comparison.
# FLOW_BENCH_BASELINE=path/to/flow runs an earlier flow binary beside this one in every round of the
# overhead benchmark (same operator, same load) and shows both.
# FLOW_BENCH_RUN narrows the run to matching benchmarks (go test -run), e.g. FLOW_BENCH_RUN=OperatorOverhead.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
STATE=${FLOW_STATE:-$FLOW_CACHE/cluster}

hack/deploy.sh
# shellcheck source=/dev/null
source "$STATE/env.sh"
export FLOW_BIN=$REPO_ROOT/bin/flow FLOW_E2E_BENCH=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
FLOW_BENCH_OUT=$out go test -tags e2e ./test/e2e/ -run "^TestBench_${FLOW_BENCH_RUN:-}" -count=1 -v -timeout 20m >"$STATE/logs/bench-e2e.log" 2>&1 ||
  { tail -n 40 "$STATE/logs/bench-e2e.log" >&2; die "benchmarks failed (log: $STATE/logs/bench-e2e.log)"; }
echo "== end-to-end figures, userNamespaces=${FLOW_USER_NAMESPACES:-true} (full log: $STATE/logs/bench-e2e.log)"
echo "   (the local registry checks its bcrypt password on every request, at bcrypt's lowest cost, as a"
echo "    registry with token authentication checks a password once per token: see README, Development)"
cat "$out"
