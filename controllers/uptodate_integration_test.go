package controllers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/buildpod"
	"github.com/fleetflow/flow-build/internal/bundle"
	"github.com/fleetflow/flow-build/internal/inputkey"
	"github.com/fleetflow/flow-build/internal/manager"
	"github.com/fleetflow/flow-build/internal/testing/poll"
	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

// upToDate is a test namespace with the manager, a real registry behind a password, a push
// Secret, a base image and a source bundle whose Dockerfile starts FROM it.
type upToDate struct {
	*testEnv
	reg    *registrytest.Registry
	repo   string
	base   string
	bundle string
}

const upToDatePassword = "uptodate-canary"

func newUpToDate(t *testing.T, tweak func(*manager.Options)) *upToDate {
	t.Helper()
	reg := registrytest.New(t, "ci", upToDatePassword)
	e := newTestEnv(t, func(o *manager.Options) {
		o.RegistryTransport = reg.Transport()
		if tweak != nil {
			tweak(o)
		}
	})
	e.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: e.ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: fmt.Appendf(nil,
			`{"auths":{%q:{"username":"ci","password":%q}}}`, reg.Host, upToDatePassword)},
	})
	u := &upToDate{testEnv: e, reg: reg, repo: reg.Repo("team/app"), base: reg.Repo("base/alpine") + ":3"}
	reg.PushImage(t, u.base, registrytest.PlatformImage(t, "linux/amd64"))

	dir := t.TempDir()
	dockerfile := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(dockerfile, []byte("FROM "+u.base+"\nCOPY app.txt /app.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, _, err := bundle.Build(bundle.PackOptions{ContextDir: dir, Dockerfile: dockerfile})
	if err != nil {
		t.Fatal(err)
	}
	if u.bundle, _, err = bundle.Push(context.Background(), reg.Repo("team/app/source"), img, reg.Options()...); err != nil {
		t.Fatal(err)
	}
	return u
}

// spec returns a build of the fixture's bundle into its repository, with the push Secret.
func (u *upToDate) spec(name, tag string, tweak func(*buildv1.ImageBuild)) *buildv1.ImageBuild {
	return u.build(name, func(ib *buildv1.ImageBuild) {
		ib.Spec.Image = u.repo
		ib.Spec.Tags = []string{tag}
		ib.Spec.Source.Bundle.Image = u.bundle
		ib.Spec.PushSecretRef = &buildv1.LocalSecretReference{Name: "regcred"}
		if tweak != nil {
			tweak(ib)
		}
	})
}

// buildForReal runs the build through its pod: the "Kaniko" of the test pushes an image by
// digest, as the real one does, and reports it.
func (u *upToDate) buildForReal(t *testing.T, name string, label string) (*buildv1.ImageBuild, string) {
	t.Helper()
	ib := u.waitPhase(name, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	pod := u.waitPod(ib.Status.PodName)
	img, err := mutate.Config(registrytest.PlatformImage(t, "linux/amd64"), mutateLabels(label))
	if err != nil {
		t.Fatal(err)
	}
	digest := u.reg.PushByDigest(t, u.repo, img).String()
	kubelet{t}.kanikoExited(pod, 0, digest, "Completed")
	return u.waitPhase(name, buildv1.PhaseSucceeded, buildv1.ReasonSucceeded), digest
}

// tagDigest is the digest the registry serves for repo:tag.
func (u *upToDate) tagDigest(t *testing.T, tag string) string {
	t.Helper()
	desc, err := remote.Head(ref(t, u.repo+":"+tag), u.reg.Options()...)
	if err != nil {
		t.Fatalf("%s:%s: %v", u.repo, tag, err)
	}
	return desc.Digest.String()
}

func (u *upToDate) expectPods(t *testing.T, n int) {
	t.Helper()
	poll.Consistently(t, 2*time.Second, fmt.Sprintf("%d pods", n), u.podCount(n))
}

// A build whose image was built from the same inputs ends UpToDate with no pod, even after the
// ImageBuild that built it is gone: the record lives in the registry.
func TestIntegration_UpToDateReusesTheImage(t *testing.T) {
	t.Parallel()
	u := newUpToDate(t, nil)
	u.create(u.spec("first", "v1", nil))
	first, digest := u.buildForReal(t, "first", "first")
	if !strings.HasPrefix(first.Status.InputKey, "sha256:") {
		t.Fatalf("status.inputKey = %q, want the input key", first.Status.InputKey)
	}
	record := ref(t, u.repo+"/cache:"+inputkey.Tag(first.Status.InputKey))
	if _, err := remote.Get(record, u.reg.Options()...); err != nil {
		t.Fatalf("no build record %s: %v", record, err)
	}
	if err := k8s.Delete(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 30*time.Second, "the first build's pod to go", func() (bool, string) {
		// envtest runs no garbage collector: the test removes the pod as it would.
		for _, p := range u.pods() {
			_ = k8s.Delete(context.Background(), &p)
		}
		return len(u.pods()) == 0, ""
	})

	u.create(u.spec("second", "v2", func(ib *buildv1.ImageBuild) {
		ib.Spec.Tags = []string{"v2", "latest"}
	}))
	second := u.waitPhase("second", buildv1.PhaseSucceeded, buildv1.ReasonUpToDate)
	u.expectPods(t, 0)
	if second.Status.InputKey != first.Status.InputKey {
		t.Errorf("input keys differ: %s and %s", second.Status.InputKey, first.Status.InputKey)
	}
	out := second.Status.Output
	if out == nil || out.Digest != digest || out.ImageRef != u.repo+"@"+digest || second.Status.PodName != "" {
		t.Fatalf("status %+v, want output %s and no pod", second.Status, digest)
	}
	for _, tag := range []string{"v2", "latest"} {
		if got := u.tagDigest(t, tag); got != digest {
			t.Errorf("%s points at %s, want the reused %s", tag, got, digest)
		}
	}
	if msg := readyCondition(second).Message; !strings.Contains(msg, digest) || !strings.Contains(msg, "up to date") {
		t.Errorf("Ready message %q does not say which image was reused", msg)
	}
	if strings.Contains(logBuffer.String(), upToDatePassword) {
		t.Error("the registry password reached the manager's log")
	}
}

// A base image tag that moved changes the key: the build runs, and its record serves the next one.
func TestIntegration_UpToDateMovedBaseImageRebuilds(t *testing.T) {
	t.Parallel()
	u := newUpToDate(t, nil)
	u.create(u.spec("first", "v1", nil))
	first, _ := u.buildForReal(t, "first", "first")

	moved, err := mutate.Config(registrytest.PlatformImage(t, "linux/amd64"), mutateLabels("moved"))
	if err != nil {
		t.Fatal(err)
	}
	u.reg.PushImage(t, u.base, moved)
	u.create(u.spec("second", "v2", nil))
	second, digest := u.buildForReal(t, "second", "second")
	if second.Status.InputKey == first.Status.InputKey || second.Status.InputKey == "" {
		t.Fatalf("input key %q after the base image moved, was %q", second.Status.InputKey, first.Status.InputKey)
	}

	u.create(u.spec("third", "v3", nil))
	third := u.waitPhase("third", buildv1.PhaseSucceeded, buildv1.ReasonUpToDate)
	if third.Status.Output.Digest != digest {
		t.Errorf("reused %s, want the image built on the moved base, %s", third.Status.Output.Digest, digest)
	}
}

// An image deleted from the registry is not reused, whatever its record says.
func TestIntegration_UpToDateDeletedImageRebuilds(t *testing.T) {
	t.Parallel()
	u := newUpToDate(t, nil)
	u.create(u.spec("first", "v1", nil))
	first, digest := u.buildForReal(t, "first", "first")
	if err := remote.Delete(ref(t, u.repo+"@"+digest), u.reg.Options()...); err != nil {
		t.Fatal(err)
	}
	u.create(u.spec("second", "v2", nil))
	second, rebuilt := u.buildForReal(t, "second", "second")
	if second.Status.InputKey == "" || second.Status.InputKey != first.Status.InputKey || rebuilt == digest {
		t.Fatalf("key %s (was %s), digest %s (was %s): want the same key, built again", second.Status.InputKey, first.Status.InputKey, rebuilt, digest)
	}
}

// --no-cache (spec.cache.disabled) always builds, and a build the operator cannot check (a
// registry refusing the push Secret) simply builds.
func TestIntegration_UpToDateEscapeHatches(t *testing.T) {
	t.Parallel()
	u := newUpToDate(t, nil)
	u.create(u.spec("first", "v1", nil))
	u.buildForReal(t, "first", "first")

	u.create(u.spec("nocache", "v2", func(ib *buildv1.ImageBuild) {
		ib.Spec.Cache = &buildv1.CacheSpec{Disabled: true}
	}))
	nocache, _ := u.buildForReal(t, "nocache", "nocache")
	if nocache.Status.InputKey != "" {
		t.Errorf("a build with spec.cache.disabled has input key %s", nocache.Status.InputKey)
	}

	u.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "wrongcred", Namespace: u.ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: fmt.Appendf(nil,
			`{"auths":{%q:{"username":"ci","password":"wrong-canary"}}}`, u.reg.Host)},
	})
	u.create(u.spec("refused", "v3", func(ib *buildv1.ImageBuild) {
		ib.Spec.PushSecretRef.Name = "wrongcred"
	}))
	u.buildForReal(t, "refused", "refused")
	if strings.Contains(logBuffer.String(), "wrong-canary") {
		t.Error("the registry password reached the manager's log")
	}

	// The same build with the cache and the right credentials is up to date: what made the two
	// above build was the escape hatch and the refusal.
	u.create(u.spec("again", "v4", nil))
	u.waitPhase("again", buildv1.PhaseSucceeded, buildv1.ReasonUpToDate)
}

// A multi-platform build reuses the image index, and reports each platform's image.
func TestIntegration_UpToDateMultiPlatformIndex(t *testing.T) {
	t.Parallel()
	u := newUpToDate(t, func(o *manager.Options) { o.Emulation, o.ReadNodes = true, true })
	addNode(t, u.ns+"-amd64", "amd64", map[string]string{buildv1.EmulationLabelPrefix + "linux-arm64": "true"})
	platforms := []string{"linux/amd64", "linux/arm64"}
	u.create(u.spec("first", "v1", func(ib *buildv1.ImageBuild) { ib.Spec.Platforms = platforms }))
	var pods []corev1.Pod
	poll.Eventually(t, 30*time.Second, "a pod per platform", func() (bool, string) {
		pods = u.pods()
		return len(pods) == 2, fmt.Sprintf("pods %v", podNames(pods))
	})
	want := map[string]string{
		"linux-amd64": u.reg.PushByDigest(t, u.repo, registrytest.PlatformImage(t, "linux/amd64")).String(),
		"linux-arm64": u.reg.PushByDigest(t, u.repo, registrytest.PlatformImage(t, "linux/arm64")).String(),
	}
	for i := range pods {
		pod := &pods[i]
		digest := want[pod.Labels[buildv1.LabelPlatform]]
		done := func(name, msg string) corev1.ContainerStatus {
			return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", Message: msg}}}
		}
		kubelet{t}.update(pod, func(s *corev1.PodStatus) {
			s.Phase = corev1.PodSucceeded
			s.InitContainerStatuses = []corev1.ContainerStatus{done(buildpod.FetchContainer, ""), done(buildpod.KanikoContainer, digest)}
			s.ContainerStatuses = []corev1.ContainerStatus{done(buildpod.PushContainer, digest)}
		})
	}
	first := u.waitPhase("first", buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)
	index := first.Status.Output.Digest

	u.create(u.spec("second", "v2", func(ib *buildv1.ImageBuild) { ib.Spec.Platforms = platforms }))
	second := u.waitPhase("second", buildv1.PhaseSucceeded, buildv1.ReasonUpToDate)
	u.expectPods(t, 2)
	if second.Status.Output.Digest != index || !slices.Equal(second.Status.Output.Platforms, platforms) || second.Status.PlatformsReady != "2/2" {
		t.Fatalf("output %+v platforms ready %q, want the index %s", second.Status.Output, second.Status.PlatformsReady, index)
	}
	for _, ps := range second.Status.Platforms {
		if p, _ := strings.CutPrefix(ps.Platform, "linux/"); ps.Digest != want["linux-"+p] || ps.Phase != buildv1.PhaseSucceeded || ps.PodName != "" {
			t.Errorf("platform %+v, want %s without a pod", ps, want["linux-"+p])
		}
	}
	if got := u.tagDigest(t, "v2"); got != index {
		t.Errorf("v2 points at %s, want the index %s", got, index)
	}

	// One platform fewer is another key.
	u.create(u.spec("third", "v3", func(ib *buildv1.ImageBuild) { ib.Spec.Platforms = platforms[:1] }))
	third := u.waitPhase("third", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if third.Status.InputKey == "" || third.Status.InputKey == first.Status.InputKey {
		t.Errorf("input key %q for one platform, %q for two", third.Status.InputKey, first.Status.InputKey)
	}
}

// mutateLabels is an image config that tells images apart by a label.
func mutateLabels(label string) v1.Config {
	return v1.Config{Labels: map[string]string{"test": label}}
}

func ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
