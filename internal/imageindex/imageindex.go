// Package imageindex assembles the OCI image index of a multi-platform build from the images its
// platforms pushed by digest, after checking that each image really is for the platform it was
// built for, and pushes the index under every tag.
//
// The check matters because the builder cannot be trusted on it: Kaniko stamps the platform it
// was asked for into the image config whatever it built, and schedulers have been known to run a
// platform's build on the wrong node. An index whose entry says arm64 must hold an arm64 image,
// or nodes would pull and run the wrong one.
package imageindex

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/fleetflow/flow-build/internal/platform"
)

// Child is one platform's image: the platform it was built for and the digest it was pushed as.
type Child struct {
	Platform platform.Platform
	Digest   string
}

// MismatchError says that the image built for a platform is not an image of that platform.
type MismatchError struct {
	Platform platform.Platform
	Digest   string
	// Config is what the image's config says ("linux/amd64"), or why it is no image of any
	// platform (an index where an image was expected).
	Config string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("the image built for %s (%s) is %s, not %s: the index was not pushed and no tag moved",
		e.Platform, e.Digest, e.Config, e.Platform)
}

// Assemble reads each child from repository by digest, checks its config against its platform,
// and returns the index listing them in order, each entry with its platform. Nothing is pushed.
// A child that is not for its platform gives a *MismatchError.
func Assemble(ctx context.Context, repository string, children []Child, opts ...remote.Option) (v1.ImageIndex, error) {
	repo, err := name.NewRepository(repository)
	if err != nil {
		return nil, fmt.Errorf("repository %q: %w", repository, err)
	}
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	adds := make([]mutate.IndexAddendum, 0, len(children))
	for _, c := range children {
		desc, err := remote.Get(repo.Digest(c.Digest), opts...)
		if err != nil {
			return nil, fmt.Errorf("reading the image built for %s (%s@%s): %w", c.Platform, repository, c.Digest, err)
		}
		if !desc.MediaType.IsImage() {
			return nil, &MismatchError{Platform: c.Platform, Digest: c.Digest, Config: fmt.Sprintf("a %s, not an image", desc.MediaType)}
		}
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("reading the image built for %s (%s@%s): %w", c.Platform, repository, c.Digest, err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading the config of the image built for %s (%s@%s): %w", c.Platform, repository, c.Digest, err)
		}
		if got := platform.OfConfig(cfg); !got.Matches(c.Platform) {
			return nil, &MismatchError{Platform: c.Platform, Digest: c.Digest, Config: "an image for " + got.String()}
		}
		entry := v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest, Platform: c.Platform.Index()}
		adds = append(adds, mutate.IndexAddendum{Add: described{Image: img, desc: entry}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...), nil
}

// described is an image whose index entry is exactly desc. go-containerregistry would otherwise
// derive the entry from the remote descriptor and add an artifactType (the config media type) to
// it, which belongs to artifacts, not to the images of an image index.
type described struct {
	v1.Image
	desc v1.Descriptor
}

func (d described) Descriptor() (*v1.Descriptor, error) { return &d.desc, nil }

// Push pushes idx to repository under every tag, the first tag first. The children must already
// be in the repository (they were pushed by digest); only the index itself is uploaded.
func Push(ctx context.Context, repository string, tags []string, idx v1.ImageIndex, opts ...remote.Option) error {
	repo, err := name.NewRepository(repository)
	if err != nil {
		return fmt.Errorf("repository %q: %w", repository, err)
	}
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	for _, tag := range tags {
		if err := remote.WriteIndex(repo.Tag(tag), idx, opts...); err != nil {
			return fmt.Errorf("pushing the image index to %s:%s: %w", repository, tag, err)
		}
	}
	return nil
}
