package registrytest

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PlatformImage is a small random image whose config says it is for plat, "os/arch[/variant]".
func PlatformImage(t testing.TB, plat string) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	parts := strings.Split(plat, "/")
	cfg.OS, cfg.Architecture = parts[0], parts[1]
	if len(parts) > 2 {
		cfg.Variant = parts[2]
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Index is an image index of the given platform images, each entry with its platform.
func Index(t testing.TB, plats ...string) v1.ImageIndex {
	t.Helper()
	idx := v1.ImageIndex(empty.Index)
	for _, p := range plats {
		parts := strings.Split(p, "/")
		vp := &v1.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) > 2 {
			vp.Variant = parts[2]
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: PlatformImage(t, p), Descriptor: v1.Descriptor{Platform: vp}})
	}
	return idx
}

// Options are the remote options that reach this registry with its credentials.
func (r *Registry) Options() []remote.Option {
	return []remote.Option{remote.WithTransport(r.Transport()), remote.WithAuth(r.Auth())}
}

// PushImage pushes img to ref (repo:tag or repo@digest) and returns its digest.
func (r *Registry) PushImage(t testing.TB, ref string, img v1.Image) v1.Hash {
	t.Helper()
	n, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(n, img, r.Options()...); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// PushIndex pushes idx (and its images) to ref and returns its digest.
func (r *Registry) PushIndex(t testing.TB, ref string, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	n, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(n, idx, r.Options()...); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// PushByDigest pushes img to repo by digest only, as a platform's build pod does, and returns
// the digest.
func (r *Registry) PushByDigest(t testing.TB, repo string, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return r.PushImage(t, repo+"@"+d.String(), img)
}
