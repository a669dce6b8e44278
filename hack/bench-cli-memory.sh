#!/usr/bin/env bash
# Measures the flow CLI's peak memory (maximum resident set size, from /usr/bin/time -v) while it
# packs and uploads a large build context: `flow build --push -o yaml` against a local registry
# (distribution, plain HTTP on loopback, storage in a temporary folder), which packs and pushes the
# bundle and renders the ImageBuild without a cluster. Then the same again, unchanged: no bytes may
# be sent. The context is writeBenchTree's (internal/bundle/bundle_bench_test.go): 10,000 files, half
# random and half text, SIZE_MIB in all.
#
# Usage: hack/bench-cli-memory.sh [SIZE_MIB]   (default 1024)
# A benchmark, not a test: it prints figures and fails only when something cannot run or the
# unchanged re-run sends bytes. The target is a peak RSS under 150 MB for 1 GiB.
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

size_mib=${1:-1024}
[[ $size_mib =~ ^[1-9][0-9]*$ ]] || die "SIZE_MIB must be a positive number, got '$size_mib'"
need_packages time
cd "$REPO_ROOT" || die "cannot enter $REPO_ROOT"

work=$(mktemp -d)
registry_pid=""
cleanup() {
  [[ -n $registry_pid ]] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

log "building bin/flow and the registry"
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/flow ./cmd/flow
registry_bin=$(hack/tool.sh registry)

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 45123)
mkdir -p "$work/registry"
cat >"$work/registry.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YAML
"$registry_bin" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null || die "the registry did not start: $(cat "$work/registry.log")"

log "writing a ${size_mib} MiB context"
project=$work/project
mkdir -p "$project"
go test ./internal/bundle -run '^TestWriteBenchTree$' -count=1 -args \
  -bundle.benchtree="$project" -bundle.benchbytes=$((size_mib << 20)) >/dev/null
cat >"$project/fleet.kdl" <<KDL
project "bench"
registry "127.0.0.1:$port/bench"
service "app" {
    dockerfile "Dockerfile"
}
stage "prod" {
    service "app"
}
KDL
content=$(find "$project" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
# flow's local index does not trust files changed less than two seconds before a build (their times
# could hide a second change); a real context's files are older than that.
sleep 2

# run LABEL: one flow build under /usr/bin/time; prints the peak RSS in MB and the wall time. flow
# speaks English here (LC_ALL=en...), since the unchanged re-run is checked by its message.
run() {
  local out=$work/$1
  (cd "$project" && DOCKER_CONFIG="$work/docker" LC_ALL=en_US.UTF-8 /usr/bin/time -v "$REPO_ROOT/bin/flow" build --push -o yaml prod \
    >"$out.yaml" 2>"$out.err") || die "flow build failed:$(tail -20 "$out.err")"
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out.err")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out.err")
  printf '%-22s peak RSS %7.1f MB   wall %s\n' "$1" "$(awk -v k="$rss_kb" 'BEGIN {print k * 1024 / 1e6}')" "$wall"
}

echo
printf 'context: %d files, %.1f MB of content\n' "$(find "$project" -type f | wc -l)" "$(awk -v b="$content" 'BEGIN {print b / 1e6}')"
run first-push
run unchanged-re-run
grep -q "already in the registry, nothing sent" "$work/unchanged-re-run.err" ||
  die "the unchanged re-run sent context bytes: $(grep -i 'context\|sent' "$work/unchanged-re-run.err" | head -3)"
echo "unchanged re-run: nothing sent"
