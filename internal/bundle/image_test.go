package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// A layer holds none of the context's bytes: building it, and reading it, costs memory
// independent of the context's size. Its bytes are the same on every read, and match its digest.
func TestNewLayerStreamsTheContext(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "Dockerfile"), "FROM scratch\n")
	rng := rand.New(rand.NewPCG(1, 2))
	chunk := make([]byte, 1<<20)
	if err := os.Mkdir(filepath.Join(root, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 48 { // 48 MiB that gzip cannot shrink
		for j := range chunk {
			chunk[j] = byte(rng.Uint32())
		}
		writeFile(t, filepath.Join(root, "data", string(rune('a'+i/26))+string(rune('a'+i%26))), string(chunk))
	}

	before := heapInUse()
	layer, stats, err := NewLayer(PackOptions{ContextDir: root, Dockerfile: filepath.Join(root, "Dockerfile")})
	if err != nil {
		t.Fatal(err)
	}
	held := int64(heapInUse()) - int64(before)
	runtime.KeepAlive(layer)
	if held > 8<<20 {
		t.Errorf("a layer of a %d-byte context holds %d bytes of heap; want none of its content", stats.Bytes, held)
	}
	size, _ := layer.Size()
	digest, _ := layer.Digest()
	for pass := range 2 {
		rc, err := layer.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		_ = rc.Close()
		if err != nil || n != size || "sha256:"+hex.EncodeToString(h.Sum(nil)) != digest.String() {
			t.Fatalf("read %d: %d bytes (err %v), want %d bytes of %s", pass, n, err, size, digest)
		}
	}
	diffID, _ := layer.DiffID()
	rc, err := layer.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil || "sha256:"+hex.EncodeToString(h.Sum(nil)) != diffID.String() {
		t.Fatalf("uncompressed: err %v, want the DiffID %s", err, diffID)
	}
}

// A file that changes between the measuring pass and the upload fails the read, instead of
// sending bytes the digest does not name.
func TestLayerRefusesAContextChangedBeforeUpload(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "Dockerfile"), "FROM scratch\n")
	writeFile(t, filepath.Join(root, "app.txt"), "version 1")
	layer, _, err := NewLayer(PackOptions{ContextDir: root, Dockerfile: filepath.Join(root, "Dockerfile")})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "app.txt"), "version 2") // same size, other bytes
	rc, err := layer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	if _, err := io.Copy(io.Discard, rc); !errors.Is(err, ErrContextChanged) {
		t.Fatalf("reading a changed context: %v, want ErrContextChanged", err)
	}
	// A reader that stops early leaves nothing running behind it.
	writeFile(t, filepath.Join(root, "app.txt"), "version 1")
	goroutines := runtime.NumGoroutine()
	rc2, err := layer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, rc2, 10); err != nil {
		t.Fatal(err)
	}
	if err := rc2.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after the reader closed, %d before: the packer is still running", n, goroutines)
	}
}
