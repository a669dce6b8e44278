package fetchsource

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetflow/flow-build/internal/baseimage"
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
