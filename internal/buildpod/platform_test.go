package buildpod

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/platform"
)

func mustPlatform(t *testing.T, s string) platform.Platform {
	t.Helper()
	p, err := platform.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func platformBuild() *v1alpha1.ImageBuild {
	ib := newBuild()
	ib.Spec.Tags = []string{"v1.2.0", "latest"}
	ib.Spec.Platforms = []string{"linux/amd64", "linux/arm64"}
	ib.Spec.PushSecretRef = &v1alpha1.LocalSecretReference{Name: "ghcr-push"}
	ib.Spec.BuildArgs = []v1alpha1.BuildArg{{Name: "BASE", Value: "busybox:1.36"}, {Name: "TARGETARCH", Value: "mine"}}
	return ib
}

func TestBuildPlatformGolden(t *testing.T) {
	tests := []struct {
		name     string
		platform string
		emulated bool
		mutate   func(ib *v1alpha1.ImageBuild)
	}{
		{"platform-native-arm64", "linux/arm64", false, func(ib *v1alpha1.ImageBuild) {
			ib.Spec.Target = "runtime"
			ib.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}}
		}},
		{"platform-emulated-arm-v7-no-push", "linux/arm/v7", true, func(ib *v1alpha1.ImageBuild) {
			ib.Spec.Push = false
			ib.Spec.PushSecretRef = nil
		}},
		{"platform-git-no-cache", "linux/amd64", false, func(ib *v1alpha1.ImageBuild) {
			ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://github.com/acme/shop.git", Revision: "main"}}
			ib.Spec.Cache = &v1alpha1.CacheSpec{Disabled: true}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ib := platformBuild()
			tt.mutate(ib)
			pl := Placement{Platform: mustPlatform(t, tt.platform), Emulated: tt.emulated}
			pod, err := BuildPlatform(ib, pl, 2, testOptions())
			if err != nil {
				t.Fatalf("BuildPlatform: %v", err)
			}
			got, err := yaml.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.name+".yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run go test -update to create it): %v", err)
			}
			if string(got) != string(want) {
				t.Errorf("pod differs from %s (run go test -update after checking the change):\n--- got\n%s", golden, got)
			}
			assertPlatformPod(t, ib, pl, pod)
		})
	}
}

// assertPlatformPod checks what every platform pod must be, independent of the golden files.
func assertPlatformPod(t *testing.T, ib *v1alpha1.ImageBuild, pl Placement, pod *corev1.Pod) {
	t.Helper()
	if errs := validation.IsDNS1123Label(pod.Name); len(errs) > 0 {
		t.Errorf("pod name %q: %v", pod.Name, errs)
	}
	if pod.Labels[v1alpha1.LabelPlatform] != pl.Platform.Slug() {
		t.Errorf("platform label = %q, want %q", pod.Labels[v1alpha1.LabelPlatform], pl.Platform.Slug())
	}
	var kaniko *corev1.Container
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if c.Name == KanikoContainer {
			kaniko = &c
		}
	}
	if kaniko == nil {
		t.Fatalf("no kaniko container in %+v", pod.Spec)
	}
	args := kaniko.Args
	if !slices.Contains(args, "--custom-platform="+pl.Platform.Kaniko()) {
		t.Errorf("kaniko args lack --custom-platform=%s: %v", pl.Platform.Kaniko(), args)
	}
	if !slices.Contains(args, "--no-push") {
		t.Errorf("a platform's Kaniko never pushes itself (it only pushes tags): %v", args)
	}
	// The user's TARGETARCH wins; the other platform args are set.
	if !slices.Contains(args, "--build-arg=TARGETARCH=mine") || !slices.Contains(args, "--build-arg=TARGETPLATFORM="+pl.Platform.String()) {
		t.Errorf("platform build args: %v", args)
	}
	for _, a := range args {
		if strings.HasPrefix(a, "--destination=") && ib.Spec.Push {
			t.Errorf("a pushing platform pod names a tag destination %s: the image would get a stray tag", a)
		}
		if repo, ok := strings.CutPrefix(a, "--cache-repo="); ok && !strings.HasSuffix(repo, "/"+pl.Platform.Slug()) {
			t.Errorf("cache repository %s is shared between platforms", repo)
		}
	}
	if pl.Emulated {
		if pod.Spec.NodeSelector[pl.Platform.EmulationLabel()] != "true" || pod.Spec.NodeSelector["kubernetes.io/arch"] != "" {
			t.Errorf("emulated pod's node selector = %v", pod.Spec.NodeSelector)
		}
	} else if pod.Spec.NodeSelector["kubernetes.io/arch"] != pl.Platform.Arch || pod.Spec.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("native pod's node selector = %v", pod.Spec.NodeSelector)
	}
	if ib.Spec.Push {
		if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Name != PushContainer {
			t.Fatalf("a pushing platform pod's container is the push container, after Kaniko: %+v", pod.Spec.Containers)
		}
		push := pod.Spec.Containers[0]
		sc := push.SecurityContext
		if !slices.Contains(push.Args, "--repository="+ib.Spec.Image) || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
			!*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
			t.Errorf("push container = %+v: it reads Kaniko's files as their owner, with no capability", push)
		}
		if !slices.Contains(args, "--oci-layout-path="+OutputDir) {
			t.Errorf("kaniko does not write the layout the push container reads: %v", args)
		}
	}
	if ib.Spec.Source.Bundle != nil && !slices.Contains(pod.Spec.InitContainers[0].Args, "--check-platform="+pl.Platform.String()) {
		t.Errorf("fetch-source does not check the base images for the platform: %v", pod.Spec.InitContainers[0].Args)
	}
}

func TestPlatformPodNames(t *testing.T) {
	ib := platformBuild()
	ib.Name = strings.Repeat("a-very-long-service-name", 3)
	seen := map[string]string{}
	for _, s := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/ppc64le"} {
		for attempt := int32(1); attempt <= 3; attempt++ {
			n := PlatformPodName(ib, mustPlatform(t, s), attempt)
			if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
				t.Errorf("%s attempt %d: %q: %v", s, attempt, n, errs)
			}
			if other, dup := seen[n]; dup {
				t.Errorf("%s attempt %d and %s share the pod name %q", s, attempt, other, n)
			}
			seen[n] = s
		}
	}
	if got := PlatformPodName(newBuild(), mustPlatform(t, "linux/arm64/v8"), 1); got != "shop-prod-api-g3-linux-arm64-1" {
		t.Errorf("name = %q", got)
	}
}

// platformPod is the pod of linux/arm64 of the usual test build, pushed by digest.
func platformPod(t *testing.T, emulated bool) *corev1.Pod {
	t.Helper()
	ib := platformBuild()
	ib.Spec.Image = "127.0.0.1:5443/app"
	pod, err := BuildPlatform(ib, Placement{Platform: mustPlatform(t, "linux/arm64"), Emulated: emulated}, 1, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	pod.Spec.NodeName = "node-a"
	return pod
}

func terminated(name string, code int32, reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: msg}}}
}

func running(name string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func TestInterpretPlatformPod(t *testing.T) {
	otherDigest := "sha256:" + strings.Repeat("7", 64)
	fetched := terminated(FetchContainer, 0, "Completed", "")
	built := terminated(KanikoContainer, 0, "Completed", goodDigest)
	tests := []struct {
		name     string
		emulated bool
		phase    corev1.PodPhase
		reason   string // pod status reason
		init     []corev1.ContainerStatus
		main     []corev1.ContainerStatus
		want     Result
		contains []string
	}{
		{name: "kaniko building", phase: corev1.PodPending,
			init: []corev1.ContainerStatus{fetched, running(KanikoContainer)},
			want: Result{Phase: v1alpha1.PhaseBuilding, Reason: v1alpha1.ReasonBuilding}},
		{name: "pushing by digest", phase: corev1.PodRunning,
			init: []corev1.ContainerStatus{fetched, built}, main: []corev1.ContainerStatus{running(PushContainer)},
			want:     Result{Phase: v1alpha1.PhaseBuilding, Reason: v1alpha1.ReasonBuilding},
			contains: []string{"pushing 127.0.0.1:5443/app for linux/arm64 by digest"}},
		{name: "pushed", phase: corev1.PodSucceeded,
			init: []corev1.ContainerStatus{fetched, built}, main: []corev1.ContainerStatus{terminated(PushContainer, 0, "Completed", goodDigest+"\n")},
			want:     Result{Done: true, Phase: v1alpha1.PhaseSucceeded, Reason: v1alpha1.ReasonSucceeded, Digest: goodDigest},
			contains: []string{"127.0.0.1:5443/app@" + goodDigest}},
		{name: "pushed another digest than built", phase: corev1.PodSucceeded,
			init: []corev1.ContainerStatus{fetched, built}, main: []corev1.ContainerStatus{terminated(PushContainer, 0, "Completed", otherDigest)},
			want:     Result{Done: true, Phase: v1alpha1.PhaseFailed, Reason: v1alpha1.ReasonPushFailed},
			contains: []string{goodDigest, otherDigest}},
		{name: "push refused", phase: corev1.PodFailed,
			init: []corev1.ContainerStatus{fetched, built},
			main: []corev1.ContainerStatus{terminated(PushContainer, 1, "Error",
				"error pushing image 127.0.0.1:5443/app@"+goodDigest+": PUT https://127.0.0.1:5443/v2/app/manifests/"+goodDigest+": UNAUTHORIZED: authentication required")},
			want:     Result{Done: true, Phase: v1alpha1.PhaseFailed, Reason: v1alpha1.ReasonAuthenticationFailed},
			contains: []string{"registry 127.0.0.1:5443 refused the push of 127.0.0.1:5443/app for linux/arm64", "ghcr-push"}},
		{name: "registry unreachable", phase: corev1.PodFailed,
			init:     []corev1.ContainerStatus{fetched, built},
			main:     []corev1.ContainerStatus{terminated(PushContainer, 1, "Error", "error pushing image 127.0.0.1:5443/app@"+goodDigest+": Get \"https://127.0.0.1:5443/v2/\": dial tcp 127.0.0.1:5443: connect: connection refused")},
			want:     Result{Done: true, Phase: v1alpha1.PhaseFailed, Reason: v1alpha1.ReasonPushFailed},
			contains: []string{"cannot reach registry 127.0.0.1:5443"}},
		{name: "the layout cannot be read", phase: corev1.PodFailed,
			init:     []corev1.ContainerStatus{fetched, built},
			main:     []corev1.ContainerStatus{terminated(PushContainer, 1, "Error", "error pushing image 127.0.0.1:5443/app@"+goodDigest+": open /output/blobs/sha256/8bcc: permission denied")},
			want:     Result{Done: true, Phase: v1alpha1.PhaseFailed, Reason: v1alpha1.ReasonPushFailed},
			contains: []string{"could not read the image Kaniko built"}},
		{name: "evicted while pushing", phase: corev1.PodFailed, reason: "Evicted",
			init: []corev1.ContainerStatus{fetched, built}, main: []corev1.ContainerStatus{terminated(PushContainer, 137, "Error", "")},
			want: Result{Done: true, Lost: true, Phase: v1alpha1.PhaseFailed, Reason: v1alpha1.ReasonPodLost}},
		{name: "base image lacks the platform", phase: corev1.PodFailed,
			init: []corev1.ContainerStatus{terminated(FetchContainer, ExitPlatformMismatch, "Error",
				"base image 127.0.0.1:5443/base:1 is a linux/amd64 image only, so it cannot be built for linux/arm64 (...)")},
			want:     Result{Done: true, Phase: v1alpha1.PhaseFailed, Reason: v1alpha1.ReasonPlatformMismatch},
			contains: []string{"base image 127.0.0.1:5443/base:1 is a linux/amd64 image only"}},
		{name: "emulating node without a binfmt handler", emulated: true, phase: corev1.PodFailed,
			init: []corev1.ContainerStatus{fetched, terminated(KanikoContainer, 1, "Error",
				"error building image: error building stage: failed to execute command: starting command: fork/exec /bin/sh: exec format error")},
			want:     Result{Done: true, Phase: v1alpha1.PhaseFailed, Reason: v1alpha1.ReasonPlatformUnavailable},
			contains: []string{"node node-a is labelled emulation.build.fleetflow.dev/linux-arm64=true", "F flag"}},
		{name: "emulating node whose handler lacks the F flag", emulated: true, phase: corev1.PodFailed,
			init: []corev1.ContainerStatus{fetched, terminated(KanikoContainer, 1, "Error",
				"error building image: error building stage: failed to execute command: starting command: fork/exec /bin/sh: no such file or directory")},
			want:     Result{Done: true, Phase: v1alpha1.PhaseFailed, Reason: v1alpha1.ReasonPlatformUnavailable},
			contains: []string{"without the F flag"}},
		{name: "native node, foreign program", phase: corev1.PodFailed,
			init: []corev1.ContainerStatus{fetched, terminated(KanikoContainer, 1, "Error",
				"error building image: error building stage: failed to execute command: starting command: fork/exec /bin/sh: exec format error")},
			want:     Result{Done: true, Phase: v1alpha1.PhaseFailed, Reason: v1alpha1.ReasonBuildFailed},
			contains: []string{"built for another architecture", "linux/arm64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := platformPod(t, tt.emulated)
			pod.Status.Phase, pod.Status.Reason = tt.phase, tt.reason
			pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses = tt.init, tt.main
			got := Interpret(pod)
			if got.Done != tt.want.Done || got.Lost != tt.want.Lost || got.Phase != tt.want.Phase || got.Reason != tt.want.Reason || got.Digest != tt.want.Digest {
				t.Fatalf("result = %+v, want %+v", got, tt.want)
			}
			for _, c := range tt.contains {
				if !strings.Contains(got.Message, c) {
					t.Errorf("message %q lacks %q", got.Message, c)
				}
			}
		})
	}
}
