#!/usr/bin/env bash
# The end-to-end tier: a real node, registry and operator (hack/deploy.sh), then test/e2e against them.
# On a machine that cannot run the node (not root, not Linux) it says so loudly and skips.
# The cluster is taken down afterwards unless it was already running or FLOW_E2E_KEEP=1.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

if [[ $(uname -s) != Linux || $EUID -ne 0 ]]; then
  cat >&2 <<MSG
########################################################################################
# SKIPPING THE END-TO-END TESTS: they start a Kubernetes node, which needs root on Linux.
# This machine: $(uname -s), uid $EUID. Unit and integration tests ran; these did not.
########################################################################################
MSG
  exit 0
fi

STATE=${FLOW_STATE:-$FLOW_CACHE/cluster}
was_up=false
hack/cluster/cluster.sh status >/dev/null 2>&1 && was_up=true
if [[ $was_up == false && ${FLOW_E2E_KEEP:-} == "" ]]; then
  trap 'hack/cluster/cluster.sh down >&2 || true' EXIT
fi

# The git-source tests serve repositories with git's own smart HTTP server, git http-backend.
need_packages git
hack/deploy.sh
# shellcheck source=/dev/null
source "$STATE/env.sh"
export FLOW_BIN=$REPO_ROOT/bin/flow
# FLOW_E2E_RUN narrows the run to matching tests (go test -run), e.g. FLOW_E2E_RUN=SpecChange.
go test -tags e2e ./test/e2e/ -count=1 -v -timeout 40m -run "${FLOW_E2E_RUN:-.}" 2>&1 | tee "$STATE/logs/e2e.log"
