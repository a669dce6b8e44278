package pushimage

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

func TestPushByDigestLeavesNoTag(t *testing.T) {
	reg := registrytest.New(t, "u", "p")
	dir := t.TempDir()
	// What Kaniko's --oci-layout-path writes: a layout holding the one image it built.
	path, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	img := registrytest.PlatformImage(t, "linux/arm64")
	if err := path.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	repo := reg.Repo("team/app")
	got, err := Push(context.Background(), dir, repo, reg.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if got != want {
		t.Fatalf("pushed %s, want %s", got, want)
	}
	ref, _ := name.ParseReference(repo + "@" + want.String())
	if _, err := remote.Get(ref, reg.Options()...); err != nil {
		t.Fatalf("the registry does not serve %s: %v", ref, err)
	}
	r, _ := name.NewRepository(repo)
	tags, err := remote.List(r, reg.Options()...)
	// distribution answers NAME_UNKNOWN for a repository that holds no tag at all.
	if len(tags) != 0 || err != nil && !strings.Contains(err.Error(), "NAME_UNKNOWN") {
		t.Errorf("tags %v (err %v): pushing by digest must leave no tag", tags, err)
	}
}

func TestPushRefusesALayoutOfSeveralImages(t *testing.T) {
	dir := t.TempDir()
	path, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if err := path.AppendImage(registrytest.PlatformImage(t, p)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Push(context.Background(), dir, "127.0.0.1:1/app"); err == nil || !strings.Contains(err.Error(), "holds 2 images") {
		t.Errorf("error = %v", err)
	}
}
