package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testRegistry is go-containerregistry's in-memory registry behind a handler that counts
// the blob bytes clients upload, so tests can compare Push's count with what arrived.
type testRegistry struct {
	host     string
	received atomic.Int64
	// tamper, when set, replaces the body of blob downloads.
	tamper func(path string, body []byte) []byte
}

func newTestRegistry(t testing.TB) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.Contains(req.URL.Path, "/blobs/uploads/") && req.Body != nil {
			b, err := io.ReadAll(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.received.Add(int64(len(b)))
			req.Body = io.NopCloser(bytes.NewReader(b))
		}
		if r.tamper != nil && req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, req)
			body := r.tamper(req.URL.Path, rec.Body.Bytes())
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
			return
		}
		inner.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// buildBundle packs tree (written under a fresh folder) into a bundle image.
func buildBundle(t *testing.T, tree map[string]node) (v1.Image, string) {
	t.Helper()
	src := t.TempDir()
	writeTree(t, src, tree, nil)
	img, _, err := Build(PackOptions{ContextDir: src, Dockerfile: filepath.Join(src, "Dockerfile")})
	if err != nil {
		t.Fatal(err)
	}
	return img, src
}

func blobSizes(t testing.TB, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	total := m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total
}

func TestPushAndFetch(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	repo := reg.host + "/team/app"
	img, src := buildBundle(t, reproTree())
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}

	ref, uploaded, err := Push(ctx, repo, img)
	if err != nil {
		t.Fatal(err)
	}
	if want := repo + "@" + digest.String(); ref != want {
		t.Fatalf("ref %q, want %q", ref, want)
	}
	if want := blobSizes(t, img); uploaded != want || reg.received.Load() != want {
		t.Fatalf("first push: reported %d bytes, registry received %d, want both %d (layer + config)", uploaded, reg.received.Load(), want)
	}

	// The same bundle again: the registry has everything, nothing is sent.
	before := reg.received.Load()
	ref2, uploaded, err := Push(ctx, repo, img)
	if err != nil {
		t.Fatal(err)
	}
	if ref2 != ref || uploaded != 0 || reg.received.Load() != before {
		t.Fatalf("second push: ref %q, reported %d bytes, registry received %d more; want the same ref and 0 bytes", ref2, uploaded, reg.received.Load()-before)
	}

	// Pushed by digest only: no tag appears in the repository.
	r, _ := name.NewRepository(repo)
	if tags, err := remote.List(r); err != nil || len(tags) != 0 {
		t.Fatalf("tags %v (err %v), want none", tags, err)
	}

	dest, scratch := filepath.Join(t.TempDir(), "workspace"), t.TempDir()
	if err := Fetch(ctx, ref, dest, scratch); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Errorf("the download was left behind: %v", left)
	}
	want, got := snapshot(t, src), snapshot(t, dest)
	if len(got) != len(want) {
		t.Errorf("fetched %d files, source has %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: fetched %q, source %q", k, got[k], v)
		}
	}
}

func TestPushCountsOnlyMissingBlobs(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	repo := reg.host + "/team/app"
	img, _ := buildBundle(t, reproTree())
	if _, _, err := Push(ctx, repo, img); err != nil {
		t.Fatal(err)
	}

	// A second bundle sharing the layer but with a new config: only the config is sent.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	other, err := mutate.Config(img, v1.Config{Labels: map[string]string{"variant": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	rawCfg, err := other.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	before := reg.received.Load()
	_, uploaded, err := Push(ctx, repo, other)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(rawCfg)); uploaded != want || reg.received.Load()-before != want {
		t.Fatalf("reported %d bytes, registry received %d; want only the %d-byte config (layer %v exists)", uploaded, reg.received.Load()-before, want, layers[0])
	}
}

// TestProgressCountsSkippedBlobs pins the go-containerregistry behaviour that makes Push
// count bytes itself: remote.WithProgress reports 0 when the manifest already exists, but
// when only the blobs exist it reports them as completed although nothing was sent.
func TestProgressCountsSkippedBlobs(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	repo := reg.host + "/team/app"
	img, _ := buildBundle(t, reproTree())

	pushWithProgress := func(img v1.Image) (complete, uploaded int64) {
		t.Helper()
		updates := make(chan v1.Update)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range updates {
				complete = u.Complete
			}
		}()
		_, uploaded, err := Push(ctx, repo, img, remote.WithProgress(updates))
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		return complete, uploaded
	}

	complete, uploaded := pushWithProgress(img)
	if complete < uploaded || uploaded == 0 {
		t.Fatalf("first push: progress %d, uploaded %d; want progress to cover the upload", complete, uploaded)
	}
	if complete, uploaded = pushWithProgress(img); complete != 0 || uploaded != 0 {
		t.Fatalf("identical push: progress %d, uploaded %d; want 0 and 0", complete, uploaded)
	}
	relabelled, ok := mutate.Annotations(img, map[string]string{"variant": "b"}).(v1.Image)
	if !ok {
		t.Fatal("annotated image is not an image")
	}
	complete, uploaded = pushWithProgress(relabelled)
	if uploaded != 0 {
		t.Fatalf("new manifest over existing blobs: uploaded %d, want 0", uploaded)
	}
	if complete < blobSizes(t, img) {
		t.Fatalf("new manifest over existing blobs: progress %d; go-containerregistry used to count the %d bytes of skipped blobs as complete; if this changed, Push could use its progress again", complete, blobSizes(t, img))
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	img1, _ := buildBundle(t, reproTree())
	img2, _ := buildBundle(t, reproTree())
	d1, err := img1.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := img2.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Fatalf("same files gave manifests %s and %s", d1, d2)
	}
	changed := reproTree()
	changed["main.go"] = file("package main // other\n")
	img3, _ := buildBundle(t, changed)
	if d3, _ := img3.Digest(); d3 == d1 {
		t.Fatal("changed content gave the same manifest digest")
	}

	m, err := img1.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("media types %q / %q, want OCI manifest and config", m.MediaType, m.Config.MediaType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer || m.Layers[0].Annotations[AnnotationTitle] != fmt.Sprintf(LayerTitleFormat, 1) {
		t.Errorf("layers %+v, want one OCI gzip layer titled %s", m.Layers, fmt.Sprintf(LayerTitleFormat, 1))
	}
	if m.Annotations[AnnotationTitle] != ArtifactTitle {
		t.Errorf("manifest annotations %v, want title %s", m.Annotations, ArtifactTitle)
	}
	cfg, err := img1.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Created.Equal(epoch) || len(cfg.History) != 1 || !cfg.History[0].Created.Equal(epoch) {
		t.Errorf("config times %v / %+v, want the epoch only", cfg.Created, cfg.History)
	}
	// The DiffID computed while packing is the digest of the uncompressed tar.
	layer := img1.(interface{ Layers() ([]v1.Layer, error) })
	ls, _ := layer.Layers()
	rc, err := ls[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	h, _, err := v1.SHA256(rc)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != h {
		t.Errorf("config diff_ids %v, want [%s]", cfg.RootFS.DiffIDs, h)
	}
	raw, _ := img1.RawConfigFile()
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	if _, ok := generic["created"]; ok && generic["created"] != "1970-01-01T00:00:00Z" {
		t.Errorf("config created %v, want the epoch", generic["created"])
	}
}

func TestFetchRefuses(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	repo := reg.host + "/team/app"
	img, _ := buildBundle(t, map[string]node{"Dockerfile": file("FROM scratch\n")})
	ref, _, err := Push(ctx, repo, img)
	if err != nil {
		t.Fatal(err)
	}

	twoLayers, err := mutate.AppendLayers(img, static.NewLayer([]byte("x"), types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	twoRef, _, err := Push(ctx, repo, twoLayers)
	if err != nil {
		t.Fatal(err)
	}
	notTar, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), static.NewLayer([]byte(`{"not":"a tar"}`), "application/json"))
	if err != nil {
		t.Fatal(err)
	}
	jsonRef, _, err := Push(ctx, repo, notTar)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		ref    string
		tamper bool
		want   string
		// partial: the bundle is the one asked for, but a layer fails to unpack after the ones
		// before it were.
		partial bool
	}{
		{name: "tag instead of digest", ref: repo + ":latest", want: "not pinned by digest"},
		{name: "bare repository", ref: repo, want: "not pinned by digest"},
		{name: "short digest", ref: repo + "@sha256:abc", want: "not a valid repo@sha256"},
		{name: "unknown digest", ref: repo + "@sha256:" + strings.Repeat("0", 64), want: "fetching source bundle"},
		{name: "a layer that is not a gzipped tar", ref: twoRef, partial: true, want: "not a gzipped tar: unexpected EOF (layer 2 of 2) (source bundle " + twoRef},
		{name: "not a tar layer", ref: jsonRef, want: `layer 1 of ` + jsonRef + ` has media type "application/json"`},
		{name: "registry serves other bytes", ref: ref, tamper: true, want: "downloading source bundle " + ref + ": error verifying sha256 checksum"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tamper {
				reg.tamper = func(_ string, body []byte) []byte {
					if bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
						// The gzip header's OS byte: readers ignore it, so the archive
						// still unpacks, and only the digest can tell.
						body = bytes.Clone(body)
						body[9] ^= 0xff
					}
					return body
				}
				defer func() { reg.tamper = nil }()
			}
			dest := filepath.Join(t.TempDir(), "workspace")
			err := Fetch(ctx, tc.ref, dest, t.TempDir())
			t.Log(err)
			mustContain(t, err, tc.want)
			// Nothing is unpacked from a bundle that is not the one asked for.
			if entries, _ := os.ReadDir(dest); len(entries) != 0 && !tc.partial {
				t.Errorf("files were unpacked before the bundle was verified: %v", entries)
			}
		})
	}
}

// The fetch obeys its context: a build's timeout ends a download or an unpacking that drags on.
func TestFetchObeysItsDeadline(t *testing.T) {
	reg := newTestRegistry(t)
	img, _ := buildBundle(t, map[string]node{"Dockerfile": file("FROM scratch\n"), "big": file(strings.Repeat("x", 1<<20))})
	ref, _, err := Push(context.Background(), reg.host+"/team/app", img)
	if err != nil {
		t.Fatal(err)
	}
	reg.tamper = func(_ string, body []byte) []byte {
		time.Sleep(time.Second) // a registry that answers slowly
		return body
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = Fetch(ctx, ref, filepath.Join(t.TempDir(), "workspace"), t.TempDir())
	mustContain(t, err, "deadline exceeded")
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Errorf("Fetch returned %s after its deadline", took)
	}
}

func TestPushRefusesBadRepository(t *testing.T) {
	img, _ := buildBundle(t, map[string]node{"Dockerfile": file("FROM scratch\n")})
	_, _, err := Push(context.Background(), "Not A Repo!", img)
	mustContain(t, err, `"Not A Repo!" is not a valid repository`)
}
