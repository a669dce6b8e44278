#!/usr/bin/env bash
# hack/tool.sh NAME: prints the path of a development tool, building it from the Go module proxy into the
# version-keyed cache first when needed. NAME is one of: controller-gen, golangci-lint, helm, kaniko, registry.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

name=${1:?usage: hack/tool.sh controller-gen|golangci-lint|helm|kaniko|registry}
case $name in
  controller-gen)
    ver=$CONTROLLER_TOOLS_VERSION; modver=sigs.k8s.io/controller-tools@$ver
    pkg=sigs.k8s.io/controller-tools/cmd/controller-gen; ldflags="-s -w" ;;
  golangci-lint)
    ver=$GOLANGCI_LINT_VERSION; modver=github.com/golangci/golangci-lint/v2@$ver
    pkg=github.com/golangci/golangci-lint/v2/cmd/golangci-lint
    ldflags="-s -w -X main.version=${ver#v}" ;;
  helm)
    ver=$HELM_VERSION; modver=helm.sh/helm/v3@$ver; pkg=helm.sh/helm/v3/cmd/helm
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$ver" ;;
  kaniko)
    ver=$KANIKO_VERSION; modver=github.com/GoogleContainerTools/kaniko@$ver
    pkg=github.com/GoogleContainerTools/kaniko/cmd/executor
    ldflags="-s -w -X github.com/GoogleContainerTools/kaniko/pkg/version.version=$ver" ;;
  registry)
    ver=$DISTRIBUTION_VERSION; modver=github.com/distribution/distribution/v3@$ver
    pkg=github.com/distribution/distribution/v3/cmd/registry; ldflags="-s -w" ;;
  *) die "unknown tool $name" ;;
esac

out=$FLOW_CACHE/bin/$name-$ver
with_lock "tool-$name" go_tool_build "$FLOW_CACHE/src/$name-$ver" "$out" "$modver" "$pkg" "$ldflags"
echo "$out"
