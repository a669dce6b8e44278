package bundle

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// benchContext writes the benchmark context into a fresh folder and waits until its files are
// older than racyWindow, as a real context's are, so that the index may record them.
func benchContext(b *testing.B) (PackOptions, int64) {
	b.Helper()
	root := b.TempDir()
	total := writeBenchTree(b, root, benchBytes)
	time.Sleep(racyWindow)
	return PackOptions{ContextDir: root, Dockerfile: filepath.Join(root, "Dockerfile")}, total
}

// BenchmarkBuild measures what `flow build --push` does before it uploads, on the 100 MiB,
// 10,000-file context: "NoIndex" packs every layer to learn the digests (as a first run does);
// "Unchanged" decides that nothing changed, from the local index, down to the manifest digest
// (the target is under 0.3 s); "OneFileChanged" does the same after one file was rewritten, which
// packs that file's layer alone.
func BenchmarkBuild(b *testing.B) {
	opts, total := benchContext(b)
	b.Run("NoIndex", func(b *testing.B) {
		b.SetBytes(total)
		var layers int
		for b.Loop() {
			img, stats, err := Build(opts)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := img.Digest(); err != nil {
				b.Fatal(err)
			}
			layers = stats.Layers
		}
		b.ReportMetric(float64(layers), "layers")
	})

	opts.IndexDir = b.TempDir()
	want := benchDigest(b, opts)
	b.Run("Unchanged", func(b *testing.B) {
		for b.Loop() {
			img, stats, err := Build(opts)
			if err != nil {
				b.Fatal(err)
			}
			if d, err := img.Digest(); err != nil || d != want || stats.PackedLayers != 0 {
				b.Fatalf("digest %s (err %v), %d layers packed; want %s, none packed", d, err, stats.PackedLayers, want)
			}
		}
	})
	b.Run("OneFileChanged", func(b *testing.B) {
		name := filepath.Join(opts.ContextDir, "pkg050", "file05050.dat")
		orig, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.WriteFile(name, orig, 0o644) })
		edited := slices.Clone(orig)
		var packed int
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			edited[len(edited)/2] = byte(i)
			if err := os.WriteFile(name, edited, 0o644); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			img, stats, err := Build(opts)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := img.Digest(); err != nil {
				b.Fatal(err)
			}
			packed = stats.PackedLayers
		}
		b.ReportMetric(float64(packed), "packed-layers")
	})
}

func benchDigest(b *testing.B, opts PackOptions) v1.Hash {
	b.Helper()
	img, _, err := Build(opts)
	if err != nil {
		b.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkUploadAfterOneChange pushes the 100 MiB, 10,000-file context to an in-memory registry,
// rewrites one file (same size, other bytes) and pushes again: "sent-B" is what the second push
// uploaded (blobs and manifest) and "sent-%" that against the whole bundle (the target is under
// 5%). The time is the second push's, index included.
func BenchmarkUploadAfterOneChange(b *testing.B) {
	opts, _ := benchContext(b)
	opts.IndexDir = b.TempDir()
	reg := newTestRegistry(b)
	repo := reg.host + "/bench/app"
	ctx := context.Background()
	push := func() (v1.Image, int64) {
		img, _, err := Build(opts)
		if err != nil {
			b.Fatal(err)
		}
		_, sent, err := Push(ctx, repo, img)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := img.RawManifest()
		if err != nil {
			b.Fatal(err)
		}
		return img, sent + int64(len(raw))
	}
	first, _ := push()
	name := filepath.Join(opts.ContextDir, "pkg050", "file05050.dat")
	orig, err := os.ReadFile(name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.WriteFile(name, orig, 0o644) })
	edited := slices.Clone(orig)
	var sent, whole int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		edited[len(edited)/2] = byte(i + 1)
		if err := os.WriteFile(name, edited, 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var img v1.Image
		img, sent = push()
		whole = blobSizes(b, img)
	}
	b.ReportMetric(float64(sent), "sent-B")
	b.ReportMetric(100*float64(sent)/float64(whole), "sent-%")
	b.ReportMetric(float64(len(layerDigests(b, first))), "layers")
}
