// Package buildrecord keeps, in the registry, which image was built from which input key (package
// inputkey), so that the operator can reuse an image instead of building it again.
//
// A build record is a small OCI artifact (artifact type RecordArtifactType, an empty config and
// no content) tagged `input-<64 hex digits of the key>` in the build's cache repository (the one
// Kaniko keeps its layer cache in, `<image>/cache` unless spec.cache.repository says otherwise).
// Its annotations name the key, the repository and the digest of the image built from it.
//
// Keeping records in the registry rather than in the cluster means they outlive the ImageBuilds
// that wrote them (TTL, deletion) and serve every cluster and CI runner that pushes to the same
// registry. Keeping them in the cache repository leaves the image repository's tag list to the
// user's own tags; the cost is one small manifest per distinct key there, next to Kaniko's own
// cache entries, and a registry retention policy on the cache repository may prune both: a
// record that is gone only means one more build.
//
// A record is never trusted alone: before reusing, the operator checks that the image it names
// still exists in the image repository, so a deleted image is simply built again.
package buildrecord

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/fleetflow/flow-build/internal/inputkey"
)

const (
	// RecordArtifactType is the artifactType of a build record manifest.
	RecordArtifactType = "application/vnd.fleetflow.build.record.v1"
	// AnnotationInputKey is the input key the record is for.
	AnnotationInputKey = "build.fleetflow.dev/input-key"
	// AnnotationImage is the repository the image was pushed to.
	AnnotationImage = "build.fleetflow.dev/image"
	// AnnotationImageDigest is the digest of the image (or image index) built from the key.
	AnnotationImageDigest = "build.fleetflow.dev/image-digest"

	emptyMediaType types.MediaType = "application/vnd.oci.empty.v1+json"

	// maxDockerfile bounds the Dockerfile read from a bundle; BuildKit refuses larger ones too.
	maxDockerfile = 1 << 20
)

// ErrNoDockerfile says the bundle holds no regular file at the Dockerfile's path.
var ErrNoDockerfile = errors.New("the source bundle has no Dockerfile at that path")

// Dockerfile reads the file at dockerfile (a slash path relative to the build context) from the
// source bundle bundleRef (repository@sha256:...). It reads the bundle's layers in order and stops
// at the file, so that a large context is not downloaded to find a small file.
func Dockerfile(ctx context.Context, bundleRef, dockerfile string, opts ...remote.Option) ([]byte, error) {
	ref, err := name.NewDigest(bundleRef)
	if err != nil {
		return nil, fmt.Errorf("source bundle %q: %w", bundleRef, err)
	}
	img, err := remote.Image(ref, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	want := path.Clean(dockerfile)
	for _, l := range layers {
		data, found, err := fileInLayer(l, want)
		if err != nil || found {
			return data, err
		}
	}
	return nil, ErrNoDockerfile
}

func fileInLayer(l v1.Layer, want string) ([]byte, bool, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, false, err
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		if path.Clean(strings.TrimPrefix(hdr.Name, "./")) != want {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, true, fmt.Errorf("%s in the source bundle is not a regular file", want)
		}
		if hdr.Size > maxDockerfile {
			return nil, true, fmt.Errorf("%s in the source bundle is larger than %d bytes", want, maxDockerfile)
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxDockerfile))
		return data, true, err
	}
}

// Resolve returns the digest the registry serves for image now: the digest of its index for a
// multi-platform image, of its manifest otherwise.
func Resolve(ctx context.Context, image string, opts ...remote.Option) (string, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(ref, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// Lookup finds the record of key in cacheRepo and returns the image it names in image, after
// checking that the image is still there. It returns nil, nil when there is no record or the image
// is gone.
func Lookup(ctx context.Context, cacheRepo, image, key string, opts ...remote.Option) (*remote.Descriptor, error) {
	opts = append(opts, remote.WithContext(ctx))
	tag, err := name.NewTag(cacheRepo + ":" + inputkey.Tag(key))
	if err != nil {
		return nil, err
	}
	rec, err := remote.Get(tag, opts...)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading build record %s: %w", tag, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(rec.Manifest, &m); err != nil {
		return nil, fmt.Errorf("build record %s: %w", tag, err)
	}
	// A record written for another key or another repository (a cache repository shared by
	// several images) names nothing this build may reuse.
	if m.Annotations[AnnotationInputKey] != key || m.Annotations[AnnotationImage] != image {
		return nil, nil
	}
	digest, err := name.NewDigest(image + "@" + m.Annotations[AnnotationImageDigest])
	if err != nil {
		return nil, fmt.Errorf("build record %s names no valid digest: %w", tag, err)
	}
	desc, err := remote.Get(digest, opts...)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checking %s: %w", digest, err)
	}
	return desc, nil
}

// Tag points every tag of image at desc, an image or index already in image's repository.
func Tag(ctx context.Context, image string, tags []string, desc *remote.Descriptor, opts ...remote.Option) error {
	opts = append(opts, remote.WithContext(ctx))
	for _, t := range tags {
		tag, err := name.NewTag(image + ":" + t)
		if err != nil {
			return err
		}
		if err := remote.Tag(tag, desc, opts...); err != nil {
			return fmt.Errorf("tagging %s: %w", tag, err)
		}
	}
	return nil
}

// Write records in cacheRepo that the image digest in image was built from key.
func Write(ctx context.Context, cacheRepo, image, key, digest string, opts ...remote.Option) error {
	opts = append(opts, remote.WithContext(ctx))
	repo, err := name.NewRepository(cacheRepo)
	if err != nil {
		return err
	}
	empty := static.NewLayer([]byte("{}"), emptyMediaType)
	if err := remote.WriteLayer(repo, empty, opts...); err != nil {
		return fmt.Errorf("writing the build record's config to %s: %w", cacheRepo, err)
	}
	emptyDigest, _ := empty.Digest()
	emptyDesc := v1.Descriptor{MediaType: emptyMediaType, Digest: emptyDigest, Size: 2}
	manifest, err := json.Marshal(struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     types.MediaType   `json:"mediaType"`
		ArtifactType  string            `json:"artifactType"`
		Config        v1.Descriptor     `json:"config"`
		Layers        []v1.Descriptor   `json:"layers"`
		Annotations   map[string]string `json:"annotations"`
	}{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  RecordArtifactType,
		Config:        emptyDesc,
		Layers:        []v1.Descriptor{emptyDesc},
		Annotations: map[string]string{
			AnnotationInputKey:    key,
			AnnotationImage:       image,
			AnnotationImageDigest: digest,
		},
	})
	if err != nil {
		return err
	}
	tag := repo.Tag(inputkey.Tag(key))
	if err := remote.Put(tag, rawManifest(manifest), opts...); err != nil {
		return fmt.Errorf("writing build record %s: %w", tag, err)
	}
	return nil
}

type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
