// Package baseimage checks, before a build, that the images a Dockerfile starts from are
// published for the platform the build is for.
//
// Kaniko does not: given --custom-platform=linux/arm64 and a base image that exists for
// linux/amd64 only, it builds on the amd64 files and labels the result arm64, without a word.
// An image index that lacks the platform fails inside Kaniko too, but only after the pod started.
// The check here fails both early, with the platforms the base image does have.
package baseimage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/fleetflow/flow-build/internal/platform"
)

// MismatchError says that a base image is not published for the platform being built.
type MismatchError struct {
	// Image is the base image as the Dockerfile names it (build args substituted).
	Image string
	// Platform is the platform being built.
	Platform platform.Platform
	// Has are the platforms the image is published for.
	Has []string
	// Single is true when the image is one image, not an index of several.
	Single bool
}

func (e *MismatchError) Error() string {
	p := e.Platform.String()
	if e.Single {
		return fmt.Sprintf("base image %s is a %s image only, so it cannot be built for %s (Kaniko would put %s files into an image labelled %s): "+
			"use a multi-platform base image that includes %s, or leave %s out of the platforms",
			e.Image, strings.Join(e.Has, ", "), p, strings.Join(e.Has, ", "), p, p, p)
	}
	has := strings.Join(e.Has, ", ")
	if has == "" {
		has = "no platform at all"
	}
	return fmt.Sprintf("base image %s has no %s image (it is published for %s): use a base image published for %s, or leave %s out of the platforms",
		e.Image, p, has, p, p)
}

// Check looks up every image for platform p. It returns the first *MismatchError found, and
// the images it could not look up with the reason for each (a missing image, a registry that
// refuses or cannot be reached): those are left for the build itself to report, which it does
// with a precise reason.
func Check(ctx context.Context, images []string, p platform.Platform, opts ...remote.Option) (unchecked []string, err error) {
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	for _, image := range images {
		mismatch, lookupErr := check(image, p, opts)
		switch {
		case mismatch != nil:
			return unchecked, mismatch
		case lookupErr != nil:
			if ctx.Err() != nil {
				return unchecked, ctx.Err()
			}
			unchecked = append(unchecked, fmt.Sprintf("%s: %v", image, lookupErr))
		}
	}
	return unchecked, nil
}

func check(image string, p platform.Platform, opts []remote.Option) (*MismatchError, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		manifest, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		var has []string
		for _, m := range manifest.Manifests {
			q, ok := platform.OfDescriptor(m.Platform)
			if !ok || q.OS == "unknown" {
				continue // attestations and other entries that are no image of a platform
			}
			if q.Matches(p) {
				return nil, nil
			}
			has = append(has, q.String())
		}
		return &MismatchError{Image: image, Platform: p, Has: has}, nil
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	q := platform.OfConfig(cfg)
	if q.OS == "" || q.Arch == "" {
		return nil, errors.New("the image config names no platform")
	}
	if q.Matches(p) {
		return nil, nil
	}
	return &MismatchError{Image: image, Platform: p, Has: []string{q.String()}, Single: true}, nil
}
