package imageindex

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/fleetflow/flow-build/internal/platform"
	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

func parse(t *testing.T, s string) platform.Platform {
	t.Helper()
	p, err := platform.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAssembleAndPushUnderEveryTag(t *testing.T) {
	reg := registrytest.New(t, "u", "p")
	repo := reg.Repo("team/app")
	amd := reg.PushImage(t, repo+":scratch-amd64", registrytest.PlatformImage(t, "linux/amd64"))
	arm := reg.PushImage(t, repo+":scratch-arm64", registrytest.PlatformImage(t, "linux/arm64"))
	ctx := context.Background()
	idx, err := Assemble(ctx, repo, []Child{{parse(t, "linux/amd64"), amd.String()}, {parse(t, "linux/arm64"), arm.String()}}, reg.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := Push(ctx, repo, []string{"v1.2.0", "latest"}, idx, reg.Options()...); err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	for _, tag := range []string{"v1.2.0", "latest"} {
		ref, err := name.ParseReference(repo + ":" + tag)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(ref, reg.Options()...)
		if err != nil {
			t.Fatal(err)
		}
		if desc.Digest != want || desc.MediaType != types.OCIImageIndex {
			t.Errorf("%s: %s %s, want the OCI index %s", tag, desc.MediaType, desc.Digest, want)
		}
		// The entries are exactly the images, each with its platform, and nothing else: no
		// artifactType, which belongs to artifacts.
		var raw struct {
			Manifests []map[string]any `json:"manifests"`
		}
		if err := json.Unmarshal(desc.Manifest, &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw.Manifests) != 2 {
			t.Fatalf("%d entries, want 2", len(raw.Manifests))
		}
		for i, m := range raw.Manifests {
			if _, ok := m["artifactType"]; ok {
				t.Errorf("entry %d has an artifactType: %v", i, m)
			}
		}
		plat := raw.Manifests[1]["platform"].(map[string]any)
		if raw.Manifests[1]["digest"] != arm.String() || plat["architecture"] != "arm64" || plat["variant"] != "v8" || plat["os"] != "linux" {
			t.Errorf("arm64 entry = %v", raw.Manifests[1])
		}
	}
}

func TestAssembleRefusesAMismatch(t *testing.T) {
	reg := registrytest.New(t, "u", "p")
	repo := reg.Repo("team/app")
	amd := reg.PushImage(t, repo+":a", registrytest.PlatformImage(t, "linux/amd64"))
	// Built "for arm64" but its config says amd64: what Kaniko gives when a node or a base image
	// was of the wrong architecture.
	_, err := Assemble(context.Background(), repo, []Child{{parse(t, "linux/amd64"), amd.String()}, {parse(t, "linux/arm64"), amd.String()}}, reg.Options()...)
	var m *MismatchError
	if !errors.As(err, &m) || m.Platform.String() != "linux/arm64" || !strings.Contains(err.Error(), "is an image for linux/amd64, not linux/arm64") {
		t.Fatalf("error = %v, want a mismatch for linux/arm64", err)
	}
	// An index where an image was expected is no image of a platform either.
	sub := reg.PushIndex(t, repo+":idx", registrytest.Index(t, "linux/arm64"))
	_, err = Assemble(context.Background(), repo, []Child{{parse(t, "linux/arm64"), sub.String()}}, reg.Options()...)
	if !errors.As(err, &m) {
		t.Fatalf("an index as a child: %v, want a mismatch", err)
	}
}

func TestAssembleAcceptsTheVariantSpellings(t *testing.T) {
	reg := registrytest.New(t, "u", "p")
	repo := reg.Repo("team/app")
	arm := reg.PushImage(t, repo+":a", registrytest.PlatformImage(t, "linux/arm64/v8"))
	armv7 := reg.PushImage(t, repo+":b", registrytest.PlatformImage(t, "linux/arm/v7"))
	if _, err := Assemble(context.Background(), repo, []Child{{parse(t, "linux/arm64"), arm.String()}, {parse(t, "linux/arm"), armv7.String()}}, reg.Options()...); err != nil {
		t.Fatal(err)
	}
}
