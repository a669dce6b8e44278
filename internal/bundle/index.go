package bundle

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The local index remembers, for one build context on this machine, the digests of the layers it
// packed, keyed by what the files looked like (name, type, permissions, size, and for regular files
// device, inode, modification and change time). When every file of a layer looks the same again,
// the layer's digests are taken from the index and nothing is read or compressed: an unchanged
// context is recognised from a walk of its folders alone.
//
// The index only ever saves work. A missing, unreadable, corrupt or foreign index is ignored (and
// replaced), a file that looks different makes its layer packed again, and a layer whose
// recorded digest is wrong cannot be uploaded: the upload packs the layer again and refuses bytes
// that do not match the digest (ErrContextChanged). A file written again within the same tick of
// the file system's clock could keep its times, so layers holding a file changed less than
// racyWindow before the packing started are not recorded, as Git does with "racily clean" files.
var racyWindow = 2 * time.Second

// indexVersion changes whenever what a key covers or what a layer's bytes depend on changes.
const indexVersion = "flow-build bundle index 1"

// layerIndex is the index of one context, loaded from and saved to one file.
type layerIndex struct {
	path   string
	layers map[string]indexedLayer
	// dirty is set when the layers to save differ from the ones loaded.
	dirty bool
}

// indexedLayer is what the index knows of one layer.
type indexedLayer struct {
	Digest v1.Hash `json:"digest"`
	DiffID v1.Hash `json:"diffID"`
	Size   int64   `json:"size"`
}

type indexFile struct {
	Version string                  `json:"version"`
	Layers  map[string]indexedLayer `json:"layers"`
}

// openIndex reads the index of the context root from dir; an empty dir means no index (nil).
func openIndex(dir, root string) *layerIndex {
	if dir == "" || root == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(root))
	idx := &layerIndex{
		path:   filepath.Join(dir, hex.EncodeToString(sum[:16])+".json"),
		layers: map[string]indexedLayer{},
	}
	data, err := os.ReadFile(idx.path)
	if err != nil {
		return idx
	}
	var f indexFile
	if json.Unmarshal(data, &f) != nil || f.Version != indexVersion {
		return idx
	}
	for k, l := range f.Layers {
		if l.Digest.Algorithm == "sha256" && l.DiffID.Algorithm == "sha256" && l.Size > 0 {
			idx.layers[k] = l
		}
	}
	return idx
}

// lookup returns the recorded digests of a layer with the given key.
func (idx *layerIndex) lookup(key string) (indexedLayer, bool) {
	if idx == nil || key == "" {
		return indexedLayer{}, false
	}
	l, ok := idx.layers[key]
	return l, ok
}

// keep replaces the index's content by the layers of the latest bundle; the index only ever
// holds one bundle's layers, so it never grows beyond the context's size.
func (idx *layerIndex) keep(layers map[string]indexedLayer) {
	if idx == nil {
		return
	}
	if len(layers) != len(idx.layers) {
		idx.dirty = true
	}
	for k, l := range layers {
		if old, ok := idx.layers[k]; !ok || old != l {
			idx.dirty = true
		}
	}
	idx.layers = layers
}

// save writes the index when it changed, atomically, so that a concurrent `flow build` reads the
// old index or the new one and never half of one. Failing to save only costs time next run.
func (idx *layerIndex) save() {
	if idx == nil || !idx.dirty {
		return
	}
	data, err := json.Marshal(indexFile{Version: indexVersion, Layers: idx.layers})
	if err != nil {
		return
	}
	dir := filepath.Dir(idx.path)
	if os.MkdirAll(dir, 0o700) != nil {
		return
	}
	f, err := os.CreateTemp(dir, ".index-*")
	if err != nil {
		return
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), idx.path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
}

// indexKey returns the key under which the layer of p's entries is recorded, and whether the layer
// may be recorded now (no file in it changed within racyWindow before start). An empty key means
// the layer cannot be indexed: a file's identity is unknown on this system.
func (p *contextPlan) indexKey(start time.Time) (key string, recordable bool) {
	h := sha256.New()
	writeField(h, []byte(indexVersion))
	writeInt(h, CompressionLevel)
	recent := start.Add(-racyWindow).UnixNano()
	recordable = true
	for _, e := range p.entries {
		writeField(h, []byte(e.name))
		writeInt(h, int64(e.mode))
		writeInt(h, e.size)
		writeField(h, []byte(e.link))
		switch {
		case e.typeflag() != tar.TypeReg:
		case e.data != nil:
			sum := sha256.Sum256(e.data)
			writeField(h, sum[:])
		case !e.hasID:
			return "", false
		default:
			writeInt(h, int64(e.id.dev))
			writeInt(h, int64(e.id.ino))
			writeInt(h, e.id.mtime)
			writeInt(h, e.id.ctime)
			if e.id.mtime >= recent || e.id.ctime >= recent {
				recordable = false
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), recordable
}

// writeField writes b with its length, so that no two sequences of fields hash alike.
func writeField(h hash.Hash, b []byte) {
	writeInt(h, int64(len(b)))
	h.Write(b)
}

func writeInt(h hash.Hash, n int64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
}

// DefaultIndexDir is where `flow` keeps the local index: bundle-index in flow-build's folder of
// the user's cache (os.UserCacheDir), or "" (no index) when there is none.
func DefaultIndexDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "flow-build", "bundle-index")
}
