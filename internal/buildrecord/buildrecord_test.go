package buildrecord

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetflow/flow-build/internal/bundle"
	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

func pushBundle(t *testing.T, reg *registrytest.Registry, files map[string]string, dockerfile string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img, _, err := bundle.Build(bundle.PackOptions{ContextDir: dir, Dockerfile: filepath.Join(dir, filepath.FromSlash(dockerfile))})
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := bundle.Push(context.Background(), reg.Repo("team/app/source"), img, reg.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestDockerfile(t *testing.T) {
	reg := registrytest.New(t, "ci", "pw")
	ref := pushBundle(t, reg, map[string]string{
		"Dockerfile": "FROM alpine\n", "docker/Dockerfile.prod": "FROM debian\n", "a/b/c.txt": "x",
	}, "Dockerfile")
	for path, want := range map[string]string{"Dockerfile": "FROM alpine\n", "docker/Dockerfile.prod": "FROM debian\n", "./docker//Dockerfile.prod": "FROM debian\n"} {
		got, err := Dockerfile(context.Background(), ref, path, reg.Options()...)
		if err != nil || string(got) != want {
			t.Errorf("%s: got %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := Dockerfile(context.Background(), ref, "Missing", reg.Options()...); !errors.Is(err, ErrNoDockerfile) {
		t.Errorf("a missing Dockerfile: %v, want ErrNoDockerfile", err)
	}
	if _, err := Dockerfile(context.Background(), ref, "docker", reg.Options()...); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a folder as the Dockerfile: %v", err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	reg := registrytest.New(t, "ci", "pw")
	ctx := context.Background()
	repo, cache := reg.Repo("team/app"), reg.Repo("team/app/cache")
	digest := reg.PushByDigest(t, repo, registrytest.PlatformImage(t, "linux/amd64")).String()
	key := "sha256:" + strings.Repeat("1", 64)
	if desc, err := Lookup(ctx, cache, repo, key, reg.Options()...); err != nil || desc != nil {
		t.Fatalf("before any record: %v, %v; want nothing", desc, err)
	}
	if err := Write(ctx, cache, repo, key, digest, reg.Options()...); err != nil {
		t.Fatal(err)
	}
	desc, err := Lookup(ctx, cache, repo, key, reg.Options()...)
	if err != nil || desc == nil || desc.Digest.String() != digest {
		t.Fatalf("got %v, %v; want %s", desc, err, digest)
	}
	// The same key for another repository sharing the cache repository names nothing to reuse.
	if desc, err := Lookup(ctx, cache, reg.Repo("team/other"), key, reg.Options()...); err != nil || desc != nil {
		t.Fatalf("another repository: %v, %v; want nothing", desc, err)
	}
	if err := Tag(ctx, repo, []string{"v1", "latest"}, desc, reg.Options()...); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"v1", "latest"} {
		if got, err := Resolve(ctx, repo+":"+tag, reg.Options()...); err != nil || got != digest {
			t.Errorf("%s: %s, %v; want %s", tag, got, err, digest)
		}
	}
	// A wrong password is an error, never a miss that looks like "build".
	bad := registrytest.New(t, "ci", "another-password")
	if _, err := Lookup(ctx, bad.Repo("team/app/cache"), bad.Repo("team/app"), key, append(bad.Options()[:1:1], reg.Options()[1])...); err == nil {
		t.Error("a refused lookup gave no error")
	}
}
