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
}

// buildImage stacks layers into a linux image for the host's architecture (the node that
// runs these images is this machine) with a fixed creation time, so equal inputs give equal
// digests.
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
// digest as the registry knows it.
func pushArchive(ctx context.Context, tarPath, ref string, auth authn.Authenticator, rt http.RoundTripper) (v1.Hash, error) {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("invalid --ref %q: %w (write it as host[:port]/repository:tag)", ref, err)
	}
	img, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading %s: %w (it must be a docker-archive with one image, as this tool writes)", tarPath, err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt)}
	if auth != nil {
		opts = append(opts, remote.WithAuth(auth))
	} else {
		opts = append(opts, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	if err := remote.Write(r, img, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing to %s: %w", r, err)
	}
	return img.Digest()
}
