package bundle

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
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

// Fetch pulls the bundle ref ("repo@sha256:…"; a tag is refused) and unpacks its layers, in
// order, into dest with [ExtractLayers] and [DefaultLimits].
//
// Every byte is checked against the digests before any of it is unpacked: the manifest against
// ref, then each layer, downloaded whole into a file in scratch (a folder, on a volume with room
// for the compressed bundle; the files are removed afterwards), against the manifest. A corrupt or
// tampered bundle leaves dest untouched. ctx bounds the download and the unpacking.
func Fetch(ctx context.Context, ref, dest, scratch string, opts ...remote.Option) error {
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
	if len(layers) == 0 || len(layers) > MaxLayers {
		return fmt.Errorf("bundle: %s has %d layers, but a source bundle has 1 to %d (the build context); point the ImageBuild at an image pushed by flow build", ref, len(layers), MaxLayers)
	}
	var total int64
	for i, layer := range layers {
		mt, err := layer.MediaType()
		if err != nil {
			return fmt.Errorf("bundle: reading source bundle %s: %w", ref, err)
		}
		if mt != types.OCILayer && mt != types.DockerLayer {
			return fmt.Errorf("bundle: layer %d of %s has media type %q, but a source bundle's layers are %q (gzipped tars)", i+1, ref, mt, types.OCILayer)
		}
		size, err := layer.Size()
		if err != nil {
			return fmt.Errorf("bundle: reading source bundle %s: %w", ref, err)
		}
		if size < 0 {
			return fmt.Errorf("bundle: layer %d of %s has a negative size", i+1, ref)
		}
		total += size
		if max := DefaultLimits.MaxBytes; total > max {
			return fmt.Errorf("bundle: the layers of %s take more than the %d bytes a source bundle may be", ref, max)
		}
	}
	files := make([]*os.File, len(layers))
	defer func() {
		for _, f := range files {
			if f != nil {
				_ = f.Close()
				_ = os.Remove(f.Name())
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchParallel)
	for i, layer := range layers {
		g.Go(func() error {
			f, err := download(gctx, layer, scratch)
			if err != nil {
				if len(layers) > 1 {
					return fmt.Errorf("layer %d of %d: %w", i+1, len(layers), err)
				}
				return err
			}
			files[i] = f
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return fmt.Errorf("bundle: downloading source bundle %s: %w", ref, err)
	}
	readers := make([]io.Reader, len(files))
	for i, f := range files {
		readers[i] = &ctxReader{ctx: ctx, r: f}
	}
	if err := ExtractLayers(readers, dest, DefaultLimits); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("bundle: unpacking source bundle %s: %w", ref, context.Cause(ctx))
		}
		return fmt.Errorf("%w (source bundle %s)", err, ref)
	}
	return nil
}

// fetchParallel is how many layers a fetch downloads at once: enough to hide the round trips of a
// bundle of many small layers, few enough to be polite to the registry.
const fetchParallel = 4

// download copies the layer's compressed bytes into a new file in scratch, and returns it
// rewound, once go-containerregistry has checked them against the layer's digest and size.
func download(ctx context.Context, layer v1.Layer, scratch string) (*os.File, error) {
	rc, err := layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	f, err := os.CreateTemp(scratch, "bundle-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("creating a file for the download: %w", err)
	}
	fail := func(err error) (*os.File, error) {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	// The verifying reader reports a digest or size mismatch when it reaches the end.
	if _, err := io.Copy(f, &ctxReader{ctx: ctx, r: rc}); err != nil {
		return fail(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return f, nil
}

// ctxReader stops reading once ctx is done, so that a long copy or unpacking obeys a deadline.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, context.Cause(r.ctx)
	}
	return r.r.Read(p)
}
