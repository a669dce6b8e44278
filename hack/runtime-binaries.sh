#!/usr/bin/env bash
# Builds the node's container runtime from the Go module proxy and caches it by version:
# containerd, its runc shim (containerd-shim-runc-v2) and ctr at $CONTAINERD_VERSION, and runc at
# $RUNC_VERSION (cgo, with libseccomp).
#
#   hack/runtime-binaries.sh DIR    builds what is not cached yet, then links the four binaries into DIR
#
# Distributions ship containerd 1.x, which ignores a pod's `hostUsers: false` and has no
# RuntimeConfig call for the kubelet; user namespaces need containerd 2 and runc >= 1.2. runc is the
# version containerd's own release is tested with (script/setup/runc-version in its module).
# A cold build takes a few minutes on 2 cores; a warm one returns at once.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONTAINERD_DIR=$FLOW_CACHE/containerd-$CONTAINERD_VERSION
RUNC_BIN=$FLOW_CACHE/runc-$RUNC_VERSION/runc
CONTAINERD_CMDS=(containerd containerd-shim-runc-v2 ctr)

# tools_module DIR MODULE VERSION PKG...: a throwaway module that requires MODULE@VERSION and
# nothing else, so the build uses exactly the dependency versions MODULE's own go.mod pins.
tools_module() {
  local dir=$1 mod=$2 ver=$3 name=${1##*/}; shift 3
  [[ -f $dir/go.sum ]] && return 0
  rm -rf "$dir"; mkdir -p "$dir"
  printf 'module flow%s\n\ngo 1.26.0\n\nrequire %s %s\n' "${name//[^a-z0-9]/}" "$mod" "$ver" >"$dir/go.mod"
  {
    printf '//go:build tools\n\npackage flowtools\n\nimport (\n'
    local p
    for p in "$@"; do printf '\t_ "%s"\n' "$p"; done
    printf ')\n'
  } >"$dir/tools.go"
  (cd "$dir" && GOFLAGS=-mod=mod go mod tidy) || { rm -f "$dir/go.sum"; die "could not resolve $mod@$ver from the Go module proxy"; }
}

build_containerd() {
  local c missing=()
  for c in "${CONTAINERD_CMDS[@]}"; do [[ -x $CONTAINERD_DIR/bin/$c ]] || missing+=("$c"); done
  ((${#missing[@]})) || return 0
  local mod=github.com/containerd/containerd/v2
  local dir=$FLOW_CACHE/src/containerd-$CONTAINERD_VERSION
  tools_module "$dir" "$mod" "$CONTAINERD_VERSION" "$mod/cmd/containerd" "$mod/cmd/containerd-shim-runc-v2" "$mod/cmd/ctr"
  local ldf="-s -w -X $mod/version.Version=$CONTAINERD_VERSION -X $mod/version.Package=$mod"
  local tmp=$CONTAINERD_DIR/tmp.$$
  rm -rf "$tmp"; mkdir -p "$tmp" "$CONTAINERD_DIR/bin"
  log "building containerd $CONTAINERD_VERSION (${missing[*]}) — cached in $CONTAINERD_DIR"
  # Static, as containerd's release builds its shim: one shim per pod outlives containerd restarts.
  # The btrfs snapshotter (the only part that needs cgo) is left out; the node uses overlayfs.
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs -ldflags="$ldf" -o "$tmp/" \
    "$mod/cmd/containerd" "$mod/cmd/ctr")
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -tags "urfave_cli_no_docs no_grpc" -ldflags="$ldf" \
    -o "$tmp/containerd-shim-runc-v2" "$mod/cmd/containerd-shim-runc-v2")
  for c in "${missing[@]}"; do mv "$tmp/$c" "$CONTAINERD_DIR/bin/$c"; done
  rm -rf "$tmp"
}

build_runc() {
  [[ -x $RUNC_BIN ]] && return 0
  # runc's seccomp support is cgo against libseccomp (found through pkg-config).
  need_packages libseccomp-dev pkg-config gcc
  local mod=github.com/opencontainers/runc
  local dir=$FLOW_CACHE/src/runc-$RUNC_VERSION
  tools_module "$dir" "$mod" "$RUNC_VERSION" "$mod"
  mkdir -p "$(dirname "$RUNC_BIN")"
  log "building runc $RUNC_VERSION — cached in $RUNC_BIN"
  # The tags of runc's own Makefile, minus libpathrs (a Rust library no distribution here ships;
  # without it runc uses its pure-Go equivalent).
  (cd "$dir" && CGO_ENABLED=1 go build -trimpath -buildmode=pie -tags "seccomp urfave_cli_no_docs" \
    -ldflags="-s -w -X main.gitCommit=$RUNC_VERSION" -o "$RUNC_BIN.tmp" "$mod")
  mv "$RUNC_BIN.tmp" "$RUNC_BIN"
}

(($# == 1)) || die "usage: $0 DIR   (builds containerd $CONTAINERD_VERSION and runc $RUNC_VERSION, links them into DIR)"
out=$1
with_lock containerd build_containerd
with_lock runc build_runc
mkdir -p "$out"
for c in "${CONTAINERD_CMDS[@]}"; do ln -sfn "$CONTAINERD_DIR/bin/$c" "$out/$c"; done
ln -sfn "$RUNC_BIN" "$out/runc"
