package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hostile bundles that cost time or memory rather than escaping the workspace. Each benchmark
// extracts one archive with the default limits and with none, and reports the peak live heap
// ("peak-MiB") besides the time; an archive refused by a limit counts as handled ("refused").
//
//	go test ./internal/bundle -run '^$' -bench ExtractHostile -benchtime 1x

// deepName is a path of depth components "d/d/.../d" followed by a file name.
func deepName(depth int) string {
	return strings.Repeat("d/", depth) + "f"
}

// longDir is a folder path of depth components, each of width characters: as long a name as the
// file system allows per component, so that a few entries make a large archive header.
func longDir(depth, width int) string {
	comp := strings.Repeat("x", width)
	parts := make([]string, depth)
	for i := range parts {
		parts[i] = fmt.Sprintf("%s%03d", comp[:width-3], i%1000)
	}
	return strings.Join(parts, "/")
}

// hostileArchive is a named archive, built only when its benchmark runs.
type hostileArchive struct {
	name  string
	build func(tb testing.TB) []byte
}

func deepArchive(depth int) func(testing.TB) []byte {
	return func(tb testing.TB) []byte {
		return makeArchive(tb, []hostile{{name: deepName(depth), typ: tar.TypeReg, content: "x"}})
	}
}

// dupArchive names the folder name n times. The entry's tar blocks are written once and
// repeated, which keeps the test's own work small.
func dupArchive(n int, name string) func(testing.TB) []byte {
	return func(tb testing.TB) []byte {
		var entry bytes.Buffer
		tw := tar.NewWriter(&entry)
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatPAX}); err != nil {
			tb.Fatal(err)
		}
		if err := tw.Flush(); err != nil {
			tb.Fatal(err)
		}
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		for range n {
			_, _ = zw.Write(entry.Bytes())
		}
		_, _ = zw.Write(make([]byte, 2*512)) // the end-of-archive marker
		if err := zw.Close(); err != nil {
			tb.Fatal(err)
		}
		return out.Bytes()
	}
}

var hostileArchives = []hostileArchive{
	{"deep-name-depth-1000", deepArchive(1000)},
	{"deep-name-depth-1999", deepArchive(1999)}, // 3,999 bytes: the deepest name the default limits accept
	{"deep-name-depth-4000", deepArchive(4000)},
	{"deep-name-depth-16000", deepArchive(16000)},
	// 5,000 copies of one 64 KiB folder name: 320 MB of names in an archive of a few MB.
	{"dup-dirs-5000x64KiB", dupArchive(5000, longDir(256, 250))},
	// The same within the path length a build can use: 50,000 copies of a 3,764-byte name.
	{"dup-dirs-50000x3764B", dupArchive(50000, longDir(15, 250))},
}

func BenchmarkExtractHostile(b *testing.B) {
	for _, a := range hostileArchives {
		for _, lim := range []struct {
			name   string
			limits Limits
		}{{"default-limits", DefaultLimits}, {"no-limits", Limits{}}} {
			b.Run(a.name+"/"+lim.name, func(b *testing.B) {
				archive := a.build(b)
				b.SetBytes(int64(len(archive)))
				refused := 0
				var peak uint64
				for b.Loop() {
					dest := b.TempDir()
					stop := samplePeakHeap(&peak)
					err := ExtractLimited(bytes.NewReader(archive), dest, lim.limits)
					stop()
					if err != nil {
						refused++
						if testing.Verbose() {
							b.Logf("refused: %.200s", err)
						}
					}
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
				b.ReportMetric(float64(refused)/float64(b.N), "refused")
			})
		}
	}
}

// samplePeakHeap records the largest live heap seen until the returned function is called.
func samplePeakHeap(peak *uint64) (stop func()) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > *peak {
				*peak = v
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
