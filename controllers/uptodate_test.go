package controllers

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/buildpod"
	"github.com/fleetflow/flow-build/internal/buildrecord"
	"github.com/fleetflow/flow-build/internal/bundle"
	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

// A decision is remembered for its generation: the reconcile that follows a refused status patch
// concludes the same without asking the registry (here, the image is gone by then), and a new
// generation asks again.
func TestReuseUnchangedRemembersItsDecision(t *testing.T) {
	reg := registrytest.New(t, "", "")
	ctx := context.Background()
	base := reg.Repo("base/alpine") + ":3"
	reg.PushImage(t, base, registrytest.PlatformImage(t, "linux/amd64"))
	dir := t.TempDir()
	dockerfile := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(dockerfile, []byte("FROM "+base+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, _, err := bundle.Build(bundle.PackOptions{ContextDir: dir, Dockerfile: dockerfile})
	if err != nil {
		t.Fatal(err)
	}
	repo := reg.Repo("team/app")
	bundleRef, _, err := bundle.Push(ctx, repo, img, reg.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	r := &ImageBuildReconciler{Clock: clock.RealClock{}, RegistryTransport: reg.Transport(), PodOptions: buildpod.Options{}}
	build := func(generation int64) *buildv1.ImageBuild {
		return &buildv1.ImageBuild{
			ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: testNS, UID: "uid-1", Generation: generation},
			Spec: buildv1.ImageBuildSpec{Image: repo, Tags: []string{"v1"}, Push: true,
				Source: buildv1.BuildSource{Bundle: &buildv1.BundleSource{Image: bundleRef}}},
		}
	}
	opts, err := r.registryOptions(ctx, build(1))
	if err != nil {
		t.Fatal(err)
	}
	key, err := r.inputKey(ctx, build(1), opts)
	if err != nil {
		t.Fatal(err)
	}
	digest := reg.PushByDigest(t, repo, registrytest.PlatformImage(t, "linux/amd64")).String()
	if err := buildrecord.Write(ctx, repo+"/cache", repo, key, digest, reg.Options()...); err != nil {
		t.Fatal(err)
	}

	first := build(1)
	if _, done, err := r.reuseUnchanged(ctx, first); err != nil || !done || readyReason(first) != buildv1.ReasonUpToDate {
		t.Fatalf("first decision: done %v, %v, reason %q", done, err, readyReason(first))
	}
	ref, _ := name.ParseReference(repo + "@" + digest)
	if err := remote.Delete(ref, reg.Options()...); err != nil {
		t.Fatal(err)
	}
	again := build(1)
	if _, done, err := r.reuseUnchanged(ctx, again); err != nil || !done || again.Status.Output.Digest != digest || again.Status.InputKey != key {
		t.Fatalf("the same generation again: done %v, %v, status %+v", done, err, again.Status)
	}
	next := build(2)
	if _, done, err := r.reuseUnchanged(ctx, next); err != nil || done || next.Status.InputKey != key {
		t.Fatalf("a new generation with the image gone: done %v, %v, key %q; want a build with key %s", done, err, next.Status.InputKey, key)
	}
}
