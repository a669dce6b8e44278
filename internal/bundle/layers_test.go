package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// smallLayers makes layers average 16 KiB for the test, so that a context of a few hundred small
// files has dozens of them, and lets the index record files written just now.
func smallLayers(t *testing.T) { layersOf(t, 16<<10) }

// layersOf makes layers average avg bytes for the test, and lets the index record files written
// just now.
func layersOf(t *testing.T, avg int64) {
	t.Helper()
	old, window := minAvgLayerBytes, racyWindow
	minAvgLayerBytes, racyWindow = avg, 0
	t.Cleanup(func() { minAvgLayerBytes, racyWindow = old, window })
}

// treeFiles is the number of files layeredTree writes besides the Dockerfile.
const treeFiles = 300

// layeredTree writes a context of treeFiles files of 1 to 4 KiB in 20 folders and returns its
// files' slash paths (the Dockerfile first).
func layeredTree(t testing.TB, root string) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	text := randomText(rng, 64<<10)
	names := []string{"Dockerfile"}
	writeFile(t, filepath.Join(root, "Dockerfile"), "FROM scratch\nCOPY . /\n")
	for i := range treeFiles {
		name := fmt.Sprintf("dir%02d/file%03d.txt", i%20, i)
		if err := os.MkdirAll(filepath.Join(root, fmt.Sprintf("dir%02d", i%20)), 0o755); err != nil {
			t.Fatal(err)
		}
		off, size := rng.IntN(len(text)/2), 1024+rng.IntN(3072)
		writeFile(t, filepath.Join(root, filepath.FromSlash(name)), name+"\n"+text[off:off+size])
		names = append(names, name)
	}
	return names
}

func randomText(rng *rand.Rand, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz \n"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// build runs Build on the context root (its Dockerfile at the root) with the index in indexDir
// ("" for none).
func build(t testing.TB, root, indexDir string) (v1.Image, PackStats) {
	t.Helper()
	img, stats, err := Build(PackOptions{ContextDir: root, Dockerfile: filepath.Join(root, "Dockerfile"), IndexDir: indexDir})
	if err != nil {
		t.Fatal(err)
	}
	return img, stats
}

func layerDigests(t testing.TB, img v1.Image) []v1.Descriptor {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m.Layers
}

func digestOf(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newLayers returns the layers of after that before does not have, and their total size.
func newLayers(before, after []v1.Descriptor) (n int, size int64) {
	have := map[v1.Hash]bool{}
	for _, l := range before {
		have[l.Digest] = true
	}
	for _, l := range after {
		if !have[l.Digest] {
			n++
			size += l.Size
		}
	}
	return n, size
}

// Layer boundaries depend on the entries around them, not on their position: an edit changes the
// layer it is in (and, when it moves a boundary, the next one or two) and leaves every other layer
// byte for byte as it was. Rewriting a file without changing its size moves no boundary at all.
func TestLayerBoundariesStayPut(t *testing.T) {
	smallLayers(t)
	// The index only spares packing the layers that did not change (TestIndexGivesTheSameBundle).
	root, index := t.TempDir(), t.TempDir()
	names := layeredTree(t, root)
	base, _ := build(t, root, index)
	before := layerDigests(t, base)
	var total int64
	for _, l := range before {
		total += l.Size
	}
	if len(before) < 30 {
		t.Fatalf("%d layers for a %d-byte bundle; want layers of about 16 KiB", len(before), total)
	}

	rng := rand.New(rand.NewPCG(3, 5))
	edits := []struct {
		name string
		// most is the most layers the edit may change: a size that changes may move the cut a
		// full layer forces, and the cut after it.
		most int
		edit func(t *testing.T, name string) (undo func())
	}{
		{name: "same size, other bytes", most: 1, edit: func(t *testing.T, name string) func() {
			return rewrite(t, root, name, func(b []byte) []byte {
				b = bytes.Clone(b)
				b[len(b)/2] ^= 1
				return b
			})
		}},
		{name: "a few bytes more", most: 3, edit: func(t *testing.T, name string) func() {
			return rewrite(t, root, name, func(b []byte) []byte { return append(bytes.Clone(b), "// edited\n"...) })
		}},
		{name: "four times larger", most: 3, edit: func(t *testing.T, name string) func() {
			return rewrite(t, root, name, func(b []byte) []byte { return bytes.Repeat(b, 4) })
		}},
		{name: "made executable", most: 1, edit: func(t *testing.T, name string) func() {
			p := filepath.Join(root, filepath.FromSlash(name))
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return func() { _ = os.Chmod(p, 0o644) }
		}},
		{name: "removed", most: 3, edit: func(t *testing.T, name string) func() {
			p := filepath.Join(root, filepath.FromSlash(name))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return func() { writeFile(t, p, string(b)) }
		}},
		{name: "a new file beside it", most: 3, edit: func(t *testing.T, name string) func() {
			p := filepath.Join(root, filepath.FromSlash(name)+".new")
			writeFile(t, p, randomText(rng, 3000))
			return func() { _ = os.Remove(p) }
		}},
	}
	for _, tc := range edits {
		t.Run(tc.name, func(t *testing.T) {
			for range 6 {
				name := names[1+rng.IntN(len(names)-1)]
				undo := tc.edit(t, name)
				img, _ := build(t, root, index)
				n, size := newLayers(before, layerDigests(t, img))
				undo()
				// A removed file may take its whole layer with it: no new layer at all.
				if n > tc.most || n == 0 && tc.name != "removed" || digestOf(t, img) == digestOf(t, base) {
					t.Errorf("editing %s changed %d of %d layers (bundle %s), want 1 to %d and another bundle", name, n, len(before), digestOf(t, img), tc.most)
				}
				if size*10 > total {
					t.Errorf("editing %s changed %d of the bundle's %d bytes, want under a tenth", name, size, total)
				}
			}
			// Undone, the context is the same bundle again.
			if img, _ := build(t, root, index); digestOf(t, img) != digestOf(t, base) {
				t.Errorf("after undoing the edits the bundle is %s, want %s", digestOf(t, img), digestOf(t, base))
			}
		})
	}
}

// rewrite replaces the content of the file name under root and returns what puts it back.
func rewrite(t *testing.T, root, name string, change func([]byte) []byte) func() {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, string(change(b)))
	return func() { writeFile(t, p, string(b)) }
}

// Every layer is a reproducible gzipped tar of its own, and unpacked in order the layers are the
// context; the single-stream Pack gives the same entries.
func TestLayersAreTheContext(t *testing.T) {
	smallLayers(t)
	root := t.TempDir()
	layeredTree(t, root)
	img, stats := build(t, root, "")
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Layers != len(layers) || stats.PackedLayers != len(layers) || stats.Files != treeFiles+1 {
		t.Errorf("stats %+v, want %d layers all packed and %d files", stats, len(layers), treeFiles+1)
	}
	var names []string
	readers := make([]io.Reader, len(layers))
	for i, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, entryNames(readArchive(t, b))...)
		readers[i] = bytes.NewReader(b)
	}
	whole, _ := pack(t, root, filepath.Join(root, "Dockerfile"))
	if want := entryNames(readArchive(t, whole)); !slices.Equal(names, want) {
		t.Errorf("the layers hold %d entries, the context %d; want the same in the same order", len(names), len(want))
	}
	dest := filepath.Join(t.TempDir(), "dest")
	if err := ExtractLayers(readers, dest, DefaultLimits); err != nil {
		t.Fatal(err)
	}
	if want, got := snapshot(t, root), snapshot(t, dest); !mapsEqual(want, got) {
		t.Errorf("unpacked layers differ from the context: %d entries against %d", len(got), len(want))
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A small context is one layer, as bundles always were; an empty plan still has one.
func TestSmallContextIsOneLayer(t *testing.T) {
	img, stats := build(t, func() string {
		root := t.TempDir()
		writeTree(t, root, reproTree(), nil)
		return root
	}(), "")
	if n := len(layerDigests(t, img)); n != 1 || stats.Layers != 1 {
		t.Errorf("%d layers (stats %d), want 1", n, stats.Layers)
	}
	if parts := (&contextPlan{}).split(); len(parts) != 1 {
		t.Errorf("an empty plan splits into %d layers, want 1", len(parts))
	}
}

// A large context has larger layers, so that it never has more than MaxLayers.
func TestLayerCountIsBounded(t *testing.T) {
	for _, total := range []int64{0, 1 << 20, 300 << 20, 8 << 30, 64 << 30} {
		_, minBytes, maxBytes := layerSizes(total)
		if most := total/minBytes + 2*total/maxBytes + 1; most > MaxLayers {
			t.Errorf("a %d-byte context may have %d layers, more than %d", total, most, MaxLayers)
		}
	}
	// Many tiny entries, boundaries as frequent as they can be: the minimum size still holds.
	p := &contextPlan{}
	for i := range 20000 {
		p.entries = append(p.entries, entry{name: fmt.Sprintf("f%05d", i), size: 0})
	}
	if parts := p.split(); len(parts) > MaxLayers {
		t.Errorf("%d layers, want at most %d", len(parts), MaxLayers)
	}
}

// The index decides "unchanged" without packing, and never changes the answer: the same files give
// the same manifest with and without it, and a file that changed is packed again.
func TestIndexGivesTheSameBundle(t *testing.T) {
	smallLayers(t)
	root, indexDir := t.TempDir(), t.TempDir()
	names := layeredTree(t, root)
	want, _ := build(t, root, "")

	img, stats := build(t, root, indexDir)
	if digestOf(t, img) != digestOf(t, want) || stats.PackedLayers != stats.Layers {
		t.Fatalf("first build with an empty index: %s, %d of %d layers packed; want %s, all packed", digestOf(t, img), stats.PackedLayers, stats.Layers, digestOf(t, want))
	}
	img, stats = build(t, root, indexDir)
	if digestOf(t, img) != digestOf(t, want) || stats.PackedLayers != 0 {
		t.Fatalf("unchanged, with the index: %s, %d layers packed; want %s, none packed", digestOf(t, img), stats.PackedLayers, digestOf(t, want))
	}

	cases := []struct {
		name   string
		change func(t *testing.T, p string)
	}{
		{name: "content rewritten", change: func(t *testing.T, p string) {
			writeFile(t, p, strings.Repeat("x", 2000))
		}},
		{name: "same size, modification time put back", change: func(t *testing.T, p string) {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p)
			b[0] ^= 1
			writeFile(t, p, string(b))
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "replaced by a copy", change: func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			b[0] ^= 1
			writeFile(t, p+".tmp", string(b))
			if err := os.Rename(p+".tmp", p); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "permissions", change: func(t *testing.T, p string) {
			if err := os.Chmod(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.change(t, filepath.Join(root, filepath.FromSlash(names[50+i*50])))
			img, stats := build(t, root, indexDir)
			fresh, _ := build(t, root, "")
			if digestOf(t, img) != digestOf(t, fresh) {
				t.Errorf("with the index %s, without %s: the index hid the change", digestOf(t, img), digestOf(t, fresh))
			}
			if stats.PackedLayers < 1 || stats.PackedLayers > 2 {
				t.Errorf("%d of %d layers packed, want the changed one (or two)", stats.PackedLayers, stats.Layers)
			}
			if _, stats := build(t, root, indexDir); stats.PackedLayers != 0 {
				t.Errorf("once recorded: %d layers packed, want none", stats.PackedLayers)
			}
		})
	}
}

// A missing, corrupt or foreign index costs time, never the answer; files changed just before the
// build are not recorded (their times could hide a second change within the same clock tick).
func TestIndexFaults(t *testing.T) {
	smallLayers(t)
	root := t.TempDir()
	layeredTree(t, root)
	want := digestOf(t, func() v1.Image { img, _ := build(t, root, ""); return img }())
	indexPath := func(dir string) string {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(files) != 1 {
			t.Fatalf("index files %v, want one", files)
		}
		return files[0]
	}

	for _, tc := range []struct {
		name    string
		content string
	}{
		{name: "not JSON", content: "\x00garbage"},
		{name: "another version", content: `{"version":"flow-build bundle index 0","layers":{}}`},
		{name: "empty", content: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			build(t, root, dir)
			if err := os.WriteFile(indexPath(dir), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			img, stats := build(t, root, dir)
			if digestOf(t, img) != want || stats.PackedLayers != stats.Layers {
				t.Errorf("%s, %d of %d layers packed; want %s, all packed", digestOf(t, img), stats.PackedLayers, stats.Layers, want)
			}
			if _, stats := build(t, root, dir); stats.PackedLayers != 0 {
				t.Errorf("the index was not replaced: %d layers packed on the next run", stats.PackedLayers)
			}
		})
	}

	t.Run("index folder cannot be written", func(t *testing.T) {
		blocker := filepath.Join(t.TempDir(), "file")
		writeFile(t, blocker, "not a folder")
		if img, _ := build(t, root, filepath.Join(blocker, "index")); digestOf(t, img) != want {
			t.Errorf("%s, want %s", digestOf(t, img), want)
		}
	})

	t.Run("files changed just now", func(t *testing.T) {
		racyWindow = time.Hour
		defer func() { racyWindow = 0 }()
		dir := t.TempDir()
		build(t, root, dir)
		if _, stats := build(t, root, dir); stats.PackedLayers != stats.Layers {
			t.Errorf("%d of %d layers packed; files changed within the window must not be trusted", stats.PackedLayers, stats.Layers)
		}
	})

	// An index that lies (edited by hand) about a layer the registry lacks cannot make the upload
	// send other bytes than the digest names: packing them again gives the truth.
	t.Run("a lying index", func(t *testing.T) {
		dir := t.TempDir()
		build(t, root, dir)
		p := indexPath(dir)
		var f indexFile
		data, _ := os.ReadFile(p)
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatal(err)
		}
		for k, l := range f.Layers {
			l.Digest.Hex = strings.Repeat("0", 64)
			f.Layers[k] = l
		}
		data, _ = json.Marshal(f)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		img, _ := build(t, root, dir)
		reg := newTestRegistry(t)
		_, _, err := Push(context.Background(), reg.host+"/team/app", img)
		if !errors.Is(err, ErrContextChanged) {
			t.Fatalf("push with a lying index: %v, want ErrContextChanged", err)
		}
	})
}

// After one file changes, the push sends the changed layer and the config, nothing else; and the
// bundle the cluster fetches is the context.
func TestPushAfterOneChangeSendsOneLayer(t *testing.T) {
	layersOf(t, 32<<10)
	ctx := context.Background()
	reg := newTestRegistry(t)
	repo := reg.host + "/team/app"
	root := t.TempDir()
	names := layeredTree(t, root)
	img, _ := build(t, root, "")
	if _, sent, err := Push(ctx, repo, img); err != nil || sent != blobSizes(t, img) {
		t.Fatalf("first push: %d bytes (err %v), want %d", sent, err, blobSizes(t, img))
	}

	writeFile(t, filepath.Join(root, filepath.FromSlash(names[150])), "edited\n")
	changed, _ := build(t, root, "")
	n, size := newLayers(layerDigests(t, img), layerDigests(t, changed))
	cfg, err := changed.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	before := reg.received.Load()
	ref, sent, err := Push(ctx, repo, changed)
	if err != nil {
		t.Fatal(err)
	}
	if want := size + int64(len(cfg)); sent != want || reg.received.Load()-before != want {
		t.Errorf("second push: reported %d bytes, registry received %d; want %d: %d new layer(s) and the config", sent, reg.received.Load()-before, want, n)
	}
	if n > 2 || sent*5 > blobSizes(t, changed) {
		t.Errorf("sent %d of %d bytes in %d layers, want one or two layers of about 3%% each", sent, blobSizes(t, changed), n)
	}

	dest := filepath.Join(t.TempDir(), "workspace")
	if err := Fetch(ctx, ref, dest, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if want, got := snapshot(t, root), snapshot(t, dest); !mapsEqual(want, got) {
		t.Errorf("fetched %d entries, the context has %d, or they differ", len(got), len(want))
	}

	// One tampered layer among many: nothing is unpacked.
	m, _ := changed.Manifest()
	bad := m.Layers[len(m.Layers)/2].Digest.String()
	reg.tamper = func(path string, body []byte) []byte {
		if strings.HasSuffix(path, bad) {
			body = bytes.Clone(body)
			body[9] ^= 0xff
		}
		return body
	}
	dest = filepath.Join(t.TempDir(), "workspace")
	err = Fetch(ctx, ref, dest, t.TempDir())
	mustContain(t, err, "error verifying sha256 checksum")
	mustContain(t, err, fmt.Sprintf("layer %d of %d", len(m.Layers)/2+1, len(m.Layers)))
	if entries, _ := os.ReadDir(dest); len(entries) != 0 {
		t.Errorf("files were unpacked before every layer was verified: %d", len(entries))
	}
}
