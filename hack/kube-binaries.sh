#!/usr/bin/env bash
# Builds the Kubernetes binaries the tests run, from the Go module proxy, and caches them by version.
#
#   hack/kube-binaries.sh envtest        kube-apiserver + etcd; prints the envtest assets directory
#   hack/kube-binaries.sh node           everything a single-node cluster needs (apiserver, controller-manager,
#                                        scheduler, kubelet, kube-proxy, kubectl, etcd); prints the bin directory
#
# No release download site is reachable from where this project is built, so the binaries are compiled:
# k8s.io/kubernetes at $KUBE_VERSION with every staging module replaced by its published $KUBE_STAGING_VERSION,
# and the version ldflags set (without them the binaries report v0.0.0-master and clients refuse them).
# A cold build takes about 10 minutes on 2 cores; a warm one returns at once.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KUBE_DIR=$FLOW_CACHE/kubernetes-$KUBE_VERSION
ETCD_BIN=$FLOW_CACHE/etcd-$ETCD_VERSION/etcd

build_etcd() {
  [[ -x $ETCD_BIN ]] && return 0
  local dir=$FLOW_CACHE/src/etcd-$ETCD_VERSION
  rm -rf "$dir"; mkdir -p "$dir" "$(dirname "$ETCD_BIN")"
  cat >"$dir/go.mod" <<EOF
module flowetcd

go 1.26.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
  cat >"$dir/main.go" <<'EOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  log "building etcd $ETCD_VERSION"
  (cd "$dir" && GOFLAGS=-mod=mod go mod tidy && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$ETCD_BIN.tmp" .)
  mv "$ETCD_BIN.tmp" "$ETCD_BIN"
}

# build_kube COMPONENT...: builds the named k8s.io/kubernetes/cmd/* components that are not cached yet,
# in one `go build` so the shared packages compile once.
build_kube() {
  local missing=() c
  for c in "$@"; do [[ -x $KUBE_DIR/bin/$c ]] || missing+=("$c"); done
  ((${#missing[@]})) || return 0
  local dir=$FLOW_CACHE/src/kubernetes-$KUBE_VERSION
  mkdir -p "$dir" "$KUBE_DIR/bin"
  if [[ ! -f $dir/go.sum ]]; then
    log "resolving k8s.io/kubernetes $KUBE_VERSION"
    local gomod
    gomod=$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    [[ -f $gomod ]] || die "could not download k8s.io/kubernetes@$KUBE_VERSION from the Go module proxy"
    {
      printf 'module flowkube\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBE_VERSION"
      # Every staging module k8s.io/kubernetes requires as v0.0.0 is published as $KUBE_STAGING_VERSION.
      grep -E '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0\s*$' "$gomod" | awk -v v="$KUBE_STAGING_VERSION" '{print "\t" $1 " => " $1 " " v}' | sort -u
      printf ')\n'
    } >"$dir/go.mod"
    printf '//go:build tools\n\npackage flowkube\n\nimport (\n' >"$dir/tools.go"
    for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
      printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c" >>"$dir/tools.go"
    done
    printf ')\n' >>"$dir/tools.go"
    (cd "$dir" && GOFLAGS=-mod=mod go mod tidy)
  fi
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local ldf="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1"
  ldf+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  ldf+=" -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
  ldf+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1"
  ldf+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  local pkgs=()
  for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  log "building ${missing[*]} $KUBE_VERSION (cold: about 10 minutes)"
  local tmp=$KUBE_DIR/tmp.$$
  mkdir -p "$tmp"
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags="$ldf" -o "$tmp/" "${pkgs[@]}")
  for c in "${missing[@]}"; do mv "$tmp/$c" "$KUBE_DIR/bin/$c"; done
  rmdir "$tmp"
}

case ${1:-envtest} in
  envtest)
    with_lock kube build_kube kube-apiserver
    with_lock etcd build_etcd
    assets=$FLOW_CACHE/envtest-$KUBE_VERSION
    mkdir -p "$assets"
    ln -sf "$KUBE_DIR/bin/kube-apiserver" "$assets/kube-apiserver"
    ln -sf "$ETCD_BIN" "$assets/etcd"
    echo "$assets"
    ;;
  node)
    with_lock kube build_kube kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl
    with_lock etcd build_etcd
    ln -sf "$ETCD_BIN" "$KUBE_DIR/bin/etcd"
    echo "$KUBE_DIR/bin"
    ;;
  *) die "usage: $0 envtest|node" ;;
esac
