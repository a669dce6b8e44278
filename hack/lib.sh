# shellcheck shell=bash
# Shared settings for the hack/ scripts. Source it; do not run it.
#
# Everything slow to build (Kubernetes, etcd, Kaniko, the registry, Helm, linters) is cached
# outside the clone, keyed by version, so that a second run on the same machine takes seconds
# while a fresh machine still builds everything from the Go module proxy.

set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # for the scripts that source this file
REPO_ROOT=$(cd "$HACK_DIR/.." && pwd)

# Versions: one place to change them.
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
KUBE_STAGING_VERSION=${KUBE_STAGING_VERSION:-v0.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
RUNC_VERSION=${RUNC_VERSION:-v1.5.2}
KANIKO_VERSION=${KANIKO_VERSION:-v1.24.0}
DISTRIBUTION_VERSION=${DISTRIBUTION_VERSION:-v3.1.2}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
CONTROLLER_TOOLS_VERSION=${CONTROLLER_TOOLS_VERSION:-v0.23.0}
GOLANGCI_LINT_VERSION=${GOLANGCI_LINT_VERSION:-v2.15.0}

FLOW_CACHE=${FLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flow-build}
mkdir -p "$FLOW_CACHE"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# with_lock NAME CMD...: runs CMD while holding a lock in the cache, so that two scripts
# building the same tool at once wait for each other instead of racing on one output.
with_lock() {
  local name=$1; shift
  mkdir -p "$FLOW_CACHE/locks"
  (
    flock 9
    "$@"
  ) 9>"$FLOW_CACHE/locks/$name.lock"
}

# go_tool_build DIR OUT MODULE@VERSION PKG [LDFLAGS] [EXTRA_REPLACES]: builds PKG into OUT through a small
# throwaway module in DIR (`go install pkg@version` needs the proxy's version list, which it often refuses).
go_tool_build() {
  local dir=$1 out=$2 modver=$3 pkg=$4 ldflags=${5:-"-s -w"}
  local mod=${modver%@*} ver=${modver#*@}
  if [[ -x $out ]]; then return 0; fi
  rm -rf "$dir"; mkdir -p "$dir" "$(dirname "$out")"
  cat >"$dir/go.mod" <<EOF
module flowtools

go 1.26.0

require $mod $ver
EOF
  cat >"$dir/tools.go" <<EOF
//go:build tools

package flowtools

import _ "$pkg"
EOF
  log "building $pkg ($ver) — cached in $out"
  # Quiet when it works; run again to show the error when it does not.
  if ! (cd "$dir" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1); then
    (cd "$dir" && GOFLAGS=-mod=mod go mod tidy)
  fi
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
}

# need_packages PACKAGE...: installs the Debian packages that are missing, with apt-get. A fresh
# machine (CI) has none of the tools beyond Go; as root this makes them appear, otherwise it says
# which command to run.
need_packages() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) != 0 ]]; then
    die "missing ${missing[*]}: install with: sudo apt-get install ${missing[*]}"
  fi
  log "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}
