package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// defaultPath is the PATH of images that do not set one, the same as Docker's default.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// imageConfig is the part of an OCI image config this tool lets callers set.
type imageConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []string // KEY=VALUE; PATH defaults to defaultPath
	WorkingDir string
	User       string
	// Platform is the image's platform; nil means linux on the host's architecture (the node
	// that runs these images is this machine).
	Platform *v1.Platform
}

// buildImage stacks layers into a linux image for c.Platform (default: the host's architecture)
// with a fixed creation time, so equal inputs give equal digests.
func buildImage(layers []v1.Layer, c imageConfig) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if c.Platform != nil {
		cf.OS, cf.Architecture, cf.Variant = c.Platform.OS, c.Platform.Architecture, c.Platform.Variant
	}
	cf.Created = v1.Time{Time: epoch}
	for i := range cf.History {
		cf.History[i].Created = v1.Time{Time: epoch}
		cf.History[i].CreatedBy = "mkimage"
	}
	env := append([]string(nil), c.Env...)
	hasPath := false
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("environment entry %q is not KEY=VALUE", kv)
		}
		hasPath = hasPath || k == "PATH"
	}
	if !hasPath {
		env = append([]string{defaultPath}, env...)
	}
	cf.Config = v1.Config{
		Entrypoint: c.Entrypoint,
		Cmd:        c.Cmd,
		Env:        env,
		WorkingDir: c.WorkingDir,
		User:       c.User,
	}
	return mutate.ConfigFile(img, cf)
}

// writeArchive writes img as a docker-archive tarball (what `docker save` produces and
// `ctr images import` reads) under the given tag. It writes to a temporary name first so a
// failed run never leaves a truncated archive that a later run would take for a good one.
func writeArchive(out, tag string, img v1.Image) error {
	t, err := name.NewTag(tag, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("invalid --tag %q: %w (write it as registry/repository:tag, e.g. localhost/busybox:1.35)", tag, err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, t, img); err != nil {
		// Best effort: the write error is what the user needs, and a leftover .tmp is
		// overwritten by the next run.
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return os.Rename(tmp, out)
}

// registryTransport trusts the system roots plus the PEM certificates in caFile (if set).
func registryTransport(caFile string) (http.RoundTripper, error) {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	if caFile == "" {
		return t, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading --ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca %s holds no PEM certificate", caFile)
	}
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}

// pushArchive pushes the single image of a docker-archive tarball to ref and returns its
// digest as the registry knows it. With several tarballs, ref gets an OCI image index of their
// images, each entry with the platform its image config names (the images themselves are pushed
// by digest).
func pushArchive(ctx context.Context, tarPaths []string, ref string, auth authn.Authenticator, rt http.RoundTripper) (v1.Hash, error) {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("invalid --ref %q: %w (write it as host[:port]/repository:tag)", ref, err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt)}
	if auth != nil {
		opts = append(opts, remote.WithAuth(auth))
	} else {
		opts = append(opts, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	var adds []mutate.IndexAddendum
	for _, p := range tarPaths {
		img, err := tarball.ImageFromPath(p, nil)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("reading %s: %w (it must be a docker-archive with one image, as this tool writes)", p, err)
		}
		if len(tarPaths) == 1 {
			if err := remote.Write(r, img, opts...); err != nil {
				return v1.Hash{}, fmt.Errorf("pushing to %s: %w", r, err)
			}
			return img.Digest()
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return v1.Hash{}, fmt.Errorf("reading the config of %s: %w", p, err)
		}
		plat := &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		for _, a := range adds {
			if a.Platform.Equals(*plat) {
				return v1.Hash{}, fmt.Errorf("%s is a second image for %s/%s: an index holds one image per platform", p, plat.OS, plat.Architecture)
			}
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	if err := remote.WriteIndex(r, idx, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing to %s: %w", r, err)
	}
	return idx.Digest()
}
