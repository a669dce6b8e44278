package fetchsource

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/fleetflow/flow-build/internal/baseimage"
	"github.com/fleetflow/flow-build/internal/bundle"
	"github.com/fleetflow/flow-build/internal/platform"
	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

// A build pod started with flags this version does not know must fail at once, with the usage
// exit code, rather than pull anything.
func TestUnknownFlag(t *testing.T) {
	if code := Main([]string{"--no-such-flag"}); code != 2 {
		t.Errorf("Main(--no-such-flag) = %d, want 2", code)
	}
}

func TestCheckPlatform(t *testing.T) {
	reg := registrytest.New(t, "u", "p")
	amd64Only := reg.Repo("base/amd64-only:1")
	reg.PushImage(t, amd64Only, registrytest.PlatformImage(t, "linux/amd64"))
	multi := reg.Repo("base/multi:1")
	reg.PushIndex(t, multi, registrytest.Index(t, "linux/amd64", "linux/arm64"))
	dir := t.TempDir()
	dockerfile := filepath.Join(dir, "Dockerfile")
	// The base comes through a build arg, as in the example projects; the build stage's image is
	// the single-platform one.
	content := "ARG BASE\nFROM ${BASE} AS build\nRUN true\nFROM " + multi + "\nCOPY --from=build /x /x\n"
	if err := os.WriteFile(dockerfile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	arm64, _ := platform.Parse("linux/arm64")
	amd64, _ := platform.Parse("linux/amd64")
	var out bytes.Buffer
	err := checkPlatform(context.Background(), &out, dockerfile, "", map[string]string{"BASE": amd64Only}, arm64, reg.Options()...)
	var m *baseimage.MismatchError
	if !errors.As(err, &m) || m.Image != amd64Only {
		t.Fatalf("err = %v, want the mismatch of %s", err, amd64Only)
	}
	if err := checkPlatform(context.Background(), &out, dockerfile, "", map[string]string{"BASE": amd64Only}, amd64, reg.Options()...); err != nil {
		t.Errorf("amd64: %v", err)
	}
	// A Dockerfile Kaniko will refuse anyway is not this check's to report.
	if err := os.WriteFile(dockerfile, []byte("FROM\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := checkPlatform(context.Background(), &out, dockerfile, "", nil, arm64, reg.Options()...); err != nil || !strings.Contains(out.String(), "not checked") {
		t.Errorf("broken Dockerfile: err %v, output %q", err, out.String())
	}
}

// flow build creates the build while it uploads the bundle: the fetcher may ask for it before the
// upload has finished, and must wait for it rather than fail; but a bundle that never comes
// fails the fetch once the wait is over, saying why.
func TestWhenUploaded(t *testing.T) {
	reg := registrytest.New(t, "u", "p")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY a /a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, _, err := bundle.Build(bundle.PackOptions{ContextDir: dir, Dockerfile: filepath.Join(dir, "Dockerfile")})
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	repo := reg.Repo("app")
	ref := repo + "@" + d.String()
	fetch := func(dest string) func() error {
		return func() error { return bundle.Fetch(t.Context(), ref, dest, t.TempDir(), reg.Options()...) }
	}

	t.Run("uploaded while waiting", func(t *testing.T) {
		pushed := make(chan error, 1)
		go func() {
			time.Sleep(300 * time.Millisecond)
			n, err := name.ParseReference(ref)
			if err == nil {
				err = remote.Write(n, img, reg.Options()...)
			}
			pushed <- err
		}()
		defer func() {
			if err := <-pushed; err != nil {
				t.Errorf("pushing the bundle: %v", err)
			}
		}()
		dest := t.TempDir()
		var out bytes.Buffer
		if err := whenUploaded(t.Context(), &out, ref, 30*time.Second, fetch(dest)); err != nil {
			t.Fatalf("whenUploaded: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dest, "a")); err != nil {
			t.Errorf("the context was not unpacked: %v", err)
		}
		if !strings.Contains(out.String(), "not in the registry yet; waiting") {
			t.Errorf("no word about the wait: %q", out.String())
		}
	})

	t.Run("never uploaded", func(t *testing.T) {
		missing := repo + "@sha256:" + strings.Repeat("ab", 32)
		start := time.Now()
		err := whenUploaded(t.Context(), io.Discard, missing, 500*time.Millisecond, func() error {
			return bundle.Fetch(t.Context(), missing, t.TempDir(), t.TempDir(), reg.Options()...)
		})
		if err == nil || !strings.Contains(err.Error(), "is not in the registry") || !strings.Contains(err.Error(), "Run flow build again") {
			t.Errorf("err = %v, want the bundle named as missing after the wait", err)
		}
		if took := time.Since(start); took < 300*time.Millisecond {
			t.Errorf("gave up after %s, before the wait was over", took)
		}
	})

	t.Run("refused: the registry's own error once the short wait is over", func(t *testing.T) {
		wrong := []remote.Option{remote.WithTransport(reg.Transport()), remote.WithAuth(&authn.Basic{Username: "u", Password: "wrong"})}
		calls := 0
		err := whenUploaded(t.Context(), io.Discard, ref, 300*time.Millisecond, func() error {
			calls++
			return bundle.Fetch(t.Context(), ref, t.TempDir(), t.TempDir(), wrong...)
		})
		if err == nil || strings.Contains(err.Error(), "Run flow build again") || !strings.Contains(err.Error(), "UNAUTHORIZED") {
			t.Errorf("err = %v, want the registry's refusal as it is", err)
		}
		if calls < 2 {
			t.Errorf("%d tries, want it asked again during the wait", calls)
		}
	})

	t.Run("other errors are not waited for", func(t *testing.T) {
		calls := 0
		boom := errors.New("boom")
		if err := whenUploaded(t.Context(), io.Discard, ref, time.Minute, func() error { calls++; return boom }); !errors.Is(err, boom) || calls != 1 {
			t.Errorf("err = %v after %d calls, want boom after 1", err, calls)
		}
	})
}
