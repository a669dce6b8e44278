#!/usr/bin/env bash
# make demo: from nothing to `flow build --push --tag demo prod` on examples/shop, on a local node with
# a local registry and the operator installed by its Helm chart. Re-running it is fast: everything
# slow is cached, and a running cluster is reused. `make demo-down` removes it all.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
STATE=${FLOW_STATE:-$FLOW_CACHE/cluster}

hack/deploy.sh
# shellcheck source=/dev/null
source "$STATE/env.sh"

echo
echo "\$ cd examples/shop && flow build --push --tag demo prod"
(cd examples/shop && "$REPO_ROOT/bin/flow" build --push --tag demo prod)
echo
echo "\$ kubectl get imagebuilds -l fleetflow.dev/stage=prod"
kubectl get imagebuilds -l fleetflow.dev/stage=prod
cat <<MSG

The cluster keeps running. Try it yourself:
  source $STATE/env.sh
  cd examples/shop && $REPO_ROOT/bin/flow build --push --tag v2 api prod
  $REPO_ROOT/bin/flow build --push --tag v2 --platform linux/amd64,linux/arm64 web prod   # arm64 emulated
  kubectl describe imagebuilds
Remove everything with: make demo-down
MSG
