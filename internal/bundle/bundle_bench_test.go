package bundle

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var (
	benchTreeDir   = flag.String("bundle.benchtree", "", "write the BenchmarkPack context into this folder (TestWriteBenchTree; used by hack/bench-bundle.sh and hack/bench-cli-memory.sh)")
	benchTreeBytes = flag.Int64("bundle.benchbytes", benchBytes, "total size of the context TestWriteBenchTree writes")
)

const (
	benchFiles   = 10_000
	benchFolders = 100
	benchBytes   = 100 << 20
)

// benchText is the compressible half of the benchmark files: source-like text.
const benchText = `func (s *server) handle(ctx context.Context, req *Request) (*Response, error) {
	if err := s.validate(req); err != nil {
		return nil, fmt.Errorf("invalid request %q: %w", req.ID, err)
	}
	// TODO: cache the lookup below; it dominates the profile under load.
	return s.store.Get(ctx, req.Key)
}
`

// writeBenchTree writes a deterministic context of 10,000 files (one is the Dockerfile) in
// 100 folders, about total bytes in all, sizes spread from half to one and a half times the
// average. Each file alternates 1 KiB blocks of pseudo-random bytes (incompressible, like
// images or binaries) and of source text (compressible), so gzip has work of both kinds.
// It returns the total size of the files' contents.
func writeBenchTree(tb testing.TB, root string, total int64) int64 {
	benchAvgSize := int(total / benchFiles)
	tb.Helper()
	rng := rand.New(rand.NewPCG(2026, 1))
	text := []byte{}
	for len(text) < 1024 {
		text = append(text, benchText...)
	}
	text = text[:1024]
	var written int64
	buf := make([]byte, 0, 2*benchAvgSize)
	for i := range benchFiles {
		dir := filepath.Join(root, fmt.Sprintf("pkg%03d", i%benchFolders))
		name := filepath.Join(dir, fmt.Sprintf("file%05d.dat", i))
		if i == 0 {
			dir, name = root, filepath.Join(root, "Dockerfile")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		size := benchAvgSize/2 + rng.IntN(benchAvgSize)
		buf = buf[:0]
		for block := 0; len(buf) < size; block++ {
			n := min(1024, size-len(buf))
			if rng.IntN(2) == 0 {
				start := len(buf)
				buf = buf[:start+n]
				for j := start; j < start+n; j++ {
					buf[j] = byte(rng.Uint32())
				}
			} else {
				buf = append(buf, text[:n]...)
			}
		}
		if err := os.WriteFile(name, buf, 0o644); err != nil {
			tb.Fatal(err)
		}
		written += int64(size)
	}
	return written
}

// TestWriteBenchTree writes the benchmark context for hack/bench-bundle.sh, which times
// `tar | gzip` on the same files; without -bundle.benchtree it does nothing.
func TestWriteBenchTree(t *testing.T) {
	if *benchTreeDir == "" {
		t.Skip("set -bundle.benchtree=DIR to write the BenchmarkPack context into DIR")
	}
	total := writeBenchTree(t, *benchTreeDir, *benchTreeBytes)
	t.Logf("wrote %d files, %d bytes, into %s", benchFiles, total, *benchTreeDir)
}

// countingWriter discards what it is given and counts it.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// BenchmarkPack measures packing a 100 MiB, 10,000-file context: "Pack" streams the
// archive away (what `tar | gzip` does), "NewLayer" is the pass `flow build --push` makes to
// learn the bundle's digests (it keeps none of the bytes; the upload packs them again, and only
// when the registry lacks them). MB/s is of file contents; "ratio" is compressed size over
// content size.
func BenchmarkPack(b *testing.B) {
	root := b.TempDir()
	total := writeBenchTree(b, root, benchBytes)
	opts := PackOptions{ContextDir: root, Dockerfile: filepath.Join(root, "Dockerfile")}

	b.Run("Pack", func(b *testing.B) {
		b.SetBytes(total)
		var out int64
		for b.Loop() {
			w := &countingWriter{}
			stats, err := Pack(opts, w)
			if err != nil {
				b.Fatal(err)
			}
			if stats.Files != benchFiles || stats.Bytes != total {
				b.Fatalf("packed %d files, %d bytes; want %d, %d", stats.Files, stats.Bytes, benchFiles, total)
			}
			out = w.n
		}
		b.ReportMetric(float64(out)/float64(total), "ratio")
	})
	b.Run("NewLayer", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			if _, _, err := NewLayer(opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
