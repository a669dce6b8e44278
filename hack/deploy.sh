#!/usr/bin/env bash
# Brings up the local cluster and registry (hack/cluster/cluster.sh) and installs the operator into it
# with the Helm chart, from the working tree: the manager image is assembled without Docker
# (hack/mkimage) and imported into the node. Prints nothing but progress; leaves bin/flow built.
# Idempotent: a second run only rebuilds what changed and upgrades the release.
# FLOW_USER_NAMESPACES=false installs the operator with build pods in the node's user namespace
# (the chart's userNamespaces value), to compare; the default is the chart's, true.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

[[ $(uname -s) == Linux && $EUID -eq 0 ]] || die "the local cluster needs root on Linux"
STATE=${FLOW_STATE:-$FLOW_CACHE/cluster}

hack/cluster/cluster.sh up
# shellcheck source=/dev/null
source "$STATE/env.sh"

log "building bin/flow and bin/manager"
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
ldflags="-s -w -X github.com/fleetflow/flow-build/internal/version.Version=$version"
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o bin/flow ./cmd/flow
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o bin/manager ./cmd/manager

# A tag per binary content: a changed manager gets a new image, so Helm rolls the Deployment, while an
# unchanged one leaves the running pod alone.
tag=dev-$(sha256sum bin/manager | cut -c1-12)
image=localhost/flow-build-manager
# The manager image carries the registry's CA: its fetch-source init container pulls source bundles
# from that registry.
go run ./hack/mkimage binary --bin bin/manager --path /manager --user 65532 \
  --ca "$FLOW_REGISTRY_CA" --ca /etc/ssl/certs/ca-certificates.crt \
  --tag "$image:$tag" --out bin/manager.tar >/dev/null
hack/cluster/cluster.sh load bin/manager.tar >/dev/null
log "manager image $image:$tag imported"

helm=$(hack/tool.sh helm)
log "installing the operator with charts/flow-build"
"$helm" upgrade --install flow-build charts/flow-build \
  --namespace flow-build-system --create-namespace \
  --set image.repository="$image" --set image.tag="$tag" --set image.pullPolicy=IfNotPresent \
  --set executor.image="$KANIKO_IMAGE" --set executor.pullPolicy=IfNotPresent \
  --set emulation.enabled=true \
  --set userNamespaces="${FLOW_USER_NAMESPACES:-true}" \
  --wait --timeout 5m >/dev/null
kubectl -n flow-build-system rollout status deployment/flow-build-manager --timeout=3m >/dev/null
log "operator ready (userNamespaces=${FLOW_USER_NAMESPACES:-true})"
