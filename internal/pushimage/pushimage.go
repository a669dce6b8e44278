// Package pushimage is the push container of a multi-platform build's pods: it pushes the image
// Kaniko left in an OCI layout to its repository by digest, so that no tag names one platform's
// image on its own (Kaniko itself can only push to tags). The manager binary runs it when its
// first argument is `push-image`.
package pushimage

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"

	"github.com/fleetflow/flow-build/internal/version"
)

// Main runs push-image with its command-line arguments and returns the process exit code. The
// digest pushed, or the failure, is the container's termination message, where the controller
// reads it.
func Main(args []string) int {
	fs := flag.NewFlagSet("push-image", flag.ContinueOnError)
	dir := fs.String("layout", "/output", "OCI layout holding the one image to push (Kaniko's --oci-layout-path)")
	repository := fs.String("repository", "", "repository to push to, without tag")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	start := time.Now()
	// DOCKER_CONFIG points at the build's push Secret, the one Kaniko used for the cache.
	digest, err := Push(ctx, *dir, *repository, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		msg := err.Error()
		fmt.Fprintln(os.Stderr, msg)
		_ = os.WriteFile(corev1.TerminationMessagePathDefault, []byte(msg), 0o644)
		return 1
	}
	fmt.Printf("pushed %s@%s in %s\n", *repository, digest, time.Since(start).Round(time.Millisecond))
	if err := os.WriteFile(corev1.TerminationMessagePathDefault, []byte(digest.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "writing the digest to the termination log:", err)
		return 1
	}
	return 0
}

// Push pushes the single image of the OCI layout at dir to repository@<its digest> and returns
// the digest. Blobs the registry already has (the base image's layers, the cache's) are not sent
// again.
func Push(ctx context.Context, dir, repository string, opts ...remote.Option) (v1.Hash, error) {
	repo, err := name.NewRepository(repository)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("repository %q: %w", repository, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading the image Kaniko built from %s: %w", dir, err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading the image Kaniko built from %s: %w", dir, err)
	}
	if len(manifest.Manifests) != 1 {
		return v1.Hash{}, fmt.Errorf("the layout in %s holds %d images, want exactly the one Kaniko built", dir, len(manifest.Manifests))
	}
	d := manifest.Manifests[0].Digest
	img, err := idx.Image(d)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading image %s from %s: %w", d, dir, err)
	}
	opts = append([]remote.Option{remote.WithContext(ctx), remote.WithUserAgent("flow-build/" + version.Version)}, opts...)
	if err := remote.Write(repo.Digest(d.String()), img, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("error pushing image %s@%s: %w", repository, d, err)
	}
	return d, nil
}
