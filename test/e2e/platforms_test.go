//go:build e2e

package e2e

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// The local node is amd64 and emulates arm64 (qemu-user-static through binfmt_misc, node label
// emulation.build.fleetflow.dev/linux-arm64=true, chart value emulation.enabled=true); the base
// image is an index of an amd64 and an arm64 busybox.

func remoteOpts() []remote.Option {
	return []remote.Option{remote.WithAuth(regAuth), remote.WithTransport(regTLS)}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fileIn reads one file of an image's filesystem.
func fileIn(t *testing.T, img v1.Image, path string) string {
	t.Helper()
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("no %s in the image", path)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "/") == path {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

// Two platforms, the arm64 one emulated, a RUN that records `uname -m`, two tags: the registry
// holds one index with exactly linux/amd64 and linux/arm64, each image for its architecture inside
// and out, and both tags name the index whose digest status.output.digest reports.
func TestE2E_TwoPlatformsWithAnEmulatedRun(t *testing.T) {
	ns := namespace(t)
	dir := project(t, baseFrom+"RUN uname -m > /arch\nCOPY hello.txt /hello.txt\n")
	path := "multi-" + runID
	r := flow(t, dir, registryEnv(path), "build", "--push", "--tag", "v1", "--tag", "latest",
		"--platform", "linux/amd64,linux/arm64", "--namespace", ns, "prod")
	if r.code != 0 {
		t.Fatalf("flow build exited %d", r.code)
	}
	list := builds(t, ns)
	if len(list) != 1 {
		t.Fatalf("%d ImageBuilds, want 1", len(list))
	}
	ib := list[0]
	out := ib.Status.Output
	if ib.Status.Phase != buildv1.PhaseSucceeded || out == nil {
		t.Fatalf("phase %s output %+v: %+v", ib.Status.Phase, out, readyCondition(&ib))
	}
	for _, want := range []string{"linux/amd64 ", "linux/arm64 ", "✓ app: " + ib.Spec.Image + ":v1, " + ib.Spec.Image + ":latest (" + out.Digest + " for linux/amd64, linux/arm64)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if ps := ib.Status.Platforms; len(ps) != 2 || ps[0].Emulated || !ps[1].Emulated || ib.Status.PlatformsReady != "2/2" {
		t.Errorf("status.platforms %+v ready %q: amd64 native, arm64 emulated", ps, ib.Status.PlatformsReady)
	}
	got := kubectl(t, "get", "imagebuild", "-n", ns, ib.Name)
	if !strings.Contains(got, "PLATFORMS") || !strings.Contains(got, "2/2") {
		t.Errorf("kubectl get shows no platform progress:\n%s", got)
	}
	t.Logf("$ kubectl get imagebuild\n%s", got)

	for _, tag := range []string{"v1", "latest"} {
		if got := registryDigest(t, ib.Spec.Image+":"+tag); got != out.Digest {
			t.Errorf("%s:%s is %s, status.output.digest %s", ib.Spec.Image, tag, got, out.Digest)
		}
	}
	desc, err := remote.Get(mustRef(t, ib.Spec.Image+"@"+out.Digest), remoteOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType != types.OCIImageIndex {
		t.Fatalf("status.output.digest is a %s, want an OCI image index", desc.MediaType)
	}
	t.Logf("the registry's index %s@%s (%s):\n%s", ib.Spec.Image, out.Digest, desc.MediaType, desc.Manifest)
	idx, err := desc.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"amd64": "x86_64\n", "arm64": "aarch64\n"}
	if len(m.Manifests) != 2 {
		t.Fatalf("the index has %d entries, want exactly linux/amd64 and linux/arm64: %+v", len(m.Manifests), m.Manifests)
	}
	for i, d := range m.Manifests {
		arch := d.Platform.Architecture
		if d.Platform.OS != "linux" || want[arch] == "" {
			t.Fatalf("index entry %d is for %+v", i, d.Platform)
		}
		if d.Digest.String() != ib.Status.Platforms[i].Digest {
			t.Errorf("entry %s is %s, status.platforms says %s", arch, d.Digest, ib.Status.Platforms[i].Digest)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != "linux" || cfg.Architecture != arch {
			t.Errorf("the %s image's config says %s/%s", arch, cfg.OS, cfg.Architecture)
		}
		recorded := fileIn(t, img, "arch")
		if recorded != want[arch] {
			t.Errorf("the %s image's RUN recorded %q, want %q", arch, recorded, want[arch])
		}
		t.Logf("entry %s: config os=%s architecture=%s variant=%q, /arch=%q", d.Digest, cfg.OS, cfg.Architecture, cfg.Variant, recorded)
		delete(want, arch)
	}
	// The platforms' images are in the repository by digest only: the tags are the two asked for.
	repo, err := name.NewRepository(ib.Spec.Image)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(repo, remoteOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	if !slices.Equal(tags, []string{"latest", "v1"}) {
		t.Errorf("the repository's tags are %v, want [latest v1]: a platform's image got a tag of its own", tags)
	}
}

// A platform the cluster can neither run nor emulate stops the build before any pod, with a
// condition that names the platform and how to add it.
func TestE2E_PlatformNobodyCanBuild(t *testing.T) {
	ns := namespace(t)
	dir := project(t, baseFrom+"COPY hello.txt /hello.txt\n")
	r := flow(t, dir, registryEnv("nowhere-"+runID), "build", "--push", "--platform", "linux/amd64,linux/s390x", "--namespace", ns, "prod")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	ib := waitBuild(t, ns, time.Minute, "the build to stop", func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase.Finished() })
	c := readyCondition(ib)
	if ib.Status.Phase != buildv1.PhaseFailed || c.Reason != buildv1.ReasonPlatformUnavailable {
		t.Fatalf("phase %s reason %s, want Failed/PlatformUnavailable", ib.Status.Phase, c.Reason)
	}
	for _, want := range []string{"no node can build linux/s390x", "kubectl label node NODE emulation.build.fleetflow.dev/linux-s390x=true", "no pod was started"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message %q lacks %q", c.Message, want)
		}
	}
	stalled := false
	for _, cond := range ib.Status.Conditions {
		stalled = stalled || cond.Type == buildv1.ConditionStalled && cond.Status == metav1.ConditionTrue
	}
	if !stalled {
		t.Errorf("Stalled is not True: %+v", ib.Status.Conditions)
	}
	if pods := buildPods(t, ns); len(pods) != 0 {
		t.Errorf("%d build pods for a build that cannot run", len(pods))
	}
	if !strings.Contains(r.stdout, "✗ app: PlatformUnavailable") {
		t.Errorf("the output does not say why the build failed")
	}
}

// A base image published for amd64 only cannot be built for arm64: Kaniko would do it silently,
// with amd64 files in an image labelled arm64. The check before the build refuses it.
func TestE2E_BaseImageWithoutThePlatform(t *testing.T) {
	ns := namespace(t)
	base := os.Getenv("FLOW_BASE_IMAGE")
	desc, err := remote.Get(mustRef(t, base), remoteOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	img, err := desc.Image() // the amd64 image of the index
	if err != nil {
		t.Fatal(err)
	}
	amd64Only := registry + "/library/busybox-amd64-only:" + runID
	if err := remote.Write(mustRef(t, amd64Only), img, remoteOpts()...); err != nil {
		t.Fatal(err)
	}
	dir := project(t, baseFrom+"COPY hello.txt /hello.txt\n")
	env := append(registryEnv("wrongbase-"+runID), "FLOW_BASE_IMAGE="+amd64Only)
	r := flow(t, dir, env, "build", "--push", "--platform", "linux/arm64", "--namespace", ns, "prod")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	ib := waitBuild(t, ns, 2*time.Minute, "the build to fail", func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase.Finished() })
	c := readyCondition(ib)
	if c.Reason != buildv1.ReasonPlatformMismatch || !strings.Contains(c.Message, "base image "+amd64Only+" is a linux/amd64 image only") {
		t.Errorf("reason %s message %q, want PlatformMismatch naming the base image", c.Reason, c.Message)
	}
	if _, err := remote.Head(mustRef(t, ib.Spec.Image+":latest"), remoteOpts()...); err == nil {
		t.Error("a tag was pushed")
	}
}

// Two tags of a build without platforms: Kaniko pushes both, and they name the same digest.
func TestE2E_TwoTagsOneDigest(t *testing.T) {
	ns := namespace(t)
	dir := project(t, baseFrom+"COPY hello.txt /hello.txt\n")
	r := flow(t, dir, registryEnv("tags-"+runID), "build", "--push", "--tag", "v2", "--tag", "stable", "--namespace", ns, "prod")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	ib := builds(t, ns)[0]
	out := ib.Status.Output
	if out == nil || !slices.Equal(out.Tags, []string{"v2", "stable"}) {
		t.Fatalf("output %+v", out)
	}
	for _, tag := range out.Tags {
		if got := registryDigest(t, ib.Spec.Image+":"+tag); got != out.Digest {
			t.Errorf("%s:%s is %s, status.output.digest %s", ib.Spec.Image, tag, got, out.Digest)
		}
	}
	desc, err := remote.Head(mustRef(t, ib.Spec.Image+":v2"), remoteOpts()...)
	if err != nil || desc.MediaType.IsIndex() {
		t.Errorf("a build without platforms is one image, not an index: %v %v", desc, err)
	}
	if !strings.Contains(r.stdout, "✓ app: "+ib.Spec.Image+":v2, "+ib.Spec.Image+":stable ("+out.Digest+")") {
		t.Errorf("the ✓ line does not list both tags")
	}
}
