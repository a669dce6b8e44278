package bundle

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

const (
	// AnnotationTitle is the OCI annotation naming things in a bundle manifest.
	AnnotationTitle = "org.opencontainers.image.title"
	// ArtifactTitle is the title annotation of every bundle manifest, so that a person
	// browsing the registry can tell bundles from the service's images.
	ArtifactTitle = "flow-build-context"
	// LayerTitleFormat makes the title annotation of each layer from its number (from 1): the
	// file names artifact tools such as oras use when they pull them. Unpacked in order into one
	// folder, the layers give the build context.
	LayerTitleFormat = "context-%04d.tar.gz"
)

// ErrContextChanged is returned while a layer is read when its files no longer give the bytes
// they gave when the layer was measured: something wrote to the build context in between.
var ErrContextChanged = errors.New("bundle: the build context changed while it was being uploaded; run the build again once nothing writes to the context")

// NewLayer plans the context described by opts and packs it whole, once, into one layer, to
// learn the layer's digest, DiffID and size, keeping none of its bytes: the layer is packed again,
// streaming, each time its content is read. Packing is reproducible, so every pass gives the same
// bytes; a pass that does not (a file changed meanwhile) fails with [ErrContextChanged] instead of
// sending other bytes than the digest names. Memory stays bounded by the packer's buffers whatever
// the context's size. [Build] makes the layers of a bundle the same way, one per part of the
// context.
func NewLayer(opts PackOptions) (v1.Layer, PackStats, error) {
	plan, err := planContext(opts)
	if err != nil {
		return nil, PackStats{}, err
	}
	l, err := plan.layer()
	if err != nil {
		return nil, PackStats{}, err
	}
	return l, plan.stats(), nil
}

// layer measures the plan's layer in one pass.
func (p *contextPlan) layer() (*streamLayer, error) {
	compressed, tarHash := &hashCounter{h: sha256.New()}, &hashCounter{h: sha256.New()}
	if _, err := p.write(compressed, tarHash); err != nil {
		return nil, err
	}
	return &streamLayer{
		plan:   p,
		digest: compressed.sum(),
		diffID: tarHash.sum(),
		size:   compressed.n,
	}, nil
}

// stats counts what the plan packs.
func (p *contextPlan) stats() PackStats {
	stats := PackStats{DockerfilePath: p.dockerfilePath}
	for _, e := range p.entries {
		switch e.typeflag() {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
			stats.Bytes += e.size
		}
		stats.Files++
	}
	return stats
}

// Image wraps context layers (gzipped tars, as made by [Build] or [NewLayer]) into a bundle: an
// OCI image manifest with an OCI config and those layers in order, annotated with
// [ArtifactTitle]. Every layer is recorded with the OCI gzip layer media type whatever its own.
//
// Nothing in it depends on the time or the machine (the config's creation time is the Unix
// epoch, like the tar entries), so the same layers always give the same manifest digest.
func Image(layers ...v1.Layer) (v1.Image, error) {
	if len(layers) == 0 || len(layers) > MaxLayers {
		return nil, fmt.Errorf("bundle: a bundle has 1 to %d layers, not %d", MaxLayers, len(layers))
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.CreatedAt(img, v1.Time{Time: epoch})
	if err != nil {
		return nil, fmt.Errorf("bundle: building the bundle image: %w", err)
	}
	adds := make([]mutate.Addendum, len(layers))
	for i, l := range layers {
		adds[i] = mutate.Addendum{
			Layer:       l,
			MediaType:   types.OCILayer,
			History:     v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "flow build: source bundle"},
			Annotations: map[string]string{AnnotationTitle: fmt.Sprintf(LayerTitleFormat, i+1)},
		}
	}
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("bundle: building the bundle image: %w", err)
	}
	annotated, ok := mutate.Annotations(img, map[string]string{AnnotationTitle: ArtifactTitle}).(v1.Image)
	if !ok {
		return nil, fmt.Errorf("bundle: building the bundle image: annotated manifest is not an image")
	}
	return annotated, nil
}

// Build packs the context described by opts and returns it as a bundle image ready for [Push],
// together with what was packed.
//
// The context is split into layers whose boundaries depend on the files around them, not on
// their position (see [contextPlan.split]), so that one changed file changes one layer and the
// upload sends that layer alone. Each layer's digests come from the local index in
// opts.IndexDir when its files look as they did when it was recorded, and from packing it once
// otherwise (several layers at a time, one per CPU); no layer's bytes are kept: [Push] packs again
// what the registry lacks. With or without the index, the same files give the same layers and the
// same manifest digest.
func Build(opts PackOptions) (v1.Image, PackStats, error) {
	start := time.Now()
	plan, err := planContext(opts)
	if err != nil {
		return nil, PackStats{}, err
	}
	stats := plan.stats()
	parts := plan.split()
	idx := openIndex(opts.IndexDir, plan.root)

	layers := make([]*streamLayer, len(parts))
	keys := make([]string, len(parts))
	recordable := make([]bool, len(parts))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, part := range parts {
		keys[i], recordable[i] = part.indexKey(start)
		if rec, ok := idx.lookup(keys[i]); ok {
			layers[i] = &streamLayer{plan: part, digest: rec.Digest, diffID: rec.DiffID, size: rec.Size}
			continue
		}
		stats.PackedLayers++
		g.Go(func() error {
			l, err := part.layer()
			layers[i] = l
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, stats, err
	}
	stats.Layers = len(parts)

	if idx != nil {
		keep := map[string]indexedLayer{}
		for i, l := range layers {
			if keys[i] != "" && recordable[i] {
				keep[keys[i]] = indexedLayer{Digest: l.digest, DiffID: l.diffID, Size: l.size}
			}
		}
		idx.keep(keep)
		idx.save()
	}

	vl := make([]v1.Layer, len(layers))
	for i, l := range layers {
		vl[i] = l
	}
	img, err := Image(vl...)
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
