package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// AnnotationTitle is the OCI annotation naming things in a bundle manifest.
	AnnotationTitle = "org.opencontainers.image.title"
	// ArtifactTitle is the title annotation of every bundle manifest, so that a person
	// browsing the registry can tell bundles from the service's images.
	ArtifactTitle = "flow-build-context"
	// LayerTitle is the title annotation of the bundle's single layer: the file name that
	// artifact tools such as oras use when they pull it.
	LayerTitle = "context.tar.gz"
)

// NewLayer packs the context described by opts once, in memory, and returns it as an OCI
// layer (gzipped tar) whose digest and DiffID were computed during that single pass.
//
// The compressed archive is held in memory: build contexts are expected to be tens of
// megabytes, and keeping no temporary file means there is nothing to clean up on any path.
func NewLayer(opts PackOptions) (v1.Layer, PackStats, error) {
	plan, err := planContext(opts)
	if err != nil {
		return nil, PackStats{}, err
	}
	var buf bytes.Buffer
	compressedHash, tarHash := sha256.New(), sha256.New()
	stats, err := plan.write(io.MultiWriter(&buf, compressedHash), tarHash)
	if err != nil {
		return nil, stats, err
	}
	return &memLayer{
		compressed: buf.Bytes(),
		digest:     v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(compressedHash.Sum(nil))},
		diffID:     v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(tarHash.Sum(nil))},
	}, stats, nil
}

// Image wraps a context layer (as made by [NewLayer]) into a bundle: an OCI image manifest
// with an OCI config and exactly that one layer, annotated with [ArtifactTitle]. The layer
// must be a gzipped tar; it is recorded with the OCI gzip layer media type whatever its own.
//
// Nothing in it depends on the time or the machine (the config's creation time is the Unix
// epoch, like the tar entries), so the same layer always gives the same manifest digest.
func Image(layer v1.Layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.CreatedAt(img, v1.Time{Time: epoch})
	if err != nil {
		return nil, fmt.Errorf("bundle: building the bundle image: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:       layer,
		MediaType:   types.OCILayer,
		History:     v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "flow build: source bundle"},
		Annotations: map[string]string{AnnotationTitle: LayerTitle},
	})
	if err != nil {
		return nil, fmt.Errorf("bundle: building the bundle image: %w", err)
	}
	annotated, ok := mutate.Annotations(img, map[string]string{AnnotationTitle: ArtifactTitle}).(v1.Image)
	if !ok {
		return nil, fmt.Errorf("bundle: building the bundle image: annotated manifest is not an image")
	}
	return annotated, nil
}

// Build packs the context described by opts and returns it as a bundle image ready for
// [Push], together with what was packed. See [NewLayer] and [Image].
func Build(opts PackOptions) (v1.Image, PackStats, error) {
	layer, stats, err := NewLayer(opts)
	if err != nil {
		return nil, stats, err
	}
	img, err := Image(layer)
	if err != nil {
		return nil, stats, err
	}
	return img, stats, nil
}

// memLayer is a gzipped tar held in memory with its hashes known up front, so that pushing
// it never re-reads or re-compresses the context.
type memLayer struct {
	compressed     []byte
	digest, diffID v1.Hash
}

var _ v1.Layer = (*memLayer)(nil)

func (l *memLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *memLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *memLayer) Size() (int64, error)     { return int64(len(l.compressed)), nil }

func (l *memLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

func (l *memLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.compressed)), nil
}

func (l *memLayer) Uncompressed() (io.ReadCloser, error) {
	return gzip.NewReader(bytes.NewReader(l.compressed))
}
