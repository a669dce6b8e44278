package controllers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/buildpod"
	"github.com/fleetflow/flow-build/internal/platform"
	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

// node is a Node as the kubelet reports it.
func node(name, arch string, ready bool, mutate func(*corev1.Node)) *corev1.Node {
	status := corev1.ConditionTrue
	if !ready {
		status = corev1.ConditionFalse
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": arch}},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}},
	}
	if mutate != nil {
		mutate(n)
	}
	return n
}

func (e *unitEnv) addNodes(nodes ...*corev1.Node) {
	e.t.Helper()
	for _, n := range nodes {
		if err := e.c.Create(context.Background(), n); err != nil {
			e.t.Fatal(err)
		}
	}
}

func emulates(plat string) func(*corev1.Node) {
	return func(n *corev1.Node) {
		p, _ := platform.Parse(plat)
		n.Labels[p.EmulationLabel()] = "true"
	}
}

func (e *unitEnv) podNames() []string {
	e.t.Helper()
	list := &corev1.PodList{}
	if err := e.c.List(context.Background(), list); err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

func TestPlatformPlacement(t *testing.T) {
	amd := node("amd", "amd64", true, nil)
	tests := []struct {
		name      string
		emulation bool
		native    []string
		nodes     []*corev1.Node
		platform  string
		emulated  bool
		why       []string // substrings of the reason no node can build it; nil when one can
	}{
		{"native node", false, nil, []*corev1.Node{amd}, "linux/amd64", false, nil},
		{"arm64/v8 is built on arm64 nodes", false, nil, []*corev1.Node{node("arm", "arm64", true, nil)}, "linux/arm64/v8", false, nil},
		{"clouds taint second-architecture nodes; builds for it tolerate that",
			false, nil, []*corev1.Node{node("arm", "arm64", true, func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: "kubernetes.io/arch", Value: "arm64", Effect: corev1.TaintEffectNoSchedule}}
			})}, "linux/arm64", false, nil},
		{"emulated where the cluster says it can", true, nil, []*corev1.Node{amd, node("emu", "amd64", true, emulates("linux/arm64"))}, "linux/arm64", true, nil},
		{"native wins over emulation", true, nil, []*corev1.Node{node("emu", "amd64", true, emulates("linux/arm64")), node("arm", "arm64", true, nil)}, "linux/arm64", false, nil},
		{"on-demand platform", false, []string{"linux/arm64"}, []*corev1.Node{amd}, "linux/arm64", false, nil},
		{"nothing, emulation off", false, nil, []*corev1.Node{amd}, "linux/arm64",
			false, []string{"no node can build linux/arm64", "emulation is disabled", "kubectl label node NODE emulation.build.fleetflow.dev/linux-arm64=true"}},
		{"labelled but emulation off", false, nil, []*corev1.Node{node("emu", "amd64", true, emulates("linux/arm64"))}, "linux/arm64",
			false, []string{"node(s) emu are labelled emulation.build.fleetflow.dev/linux-arm64=true", "emulation.enabled=true"}},
		{"emulation on, nobody labelled", true, nil, []*corev1.Node{amd}, "linux/riscv64",
			false, []string{"no node can build linux/riscv64", "no Ready node is labelled emulation.build.fleetflow.dev/linux-riscv64=true"}},
		{"native node not Ready", false, nil, []*corev1.Node{node("arm", "arm64", false, nil)}, "linux/arm64",
			false, []string{"1 such node(s) are not Ready, cordoned or tainted"}},
		{"native node cordoned", false, nil, []*corev1.Node{node("arm", "arm64", true, func(n *corev1.Node) { n.Spec.Unschedulable = true })}, "linux/arm64",
			false, []string{"not Ready, cordoned or tainted"}},
		{"native node tainted for someone else", false, nil, []*corev1.Node{node("arm", "arm64", true, func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		})}, "linux/arm64", false, []string{"not Ready, cordoned or tainted"}},
		{"emulating node not Ready", true, nil, []*corev1.Node{node("emu", "amd64", false, emulates("linux/arm64"))}, "linux/arm64",
			false, []string{"labelled emulation.build.fleetflow.dev/linux-arm64=true (emu) are not Ready"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &ImageBuildReconciler{Emulation: tt.emulation, NodeReader: fake.NewClientBuilder().Build()}
			for _, s := range tt.native {
				p, _ := platform.Parse(s)
				r.NativePlatforms = append(r.NativePlatforms, p)
			}
			var nodes []corev1.Node
			for _, n := range tt.nodes {
				nodes = append(nodes, *n)
			}
			p, _ := platform.Parse(tt.platform)
			emulated, why := r.placement(nodes, p)
			if emulated != tt.emulated {
				t.Errorf("emulated = %v, want %v", emulated, tt.emulated)
			}
			if (why == "") != (tt.why == nil) {
				t.Fatalf("why = %q, want a reason: %v", why, tt.why != nil)
			}
			for _, w := range tt.why {
				if !strings.Contains(why, w) {
					t.Errorf("why %q lacks %q", why, w)
				}
			}
		})
	}
}

// An operator that may not read nodes builds its own platform and the ones it is told the
// cluster has, and explains the rest.
func TestPlatformPlacementWithoutNodes(t *testing.T) {
	native, _ := platform.Parse("linux/riscv64")
	r := &ImageBuildReconciler{Emulation: true, NativePlatforms: []platform.Platform{native}}
	own := platform.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
	for _, p := range []platform.Platform{own, native} {
		if emulated, why := r.placement(nil, p); emulated || why != "" {
			t.Errorf("%s: emulated %v, why %q", p, emulated, why)
		}
	}
	other, _ := platform.Parse("linux/s390x")
	if _, why := r.placement(nil, other); !strings.Contains(why, "may not read nodes") || !strings.Contains(why, "nativePlatforms") {
		t.Errorf("why = %q", why)
	}
}

// A platform the cluster can neither run nor emulate ends the build before any pod.
func TestPlatformUnavailableStopsBeforeAnyPod(t *testing.T) {
	e := newUnitEnv(t, func(r *ImageBuildReconciler) { r.Emulation, r.NodeReader = true, r.Client })
	e.addNodes(node("amd", "amd64", true, emulates("linux/arm64")))
	key := e.create("api", func(ib *buildv1.ImageBuild) {
		ib.Spec.Platforms = []string{"linux/amd64", "linux/arm64", "linux/s390x"}
	})
	e.reconcile(key)
	ib := e.get(key)
	wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonPlatformUnavailable)
	if msg := readyMessage(ib); !strings.Contains(msg, "no node can build linux/s390x") || strings.Contains(msg, "linux/arm64:") ||
		!strings.Contains(msg, "no pod was started") {
		t.Errorf("message %q", msg)
	}
	for _, c := range ib.Status.Conditions {
		if c.Type == buildv1.ConditionStalled && c.Status != metav1.ConditionTrue {
			t.Errorf("Stalled = %s, want True", c.Status)
		}
	}
	if pods := e.podNames(); len(pods) != 0 {
		t.Errorf("pods %v were created for a build that cannot run", pods)
	}
}

// platformEnv is a unit environment with a registry, an amd64 node that emulates arm64, and the
// push Secret the operator reads to reach the registry.
type platformEnv struct {
	*unitEnv
	reg *registrytest.Registry
}

func newPlatformEnv(t *testing.T) *platformEnv {
	t.Helper()
	reg := registrytest.New(t, "ci", "s3cret-canary")
	e := newUnitEnv(t, func(r *ImageBuildReconciler) {
		r.Emulation = true
		r.RegistryTransport = reg.Transport()
		r.NodeReader = r.Client
	})
	e.addNodes(node("amd", "amd64", true, emulates("linux/arm64")))
	auth := base64.StdEncoding.EncodeToString([]byte("ci:s3cret-canary"))
	doc, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.Host: map[string]string{"auth": auth}}})
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: testNS},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: doc},
	}
	if err := e.c.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	return &platformEnv{unitEnv: e, reg: reg}
}

func (e *platformEnv) create(name string) types.NamespacedName {
	return e.unitEnv.create(name, func(ib *buildv1.ImageBuild) {
		ib.Spec.Image = e.reg.Repo("team/" + name)
		ib.Spec.Tags = []string{"v1.2.0", "latest"}
		ib.Spec.Platforms = []string{"linux/amd64", "linux/arm64"}
		ib.Spec.PushSecretRef = &buildv1.LocalSecretReference{Name: "regcred"}
	})
}

// pushed plays the kubelet for a platform pod whose Kaniko built and whose push container
// pushed the image with digest.
func (e *platformEnv) pushed(podName, digest string) {
	e.t.Helper()
	pod, ok := e.pod(podName)
	if !ok {
		e.t.Fatalf("no pod %s", podName)
	}
	done := func(name, msg string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", Message: msg}}}
	}
	pod.Status.Phase = corev1.PodSucceeded
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{done(buildpod.FetchContainer, ""), done(buildpod.KanikoContainer, digest)}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{done(buildpod.PushContainer, digest)}
	if err := e.c.Status().Update(context.Background(), pod); err != nil {
		e.t.Fatal(err)
	}
}

func (e *platformEnv) kanikoFailed(podName, message string) {
	e.t.Helper()
	pod, _ := e.pod(podName)
	pod.Status.Phase = corev1.PodFailed
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{
		{Name: buildpod.FetchContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}},
		{Name: buildpod.KanikoContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: message}}},
	}
	if err := e.c.Status().Update(context.Background(), pod); err != nil {
		e.t.Fatal(err)
	}
}

func (e *platformEnv) tagDigest(ref string) (string, bool) {
	n, err := name.ParseReference(ref)
	if err != nil {
		e.t.Fatal(err)
	}
	desc, err := remote.Head(n, e.reg.Options()...)
	if err != nil {
		return "", false
	}
	return desc.Digest.String(), true
}

func TestPlatformsBuildInParallelThenTheIndexIsPushedUnderEveryTag(t *testing.T) {
	e := newPlatformEnv(t)
	key := e.create("api")
	e.reconcile(key)
	ib := e.get(key)
	wantState(t, ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if got := e.podNames(); !slices.Equal(got, []string{"api-g1-linux-amd64-1", "api-g1-linux-arm64-1"}) {
		t.Fatalf("pods %v, want one per platform, both at once", got)
	}
	amdPod, _ := e.pod("api-g1-linux-amd64-1")
	armPod, _ := e.pod("api-g1-linux-arm64-1")
	if amdPod.Spec.NodeSelector["kubernetes.io/arch"] != "amd64" || armPod.Spec.NodeSelector["emulation.build.fleetflow.dev/linux-arm64"] != "true" {
		t.Errorf("node selectors: amd64 %v, arm64 %v", amdPod.Spec.NodeSelector, armPod.Spec.NodeSelector)
	}
	if ps := ib.Status.Platforms; len(ps) != 2 || ps[0].Emulated || !ps[1].Emulated || ps[1].PodName != armPod.Name || ib.Status.PlatformsReady != "0/2" {
		t.Errorf("status.platforms %+v ready %q", ps, ib.Status.PlatformsReady)
	}
	if evs := e.events(); !slices.ContainsFunc(evs, func(ev string) bool { return strings.Contains(ev, "Emulated") && strings.Contains(ev, "linux/arm64") }) {
		t.Errorf("no event says linux/arm64 is emulated: %v", evs)
	}

	repo := e.reg.Repo("team/api")
	amd := e.reg.PushByDigest(t, repo, registrytest.PlatformImage(t, "linux/amd64")).String()
	arm := e.reg.PushByDigest(t, repo, registrytest.PlatformImage(t, "linux/arm64")).String()
	e.pushed(amdPod.Name, amd)
	e.reconcile(key)
	ib = e.get(key)
	wantState(t, ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if ib.Status.PlatformsReady != "1/2" || ib.Status.Platforms[0].Digest != amd || ib.Status.Platforms[0].Phase != buildv1.PhaseSucceeded {
		t.Errorf("after amd64: ready %q platforms %+v", ib.Status.PlatformsReady, ib.Status.Platforms)
	}
	if _, ok := e.tagDigest(repo + ":v1.2.0"); ok {
		t.Fatal("a tag moved before every platform was built")
	}

	e.pushed(armPod.Name, arm)
	e.reconcile(key)
	ib = e.get(key)
	wantState(t, ib, buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)
	out := ib.Status.Output
	if out == nil || ib.Status.PlatformsReady != "2/2" || !slices.Equal(out.Platforms, []string{"linux/amd64", "linux/arm64"}) || !slices.Equal(out.Tags, []string{"v1.2.0", "latest"}) {
		t.Fatalf("output %+v ready %q", out, ib.Status.PlatformsReady)
	}
	for _, tag := range out.Tags {
		if got, ok := e.tagDigest(repo + ":" + tag); !ok || got != out.Digest {
			t.Errorf("%s:%s is %q, status.output.digest %s", repo, tag, got, out.Digest)
		}
	}
	n, _ := name.ParseReference(repo + "@" + out.Digest)
	desc, err := remote.Get(n, e.reg.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := desc.ImageIndex()
	if err != nil || desc.MediaType != ggcrtypes.OCIImageIndex {
		t.Fatalf("status.output.digest is a %s (%v), want an OCI image index", desc.MediaType, err)
	}
	m, _ := idx.IndexManifest()
	if len(m.Manifests) != 2 || m.Manifests[0].Digest.String() != amd || m.Manifests[1].Digest.String() != arm ||
		m.Manifests[1].Platform.Architecture != "arm64" {
		t.Errorf("index entries %+v", m.Manifests)
	}
	if !strings.Contains(readyMessage(ib), "linux/amd64, linux/arm64") {
		t.Errorf("Ready message %q does not name the platforms", readyMessage(ib))
	}
}

// The first platform that fails ends the build, naming it; the other platforms' pods stop, and no
// tag moves.
func TestAFailedPlatformFailsTheBuildAndMovesNoTag(t *testing.T) {
	e := newPlatformEnv(t)
	key := e.create("web")
	e.reconcile(key)
	e.kanikoFailed("web-g1-linux-arm64-1", "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3")
	e.reconcile(key)
	ib := e.get(key)
	wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonBuildFailed)
	if msg := readyMessage(ib); !strings.HasPrefix(msg, "linux/arm64 failed: ") || !strings.Contains(msg, "exit status 3") {
		t.Errorf("message %q does not name the failed platform and why", msg)
	}
	if ps := ib.Status.Platforms[0]; ps.Phase != buildv1.PhaseFailed || !strings.Contains(ps.Message, "linux/arm64 failed") {
		t.Errorf("the other platform: %+v", ps)
	}
	if _, ok := e.pod("web-g1-linux-amd64-1"); ok {
		t.Error("the amd64 pod still runs although its image can never be tagged")
	}
	if _, ok := e.pod("web-g1-linux-arm64-1"); !ok {
		t.Error("the failed pod was deleted with its log")
	}
	if _, ok := e.tagDigest(e.reg.Repo("team/web") + ":v1.2.0"); ok {
		t.Error("a tag moved")
	}
}

// An image whose config says another platform than the one it was built for is refused before
// any tag moves.
func TestAnImageOfTheWrongPlatformIsRefused(t *testing.T) {
	e := newPlatformEnv(t)
	key := e.create("wrong")
	e.reconcile(key)
	repo := e.reg.Repo("team/wrong")
	amd := e.reg.PushByDigest(t, repo, registrytest.PlatformImage(t, "linux/amd64")).String()
	e.pushed("wrong-g1-linux-amd64-1", amd)
	e.pushed("wrong-g1-linux-arm64-1", amd) // "arm64" that is really amd64
	e.reconcile(key)
	ib := e.get(key)
	wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonPlatformMismatch)
	if msg := readyMessage(ib); !strings.Contains(msg, "the image built for linux/arm64") || !strings.Contains(msg, "is an image for linux/amd64") {
		t.Errorf("message %q", msg)
	}
	if ps := ib.Status.Platforms[1]; ps.Reason != buildv1.ReasonPlatformMismatch {
		t.Errorf("arm64 status %+v", ps)
	}
	for _, tag := range []string{"v1.2.0", "latest"} {
		if _, ok := e.tagDigest(repo + ":" + tag); ok {
			t.Errorf("tag %s moved", tag)
		}
	}
}

// A platform's lost pod is retried on that platform's own budget; the other platform is not touched.
func TestLostPlatformPodRetriedOnItsOwn(t *testing.T) {
	e := newPlatformEnv(t)
	e.r.MaxAttempts = 2
	key := e.create("lost")
	e.reconcile(key)
	e.deletePod("lost-g1-linux-arm64-1")
	e.reconcile(key)
	ib := e.get(key)
	if got := e.podNames(); !slices.Equal(got, []string{"lost-g1-linux-amd64-1", "lost-g1-linux-arm64-2"}) {
		t.Fatalf("pods %v", got)
	}
	if ib.Status.Platforms[1].Attempts != 2 || ib.Status.Platforms[0].Attempts != 1 || !ib.Status.Platforms[1].Emulated {
		t.Errorf("platforms %+v", ib.Status.Platforms)
	}
	e.deletePod("lost-g1-linux-arm64-2")
	e.reconcile(key)
	ib = e.get(key)
	wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonPodLost)
	if !strings.Contains(readyMessage(ib), "linux/arm64 failed: ") || !strings.Contains(readyMessage(ib), "gave up after 2 attempts") {
		t.Errorf("message %q", readyMessage(ib))
	}
}

// Platforms wait for build slots like builds do, and a platform waiting for one is woken when
// a slot frees.
func TestPlatformsShareTheSlotCap(t *testing.T) {
	e := newPlatformEnv(t)
	e.r.MaxConcurrentBuilds = 1
	e.r.setDefaults(e.c)
	key := e.create("capped")
	res := e.reconcile(key)
	ib := e.get(key)
	if got := e.podNames(); len(got) != 1 || res.RequeueAfter != slotRecheck {
		t.Fatalf("pods %v requeue %s: one platform starts, the other waits", got, res.RequeueAfter)
	}
	if ps := ib.Status.Platforms[1]; ps.Phase != buildv1.PhasePending || !strings.Contains(ps.Message, "free build slot") {
		t.Errorf("the waiting platform: %+v", ps)
	}
	if got := waitingForSlot(ib); len(got) != 1 {
		t.Error("a build with a platform waiting for a slot is not indexed as waiting")
	}
	wantState(t, ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
}

// Secrets never reach the status or events, even though the operator reads the push Secret.
func TestIndexCredentialsStayOutOfStatus(t *testing.T) {
	e := newPlatformEnv(t)
	key := e.create("quiet")
	e.reconcile(key)
	e.reg.Close() // the registry goes away: the index push fails and is retried
	repo := e.reg.Repo("team/quiet")
	d := "sha256:" + strings.Repeat("1", 64)
	e.pushed("quiet-g1-linux-amd64-1", d)
	e.pushed("quiet-g1-linux-arm64-1", d)
	_, err := e.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	if err == nil {
		t.Fatal("an unreachable registry is no success")
	}
	ib := e.get(key)
	wantState(t, ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	raw, _ := json.Marshal(ib.Status)
	for _, s := range append([]string{string(raw), err.Error()}, e.events()...) {
		if strings.Contains(s, "s3cret-canary") || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte("ci:s3cret-canary"))) {
			t.Errorf("a credential leaked: %s", s)
		}
	}
	if !strings.Contains(readyMessage(ib), "retrying") || !strings.Contains(readyMessage(ib), repo) {
		t.Errorf("message %q", readyMessage(ib))
	}
}

// A manager killed after it created the platforms' pods but before it wrote the status: the next
// one adopts each pod with its attempt and the build's start time, creates no other, and the
// build still times out on its own clock.
func TestPlatformPodsCreatedByAKilledManagerAreAdopted(t *testing.T) {
	e := newPlatformEnv(t)
	key := e.create("orphan")
	e.reconcile(key)
	pods := e.podNames()
	if len(pods) != 2 {
		t.Fatalf("pods %v, want one per platform", pods)
	}
	ib := e.get(key)
	ib.Status = buildv1.ImageBuildStatus{}
	if err := e.c.Status().Update(context.Background(), ib); err != nil {
		t.Fatal(err)
	}

	e.reconcile(key)
	ib = e.get(key)
	wantState(t, ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if got := e.podNames(); !slices.Equal(got, pods) {
		t.Errorf("pods %v after adopting, want %v", got, pods)
	}
	if ib.Status.StartTime == nil {
		t.Error("no start time after adopting the platforms' pods")
	}
	for _, ps := range ib.Status.Platforms {
		if ps.Attempts != 1 || !slices.Contains(pods, ps.PodName) {
			t.Errorf("%s: pod %q attempts %d, want its pod adopted as attempt 1", ps.Platform, ps.PodName, ps.Attempts)
		}
	}

	e.clock.SetTime(start.Add(time.Hour))
	e.reconcile(key)
	wantState(t, e.get(key), buildv1.PhaseFailed, buildv1.ReasonTimeout)
}
