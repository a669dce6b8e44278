package controllers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/bundle"
	"github.com/fleetflow/flow-build/internal/inputkey"
	"github.com/fleetflow/flow-build/internal/testing/poll"
	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

// flow build creates a build while it uploads its bundle. A bundle the registry does not have yet
// is new, so the build starts its pod at once, without waiting for the upload; its input key is
// computed once the pod has fetched the bundle, and its record makes the next build from the same
// inputs up to date.
func TestIntegration_UpToDateBundleUploadedWhileBuilding(t *testing.T) {
	t.Parallel()
	u := newUpToDate(t, nil)
	dir := t.TempDir()
	dockerfile := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(dockerfile, []byte("FROM "+u.base+"\nCOPY late.txt /late.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "late.txt"), []byte("uploaded late\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, _, err := bundle.Build(bundle.PackOptions{ContextDir: dir, Dockerfile: dockerfile})
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	source := u.reg.Repo("team/app/source")
	late := source + "@" + d.String()

	u.create(u.spec("first", "v1", func(ib *buildv1.ImageBuild) { ib.Spec.Source.Bundle.Image = late }))
	ib := u.waitPhase("first", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if ib.Status.InputKey != "" {
		t.Fatalf("status.inputKey = %q before the bundle was uploaded", ib.Status.InputKey)
	}
	pod := u.waitPod(ib.Status.PodName)

	// The upload finishes; the pod's fetcher gets the bundle; Kaniko runs.
	u.reg.PushByDigest(t, source, img)
	kubelet{t}.running(pod)
	var key string
	poll.Eventually(t, 30*time.Second, "the input key once the bundle was fetched", func() (bool, string) {
		key = u.get("first").Status.InputKey
		return strings.HasPrefix(key, "sha256:"), "inputKey " + key
	})
	built, err := mutate.Config(registrytest.PlatformImage(t, "linux/amd64"), mutateLabels("late"))
	if err != nil {
		t.Fatal(err)
	}
	digest := u.reg.PushByDigest(t, u.repo, built).String()
	kubelet{t}.kanikoExited(pod, 0, digest, "Completed")
	u.waitPhase("first", buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)
	record := ref(t, u.repo+"/cache:"+inputkey.Tag(key))
	if _, err := remote.Get(record, u.reg.Options()...); err != nil {
		t.Fatalf("no build record %s: %v", record, err)
	}

	u.create(u.spec("second", "v2", func(ib *buildv1.ImageBuild) { ib.Spec.Source.Bundle.Image = late }))
	second := u.waitPhase("second", buildv1.PhaseSucceeded, buildv1.ReasonUpToDate)
	if second.Status.Output == nil || second.Status.Output.Digest != digest || second.Status.InputKey != key {
		t.Errorf("status %+v, want the image %s reused under key %s", second.Status, digest, key)
	}
}
