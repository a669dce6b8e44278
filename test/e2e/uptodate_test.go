//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// A base image tag moved in the registry between two runs: the unchanged project builds again,
// because the operator resolves base images itself on every run. In between, the unchanged re-run
// starts no pod.
func TestE2E_BaseImageRetaggedRebuilds(t *testing.T) {
	ns := namespace(t)
	base := registry + "/retag-" + runID + "/base:1"
	pushBase(t, base, "one")
	dir := project(t, baseFrom+"COPY hello.txt /hello.txt\n")
	env := append(registryEnv("retag-"+runID), "FLOW_BASE_IMAGE="+base)

	run := func(tag string) buildv1.ImageBuild {
		t.Helper()
		if r := flow(t, dir, env, "build", "--push", "--tag", tag, "--namespace", ns, "prod"); r.code != 0 {
			t.Fatalf("flow build --tag %s exited %d", tag, r.code)
		}
		for _, ib := range builds(t, ns) {
			if ib.Spec.Tags[0] == tag {
				return ib
			}
		}
		t.Fatalf("no ImageBuild for tag %s", tag)
		return buildv1.ImageBuild{}
	}
	first := run("t1")
	again := run("t2")
	if c := readyCondition(&again); c.Reason != buildv1.ReasonUpToDate || again.Status.Output.Digest != first.Status.Output.Digest {
		t.Fatalf("the unchanged re-run: reason %s digest %s; want UpToDate with %s", c.Reason, again.Status.Output.Digest, first.Status.Output.Digest)
	}
	if n := len(buildPods(t, ns)); n != 1 {
		t.Fatalf("%d build pods after the unchanged re-run, want 1", n)
	}

	pushBase(t, base, "two")
	moved := run("t3")
	if c := readyCondition(&moved); c.Reason != buildv1.ReasonSucceeded || moved.Status.PodName == "" {
		t.Fatalf("after the base image moved: reason %s (%s), pod %q; want a build", c.Reason, c.Message, moved.Status.PodName)
	}
	if moved.Status.InputKey == first.Status.InputKey || moved.Status.Output.Digest == first.Status.Output.Digest {
		t.Errorf("input key %s and digest %s unchanged after the base image moved", moved.Status.InputKey, moved.Status.Output.Digest)
	}
	if n := len(buildPods(t, ns)); n != 2 {
		t.Errorf("%d build pods, want 2", n)
	}
}

// pushBase pushes, under ref, the e2e base image (FLOW_BASE_IMAGE) with a label that tells its
// versions apart.
func pushBase(t *testing.T, ref, version string) {
	t.Helper()
	opts := []remote.Option{remote.WithAuth(regAuth), remote.WithTransport(regTLS), remote.WithContext(t.Context())}
	src, err := name.ParseReference(os.Getenv("FLOW_BASE_IMAGE"))
	if err != nil {
		t.Fatalf("FLOW_BASE_IMAGE: %v", err)
	}
	img, err := remote.Image(src, opts...)
	if err != nil {
		t.Fatalf("reading the base image %s: %v", src, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config.DeepCopy()
	c.Labels = map[string]string{"e2e.version": version}
	labelled, err := mutate.Config(img, *c)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, labelled, opts...); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	t.Logf("base image %s is now %s", ref, fmt.Sprint(mustDigest(t, labelled)))
}

func mustDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
