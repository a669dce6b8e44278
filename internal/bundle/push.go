package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Push uploads a bundle image to repo (a repository without tag or digest, e.g.
// "ghcr.io/org/app") by digest only, no tag, and returns its reference "repo@sha256:…" and
// the number of blob bytes actually sent.
//
// Blobs the registry already has are not sent again (go-containerregistry asks the registry
// before each upload, and skips everything when the manifest itself exists), so pushing an
// unchanged context reports 0 bytes.
//
// The count is taken from the blob bodies as they are read for upload, not from
// [remote.WithProgress]: go-containerregistry's progress counts a blob the registry already
// had as completed, so it cannot tell skipped bytes from sent ones (see
// TestProgressCountsSkippedBlobs). Callers may still pass remote.WithProgress in opts to
// draw a progress bar; its totals include skipped blobs.
func Push(ctx context.Context, repo string, img v1.Image, opts ...remote.Option) (ref string, uploaded int64, err error) {
	r, err := name.NewRepository(repo)
	if err != nil {
		return "", 0, fmt.Errorf("bundle: %q is not a valid repository for the source bundle: %w; give a repository such as ghcr.io/org/app, without tag or digest", repo, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", 0, fmt.Errorf("bundle: computing the bundle digest: %w", err)
	}
	dref := r.Digest(digest.String())
	var sent atomic.Int64
	opts = append(slices.Clone(opts), remote.WithContext(ctx))
	if err := remote.Write(dref, &countingImage{Image: img, sent: &sent}, opts...); err != nil {
		return "", sent.Load(), fmt.Errorf("bundle: pushing the source bundle to %s: %w", r, err)
	}
	return dref.String(), sent.Load(), nil
}

// countingImage counts the bytes read from its blobs. go-containerregistry reads a blob's
// body only to upload it, so the count is what went over the wire (including the bytes of an
// attempt that failed and was retried).
type countingImage struct {
	v1.Image
	sent *atomic.Int64
}

func (i *countingImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for n, l := range ls {
		out[n] = i.wrap(l)
	}
	return out, nil
}

func (i *countingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return i.wrap(l), nil
}

func (i *countingImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDiffID(h)
	if err != nil {
		return nil, err
	}
	return i.wrap(l), nil
}

// ConfigLayer is what go-containerregistry uploads as the config blob; without it here,
// the embedded image's own (uncounted) config layer would be used.
func (i *countingImage) ConfigLayer() (v1.Layer, error) {
	l, err := partial.ConfigLayer(i.Image)
	if err != nil {
		return nil, err
	}
	return i.wrap(l), nil
}

func (i *countingImage) wrap(l v1.Layer) v1.Layer {
	switch l.(type) {
	case *remote.MountableLayer, *stream.Layer:
		// go-containerregistry treats these types specially (cross-repository mounts,
		// single-read streams); hiding them would change how they are pushed. Bundles built
		// by this package never contain them.
		return l
	}
	return &countingLayer{Layer: l, sent: i.sent}
}

type countingLayer struct {
	v1.Layer
	sent *atomic.Int64
}

func (l *countingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &countingReader{ReadCloser: rc, sent: l.sent}, nil
}

type countingReader struct {
	io.ReadCloser
	sent *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.sent.Add(int64(n))
	return n, err
}

// Fetch pulls the bundle ref ("repo@sha256:…"; a tag is refused) and unpacks its single
// layer into dest with [Extract] and [DefaultLimits].
//
// Every byte is checked against the digests: the manifest against ref, the layer against the
// manifest. The layer is verified as it streams, so a corrupt or tampered layer is reported
// after it was unpacked (the files stay inside dest either way); the caller must treat dest
// as garbage when Fetch fails.
func Fetch(ctx context.Context, ref, dest string, opts ...remote.Option) error {
	if !strings.Contains(ref, "@sha256:") {
		return fmt.Errorf("bundle: source bundle %q is not pinned by digest; bundles are only fetched as repo@sha256:<64 hex digits>, which is what flow build writes", ref)
	}
	d, err := name.NewDigest(ref)
	if err != nil {
		return fmt.Errorf("bundle: source bundle %q is not a valid repo@sha256:<digest> reference: %w", ref, err)
	}
	opts = append(slices.Clone(opts), remote.WithContext(ctx))
	img, err := remote.Image(d, opts...)
	if err != nil {
		return fmt.Errorf("fetching source bundle %s: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("bundle: reading source bundle %s: %w", ref, err)
	}
	if len(layers) != 1 {
		return fmt.Errorf("bundle: %s has %d layers, but a source bundle has exactly one (the build context); point the ImageBuild at an image pushed by flow build", ref, len(layers))
	}
	mt, err := layers[0].MediaType()
	if err != nil {
		return fmt.Errorf("bundle: reading source bundle %s: %w", ref, err)
	}
	if mt != types.OCILayer && mt != types.DockerLayer {
		return fmt.Errorf("bundle: the layer of %s has media type %q, but a source bundle's is %q (a gzipped tar)", ref, mt, types.OCILayer)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		return fmt.Errorf("bundle: downloading source bundle %s: %w", ref, err)
	}
	defer func() { _ = rc.Close() }()
	// The digest check fires when the layer has been read to its end; gzip may stop short of
	// trailing bytes, so they are read too. Download and verification errors are told apart
	// from archive errors, since they call for a different fix.
	src := &readErrRecorder{r: rc}
	err = Extract(src, dest)
	if err == nil {
		_, err = io.Copy(io.Discard, src)
	}
	if src.err != nil {
		return fmt.Errorf("bundle: downloading source bundle %s: %w", ref, src.err)
	}
	if err != nil {
		return fmt.Errorf("%w (source bundle %s)", err, ref)
	}
	return nil
}

// readErrRecorder remembers the first error other than io.EOF its reader returned.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (r *readErrRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && r.err == nil {
		r.err = err
	}
	return n, err
}
