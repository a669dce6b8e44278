package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

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

// ErrContextChanged is returned while a layer is read when its files no longer give the bytes
// [NewLayer] measured: something wrote to the build context in between.
var ErrContextChanged = errors.New("bundle: the build context changed while it was being uploaded; run the build again once nothing writes to the context")

// NewLayer plans the context described by opts and packs it once, to learn the layer's digest,
// DiffID and size, keeping none of its bytes: the layer is packed again, streaming, each time its
// content is read. Packing is reproducible, so every pass gives the same bytes; a pass that does
// not (a file changed meanwhile) fails with [ErrContextChanged] instead of sending other bytes
// than the digest names. Memory stays bounded by the packer's buffers whatever the context's
// size, and a registry that already has the blob costs this one pass and no upload.
//
// A layer is built from a plan of entries, so that a context split into several layers (each
// uploaded only when the registry lacks it) is a list of such plans.
func NewLayer(opts PackOptions) (v1.Layer, PackStats, error) {
	plan, err := planContext(opts)
	if err != nil {
		return nil, PackStats{}, err
	}
	return plan.layer()
}

// layer measures the plan's layer in one pass.
func (p *contextPlan) layer() (v1.Layer, PackStats, error) {
	compressed, tarHash := &hashCounter{h: sha256.New()}, &hashCounter{h: sha256.New()}
	stats, err := p.write(compressed, tarHash)
	if err != nil {
		return nil, stats, err
	}
	return &streamLayer{
		plan:   p,
		digest: compressed.sum(),
		diffID: tarHash.sum(),
		size:   compressed.n,
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

// streamLayer is a gzipped tar whose hashes and size are known up front and whose bytes are
// packed from the files whenever they are read, so that pushing it needs neither memory nor a
// temporary file the size of the context.
type streamLayer struct {
	plan           *contextPlan
	digest, diffID v1.Hash
	size           int64
}

var _ v1.Layer = (*streamLayer)(nil)

func (l *streamLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *streamLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *streamLayer) Size() (int64, error)                { return l.size, nil }
func (l *streamLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

// Compressed packs the layer again into a pipe, and fails the read with ErrContextChanged when
// the bytes do not hash to the layer's digest.
func (l *streamLayer) Compressed() (io.ReadCloser, error) {
	return l.stream(func(w io.Writer) (v1.Hash, int64, error) {
		out := &hashCounter{h: sha256.New(), w: w}
		_, err := l.plan.write(out, nil)
		return out.sum(), out.n, err
	}, l.digest, l.size), nil
}

// Uncompressed streams the layer's tar, checked against its DiffID.
func (l *streamLayer) Uncompressed() (io.ReadCloser, error) {
	return l.stream(func(w io.Writer) (v1.Hash, int64, error) {
		out := &hashCounter{h: sha256.New(), w: w}
		_, err := l.plan.writeTar(out)
		return out.sum(), out.n, err
	}, l.diffID, -1), nil
}

func (l *streamLayer) stream(pack func(io.Writer) (v1.Hash, int64, error), want v1.Hash, size int64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		got, n, err := pack(pw)
		if err == nil && (got != want || size >= 0 && n != size) {
			err = ErrContextChanged
		}
		_ = pw.CloseWithError(err) // nil closes with io.EOF
	}()
	return pr
}

// hashCounter hashes and counts what passes through it on the way to w (nowhere when nil).
type hashCounter struct {
	h hash.Hash
	w io.Writer
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	if c.w != nil {
		n, err := c.w.Write(p)
		c.h.Write(p[:n])
		c.n += int64(n)
		return n, err
	}
	c.h.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}

func (c *hashCounter) sum() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(c.h.Sum(nil))}
}
