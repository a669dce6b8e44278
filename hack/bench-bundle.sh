#!/usr/bin/env bash
# Compares the source-bundle packer (internal/bundle) with `tar -cf - . | gzip` on the same
# context: 10,000 files, about 100 MiB, half random and half text (see writeBenchTree in
# internal/bundle/bundle_bench_test.go, which writes the tree for both sides). Then measures what
# the layers and the local index save: the time to recognise the unchanged context (target: under
# 0.3 s) and, after one file changed, the time to pack and the bytes uploaded to an in-memory
# registry (target: under 5% of the bundle).
#
# Usage: hack/bench-bundle.sh [RUNS]   (default 3: runs of each side; the best is reported)
# A benchmark, not a test: it fails only when something cannot run. Numbers depend on the
# machine and on what else it is doing; compare the two lines with each other.
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

runs=${1:-3}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number, got '$runs'"
for tool in tar gzip awk; do
  command -v "$tool" >/dev/null || die "$tool is needed for the comparison"
done

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
cd "$REPO_ROOT" || die "cannot enter $REPO_ROOT"

log "writing the benchmark context into $tree"
go test ./internal/bundle -run '^TestWriteBenchTree$' -count=1 -args -bundle.benchtree="$tree" >/dev/null
content_bytes=$(find "$tree" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
files=$(find "$tree" -type f | wc -l)

# tar | gzip: best of $runs, as `go test -bench` reports a mean of several iterations.
best=""
compressed=0
for ((i = 1; i <= runs; i++)); do
  start=$(date +%s.%N)
  compressed=$(tar -C "$tree" -cf - . | gzip -6 | wc -c)
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')
  if [[ -z $best ]] || awk -v s="$secs" -v b="$best" 'BEGIN {exit !(s < b)}'; then best=$secs; fi
done

log "running BenchmarkPack, BenchmarkBuild and BenchmarkUploadAfterOneChange (-benchtime=${runs}x)"
bench=$(go test ./internal/bundle -run '^$' -bench '^(BenchmarkPack|BenchmarkBuild|BenchmarkUploadAfterOneChange)$' \
  -benchtime="${runs}x" -count=1)
printf '%s\n' "$bench" | grep -E '^Benchmark' >&2

pack_line=$(printf '%s\n' "$bench" | grep -E '^BenchmarkPack/Pack')
layer_line=$(printf '%s\n' "$bench" | grep -E '^BenchmarkPack/NewLayer')
field() { # field LINE UNIT: the number before UNIT in a benchmark line
  awk -v unit="$2" '{for (i = 2; i <= NF; i++) if ($i == unit) print $(i - 1)}' <<<"$1"
}

echo
printf 'context: %d files, %.1f MB of content\n' "$files" "$(awk -v b="$content_bytes" 'BEGIN {print b / 1e6}')"
printf '%-28s %8.1f MB/s   %6.3f s   ratio %.3f\n' "tar -cf - . | gzip -6" \
  "$(awk -v b="$content_bytes" -v s="$best" 'BEGIN {print b / 1e6 / s}')" "$best" \
  "$(awk -v c="$compressed" -v b="$content_bytes" 'BEGIN {print c / b}')"
printf '%-28s %8.1f MB/s   %6.3f s   ratio %.3f\n' "bundle.Pack" \
  "$(field "$pack_line" MB/s)" "$(awk -v ns="$(field "$pack_line" ns/op)" 'BEGIN {print ns / 1e9}')" \
  "$(field "$pack_line" ratio)"
printf '%-28s %8.1f MB/s   %6.3f s\n' "bundle.NewLayer (+hashes)" \
  "$(field "$layer_line" MB/s)" "$(awk -v ns="$(field "$layer_line" ns/op)" 'BEGIN {print ns / 1e9}')"

seconds() { awk -v ns="$(field "$1" ns/op)" 'BEGIN {print ns / 1e9}'; }
noindex_line=$(printf '%s\n' "$bench" | grep -E '^BenchmarkBuild/NoIndex')
unchanged_line=$(printf '%s\n' "$bench" | grep -E '^BenchmarkBuild/Unchanged')
changed_line=$(printf '%s\n' "$bench" | grep -E '^BenchmarkBuild/OneFileChanged')
upload_line=$(printf '%s\n' "$bench" | grep -E '^BenchmarkUploadAfterOneChange')
printf '%-28s %8.1f MB/s   %6.3f s   %.0f layers\n' "bundle.Build, no index" \
  "$(field "$noindex_line" MB/s)" "$(seconds "$noindex_line")" "$(field "$noindex_line" layers)"
printf '%-28s %22.3f s   (target < 0.3 s)\n' "unchanged, from the index" "$(seconds "$unchanged_line")"
printf '%-28s %22.3f s   %.0f layer(s) packed\n' "one file changed: pack" "$(seconds "$changed_line")" \
  "$(field "$changed_line" packed-layers)"
printf '%-28s %20.0f B     %.2f%% of the bundle (target < 5%%)\n' "one file changed: upload" \
  "$(field "$upload_line" sent-B)" "$(field "$upload_line" sent-%)"
