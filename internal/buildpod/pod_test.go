package buildpod

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/bundle"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const testBundleRef = "ghcr.io/acme/shop/api/source@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testOptions() Options {
	return Options{
		ExecutorImage: "gcr.io/kaniko-project/executor:v1.24.0",
		FetcherImage:  "ghcr.io/fleetflow/flow-build:v0.1.0",
		PushRetry:     2,
	}
}

// newBuild is a bundle build with only the required fields set, as the API server would store it
// after defaulting.
func newBuild() *v1alpha1.ImageBuild {
	return &v1alpha1.ImageBuild{
		ObjectMeta: metav1.ObjectMeta{
			Name:       "shop-prod-api",
			Namespace:  "builds",
			UID:        "6f1c1a52-3f0e-4a51-9b7e-1c2d3e4f5a6b",
			Generation: 3,
			Labels: map[string]string{
				v1alpha1.LabelProject: "shop",
				v1alpha1.LabelStage:   "prod",
				v1alpha1.LabelService: "api",
			},
		},
		Spec: v1alpha1.ImageBuildSpec{
			Image:      "ghcr.io/acme/shop/api",
			Tags:       []string{"v1.2.0"},
			Push:       true,
			Source:     v1alpha1.BuildSource{Bundle: &v1alpha1.BundleSource{Image: testBundleRef}},
			Dockerfile: "Dockerfile",
			Timeout:    &metav1.Duration{Duration: 30 * time.Minute},
		},
	}
}

func TestBuildGolden(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(ib *v1alpha1.ImageBuild)
	}{
		{"bundle-full", func(ib *v1alpha1.ImageBuild) {
			ib.Labels["team"] = "payments" // not a fleetflow.dev label: stays off the pod
			ib.Spec.Tags = []string{"v1.2.0", "latest"}
			ib.Spec.Target = "runtime"
			ib.Spec.Dockerfile = "./docker//Dockerfile.prod"
			ib.Spec.BuildArgs = []v1alpha1.BuildArg{
				{Name: "VERSION", Value: "1.2.0"},
				{Name: "GO_VERSION", Value: "1.26"},
				{Name: "BASE", Value: "gcr.io/distroless/static:nonroot"},
			}
			ib.Spec.Cache = &v1alpha1.CacheSpec{Repository: "ghcr.io/acme/cache/api"}
			ib.Spec.PushSecretRef = &v1alpha1.LocalSecretReference{Name: "ghcr-push"}
			ib.Spec.ServiceAccountName = "builder"
			ib.Spec.Timeout = &metav1.Duration{Duration: 45*time.Minute + 500*time.Millisecond}
			ib.Spec.Resources = &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")},
			}
		}},
		{"git-subpath", func(ib *v1alpha1.ImageBuild) {
			ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{
				URL:      "https://github.com/acme/shop.git",
				Revision: "main",
				SubPath:  "services/api/",
			}}
			ib.Spec.Dockerfile = "build/Dockerfile"
		}},
		{"push-false", func(ib *v1alpha1.ImageBuild) {
			ib.Spec.Push = false
		}},
		{"cache-disabled", func(ib *v1alpha1.ImageBuild) {
			ib.Spec.Cache = &v1alpha1.CacheSpec{Disabled: true}
			ib.Spec.Timeout = nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ib := newBuild()
			tt.mutate(ib)
			pod, err := Build(ib, 1, testOptions())
			if err != nil {
				t.Fatalf("Build: %v", err)
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
			assertPodInvariants(t, ib, pod)
		})
	}
}

// assertPodInvariants checks the properties every build pod must have, independent of the golden
// files, so that a careless -update cannot bless a broken pod.
func assertPodInvariants(t *testing.T, ib *v1alpha1.ImageBuild, pod *corev1.Pod) {
	t.Helper()
	if errs := validation.IsDNS1123Label(pod.Name); len(errs) > 0 {
		t.Errorf("pod name %q: %v", pod.Name, errs)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %q", pod.Spec.RestartPolicy)
	}
	if len(pod.OwnerReferences) != 1 {
		t.Fatalf("owner references = %v", pod.OwnerReferences)
	}
	ref := pod.OwnerReferences[0]
	if ref.APIVersion != "build.fleetflow.dev/v1alpha1" || ref.Kind != "ImageBuild" || ref.UID != ib.UID || ref.Name != ib.Name ||
		ref.Controller == nil || !*ref.Controller || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("owner reference = %+v", ref)
	}
	for k, v := range pod.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			t.Errorf("label key %q: %v", k, errs)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("label %s=%q: %v", k, v, errs)
		}
	}
	if pod.Labels[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue || pod.Labels[v1alpha1.LabelImageBuild] != ib.Name {
		t.Errorf("labels = %v", pod.Labels)
	}
	if _, ok := pod.Labels["team"]; ok {
		t.Errorf("a non-fleetflow label was copied: %v", pod.Labels)
	}
	kaniko := pod.Spec.Containers[0]
	if kaniko.Name != KanikoContainer || kaniko.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		t.Errorf("kaniko container = %+v", kaniko)
	}
	if !slices.Contains(kaniko.Args, "--digest-file=/dev/termination-log") {
		t.Errorf("kaniko args lack the digest file: %v", kaniko.Args)
	}
	var dests []string
	for _, a := range kaniko.Args {
		if d, ok := strings.CutPrefix(a, "--destination="); ok {
			dests = append(dests, d)
		}
	}
	for i, tag := range ib.Spec.Tags {
		if i >= len(dests) || dests[i] != ib.Spec.Image+":"+tag {
			t.Errorf("destinations = %v, want one per tag of %v in order", dests, ib.Spec.Tags)
		}
	}
	if slices.Contains(kaniko.Args, "--no-push") == ib.Spec.Push {
		t.Errorf("--no-push present = %v with spec.push = %v", !ib.Spec.Push, ib.Spec.Push)
	}
	// Only the Secret's name may appear; its contents reach the pod solely as a file.
	var everything []string
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		everything = append(everything, c.Args...)
		everything = append(everything, c.Command...)
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				t.Errorf("container %s takes env %s from a reference: credentials must come only from the mounted file", c.Name, e.Name)
			}
			everything = append(everything, e.Name+"="+e.Value)
		}
	}
	joined := strings.ToLower(strings.Join(everything, " "))
	for _, bad := range []string{"password", "token", "auths", ".dockerconfigjson"} {
		if strings.Contains(joined, bad) {
			t.Errorf("pod args or env contain %q: %s", bad, joined)
		}
	}
	if ib.Spec.ServiceAccountName == "" {
		if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
			t.Errorf("service account token mounted without spec.serviceAccountName")
		}
	}
	// What the fetcher writes is bounded on disk and in time: every volume it fills has the
	// extraction limit as its size limit, and it stops at the build's own timeout.
	for _, v := range pod.Spec.Volumes {
		if v.Name != workspaceVolume && v.Name != downloadVolume {
			continue
		}
		if v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.Value() != bundle.DefaultLimits.MaxBytes {
			t.Errorf("emptyDir %s has size limit %v, want the extraction limit %d", v.Name, v.EmptyDir.SizeLimit, bundle.DefaultLimits.MaxBytes)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name != FetchContainer {
			continue
		}
		timeout := DefaultTimeout
		if ib.Spec.Timeout != nil {
			timeout = ib.Spec.Timeout.Duration
		}
		if !slices.Contains(c.Args, "--timeout="+timeout.String()) {
			t.Errorf("fetch-source args %v do not carry the build's timeout %s", c.Args, timeout)
		}
		if !slices.Contains(c.Args, "--scratch="+DownloadDir) {
			t.Errorf("fetch-source args %v download nowhere to verify the bundle first", c.Args)
		}
	}
	// Every pod reports its user namespace from its first init container, which runs before Kaniko.
	if pod.Spec.HostUsers == nil || *pod.Spec.HostUsers {
		t.Errorf("hostUsers = %v, want false by default", pod.Spec.HostUsers)
	}
	if len(pod.Spec.InitContainers) == 0 {
		t.Fatalf("no init container reports the user namespace")
	}
	first := pod.Spec.InitContainers[0]
	if first.Name != FetchContainer && first.Name != ProbeContainer || first.TerminationMessagePath != TerminationLogPath {
		t.Errorf("first init container %s (termination message at %q) does not report the user namespace", first.Name, first.TerminationMessagePath)
	}
	if first.Name == ProbeContainer {
		want := []string{"userns-probe"}
		if g := ib.Spec.Source.Git; g != nil && !v1alpha1.GitCommitRE.MatchString(g.Revision) {
			// A branch or tag: the probe finds out which commit it names.
			want = append(want, "--git-url="+g.URL, "--git-revision="+g.Revision)
		}
		if !slices.Equal(first.Args, want) {
			t.Errorf("probe args = %q, want %q", first.Args, want)
		}
	}
	// Credentials reach containers only by reference to their Secret.
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, e := range c.Env {
			if strings.HasPrefix(e.Name, "GIT_") && e.Name != "GIT_PULL_METHOD" && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
				t.Errorf("container %s gets %s other than from a Secret: %+v", c.Name, e.Name, e)
			}
		}
	}
}

func TestBuildArgs(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(ib *v1alpha1.ImageBuild)
		want   []string // must appear, in this relative order
		absent []string
		env    map[string]string
	}{
		{
			name: "build args sorted by name",
			mutate: func(ib *v1alpha1.ImageBuild) {
				ib.Spec.BuildArgs = []v1alpha1.BuildArg{{Name: "Z", Value: "1"}, {Name: "A", Value: "x=y z"}, {Name: "M", Value: ""}}
			},
			want: []string{"--build-arg=A=x=y z", "--build-arg=M=", "--build-arg=Z=1"},
		},
		{
			name:   "default cache repository",
			mutate: func(ib *v1alpha1.ImageBuild) {},
			want:   []string{"--cache=true", "--cache-repo=ghcr.io/acme/shop/api/cache"},
		},
		{
			name:   "no cache without push",
			mutate: func(ib *v1alpha1.ImageBuild) { ib.Spec.Push = false },
			want:   []string{"--no-push"},
			absent: []string{"--cache=true", "--cache-repo=ghcr.io/acme/shop/api/cache"},
		},
		{
			name:   "empty dockerfile means Dockerfile",
			mutate: func(ib *v1alpha1.ImageBuild) { ib.Spec.Dockerfile = "" },
			want:   []string{"--context=dir:///workspace", "--dockerfile=/workspace/Dockerfile"},
		},
		{
			name: "git commit SHA goes into the fragment",
			mutate: func(ib *v1alpha1.ImageBuild) {
				ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://github.com/acme/shop.git", Revision: "0123456789ABCDEF0123456789abcdef01234567"}}
			},
			want:   []string{"--context=git://github.com/acme/shop.git#0123456789abcdef0123456789abcdef01234567", "--dockerfile=Dockerfile"},
			absent: []string{"--git=branch=0123456789ABCDEF0123456789abcdef01234567"},
			env:    map[string]string{"GIT_PULL_METHOD": "https"},
		},
		{
			name: "git commit pinned with its branch: clone the branch, check the commit out",
			mutate: func(ib *v1alpha1.ImageBuild) {
				ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://git.example.com/acme/shop.git", Revision: "0123456789ABCDEF0123456789abcdef01234567", Ref: "refs/heads/main"}}
			},
			want:   []string{"--context=git://git.example.com/acme/shop.git#refs/heads/main#0123456789abcdef0123456789abcdef01234567"},
			absent: []string{"--git=branch=main"},
		},
		{
			name: "git commit pinned with its tag",
			mutate: func(ib *v1alpha1.ImageBuild) {
				ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://git.example.com/acme/shop.git", Revision: strings.Repeat("a", 40), Ref: "refs/tags/v1.2.0"}}
			},
			want: []string{"--context=git://git.example.com/acme/shop.git#refs/tags/v1.2.0#" + strings.Repeat("a", 40)},
		},
		{
			name: "git full ref goes into the fragment",
			mutate: func(ib *v1alpha1.ImageBuild) {
				ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://github.com/acme/shop.git", Revision: "refs/tags/v1.2.0"}}
			},
			want: []string{"--context=git://github.com/acme/shop.git#refs/tags/v1.2.0"},
		},
		{
			name: "git short tag name uses --git=branch",
			mutate: func(ib *v1alpha1.ImageBuild) {
				ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://git.example.com/acme/shop", Revision: "v1.2.0"}}
			},
			want: []string{"--context=git://git.example.com/acme/shop", "--git=branch=v1.2.0"},
		},
		{
			name: "git over http and default branch",
			mutate: func(ib *v1alpha1.ImageBuild) {
				ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "http://gitea.local:3000/acme/shop.git", SubPath: "."}}
			},
			want:   []string{"--context=git://gitea.local:3000/acme/shop.git", "--dockerfile=Dockerfile"},
			absent: []string{"--context-sub-path=."},
			env:    map[string]string{"GIT_PULL_METHOD": "http"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ib := newBuild()
			tt.mutate(ib)
			pod, err := Build(ib, 1, testOptions())
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			assertPodInvariants(t, ib, pod)
			args := pod.Spec.Containers[0].Args
			last := -1
			for _, w := range tt.want {
				i := slices.Index(args, w)
				if i < 0 {
					t.Errorf("args lack %q: %q", w, args)
					continue
				}
				if i < last {
					t.Errorf("%q out of order in %q", w, args)
				}
				last = i
			}
			for _, a := range tt.absent {
				if slices.Contains(args, a) {
					t.Errorf("args contain %q: %q", a, args)
				}
			}
			for k, v := range tt.env {
				found := false
				for _, e := range pod.Spec.Containers[0].Env {
					found = found || (e.Name == k && e.Value == v)
				}
				if !found {
					t.Errorf("env lacks %s=%s: %v", k, v, pod.Spec.Containers[0].Env)
				}
			}
			if ib.Spec.Source.Git != nil {
				if len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Name != ProbeContainer ||
					len(pod.Spec.InitContainers[0].VolumeMounts) != 0 || len(pod.Spec.Volumes) != 0 {
					t.Errorf("a git source needs only the user namespace probe, with nothing mounted: init containers %+v, volumes %+v",
						pod.Spec.InitContainers, pod.Spec.Volumes)
				}
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(ib *v1alpha1.ImageBuild, opts *Options)
		attempt int32
		want    string // substring of the error
	}{
		{"attempt zero", func(*v1alpha1.ImageBuild, *Options) {}, 0, "attempts count from 1"},
		{"no UID", func(ib *v1alpha1.ImageBuild, _ *Options) { ib.UID = "" }, 1, "has no UID"},
		{"no fetcher image", func(_ *v1alpha1.ImageBuild, o *Options) { o.FetcherImage = "" }, 1, "--fetcher-image"},
		{"bundle by tag", func(ib *v1alpha1.ImageBuild, _ *Options) { ib.Spec.Source.Bundle.Image = "ghcr.io/acme/src:latest" }, 1, "by digest"},
		{"both sources", func(ib *v1alpha1.ImageBuild, _ *Options) {
			ib.Spec.Source.Git = &v1alpha1.GitSource{URL: "https://github.com/acme/shop.git"}
		}, 1, "exactly one of bundle or git"},
		{"no tags", func(ib *v1alpha1.ImageBuild, _ *Options) { ib.Spec.Tags = nil }, 1, "spec.tags is empty"},
		{"bad tag", func(ib *v1alpha1.ImageBuild, _ *Options) { ib.Spec.Tags = []string{"-bad"} }, 1, `invalid tag "-bad"`},
		{"dockerfile escapes", func(ib *v1alpha1.ImageBuild, _ *Options) { ib.Spec.Dockerfile = "../Dockerfile" }, 1, "spec.dockerfile"},
		{"dockerfile absolute", func(ib *v1alpha1.ImageBuild, _ *Options) { ib.Spec.Dockerfile = "/etc/Dockerfile" }, 1, "spec.dockerfile"},
		{"zero timeout", func(ib *v1alpha1.ImageBuild, _ *Options) { ib.Spec.Timeout = &metav1.Duration{} }, 1, "spec.timeout"},
		{"resource claims", func(ib *v1alpha1.ImageBuild, _ *Options) {
			ib.Spec.Resources = &corev1.ResourceRequirements{Claims: []corev1.ResourceClaim{{Name: "gpu"}}}
		}, 1, "spec.resources.claims"},
		{"git ssh url", func(ib *v1alpha1.ImageBuild, _ *Options) {
			ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "ssh://git@github.com/acme/shop.git"}}
		}, 1, "must start with https://"},
		{"git url with fragment", func(ib *v1alpha1.ImageBuild, _ *Options) {
			ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://github.com/acme/shop.git#main"}}
		}, 1, "spec.source.git.revision"},
		{"git subPath escapes", func(ib *v1alpha1.ImageBuild, _ *Options) {
			ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://github.com/acme/shop.git", SubPath: "a/../../b"}}
		}, 1, "spec.source.git.subPath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ib, opts := newBuild(), testOptions()
			tt.mutate(ib, &opts)
			pod, err := Build(ib, tt.attempt, opts)
			if err == nil {
				t.Fatalf("Build succeeded: %v", pod.Spec.Containers[0].Args)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestBuildRefusesCredentialsInGitURL(t *testing.T) {
	ib := newBuild()
	ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://alice:s3cr3t-t0ken@github.com/acme/private.git"}}
	_, err := Build(ib, 1, testOptions())
	if err == nil {
		t.Fatal("Build accepted a URL with credentials")
	}
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "alice") {
		t.Errorf("the error repeats the credentials: %v", err)
	}
	if !strings.Contains(err.Error(), "github.com/acme/private.git") {
		t.Errorf("the error does not name the repository: %v", err)
	}
}

func TestBuildDefaults(t *testing.T) {
	ib := newBuild()
	ib.Spec.Timeout = nil
	pod, err := Build(ib, 2, Options{FetcherImage: "fetcher:1", PullPolicy: corev1.PullIfNotPresent})
	if err != nil {
		t.Fatal(err)
	}
	if got := *pod.Spec.ActiveDeadlineSeconds; got != int64(DefaultTimeout/time.Second) {
		t.Errorf("activeDeadlineSeconds = %d, want %d", got, int64(DefaultTimeout/time.Second))
	}
	if pod.Spec.Containers[0].Image != DefaultExecutorImage {
		t.Errorf("executor image = %q", pod.Spec.Containers[0].Image)
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if c.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("container %s pull policy = %q", c.Name, c.ImagePullPolicy)
		}
	}
	if !slices.Contains(pod.Spec.Containers[0].Args, "--push-retry=0") {
		t.Errorf("PushRetry 0 must mean no retries: %v", pod.Spec.Containers[0].Args)
	}
	if pod.Labels[v1alpha1.LabelAttempt] != "2" || pod.Labels[v1alpha1.LabelGeneration] != "3" {
		t.Errorf("labels = %v", pod.Labels)
	}
	if pod.Name != "shop-prod-api-g3-2" {
		t.Errorf("pod name = %q", pod.Name)
	}
}

func TestPodName(t *testing.T) {
	long := strings.Repeat("a-very-long-service-name-", 9) + "x" // 226 characters
	build := func(name string, gen int64) *v1alpha1.ImageBuild {
		return &v1alpha1.ImageBuild{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: gen}}
	}
	tests := []struct {
		name    string
		ib      *v1alpha1.ImageBuild
		attempt int32
		want    string // exact, or "" to check only the invariants
	}{
		{"short", build("api", 1), 1, "api-g1-1"},
		{"generation and attempt", build("api", 12), 3, "api-g12-3"},
		{"fits exactly", build(strings.Repeat("a", 57), 1), 1, strings.Repeat("a", 57) + "-g1-1"},
		{"one too long", build(strings.Repeat("a", 58), 1), 1, ""},
		{"long", build(long, 7), 2, ""},
		{"long with huge generation", build(long, 1<<62), 1<<31 - 1, ""},
		{"dotted", build("shop.prod.api", 1), 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PodName(tt.ib, tt.attempt)
			if tt.want != "" && got != tt.want {
				t.Errorf("PodName = %q, want %q", got, tt.want)
			}
			if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
				t.Errorf("PodName = %q (%d chars): %v", got, len(got), errs)
			}
			suffix := fmt.Sprintf("-g%d-%d", tt.ib.Generation, tt.attempt)
			if !strings.HasSuffix(got, suffix) {
				t.Errorf("PodName = %q lacks %q", got, suffix)
			}
			if again := PodName(tt.ib.DeepCopy(), tt.attempt); again != got {
				t.Errorf("PodName not deterministic: %q then %q", got, again)
			}
		})
	}

	// Distinct builds, generations and attempts never share a pod name, even when the names are
	// cut to the same prefix or differ only where dots were replaced.
	seen := map[string]string{}
	for _, name := range []string{long, long + "y", strings.Repeat("a", 58), strings.Repeat("a", 59), "shop.prod.api", "shop-prod-api", "shop-prod.api"} {
		for gen := int64(1); gen <= 2; gen++ {
			for attempt := int32(1); attempt <= 2; attempt++ {
				key := fmt.Sprintf("%s gen %d attempt %d", name, gen, attempt)
				n := PodName(build(name, gen), attempt)
				if other, dup := seen[n]; dup {
					t.Errorf("%s and %s both get pod name %q", other, key, n)
				}
				seen[n] = key
			}
		}
	}
}

// TestGoldenFilesAreCurrent guards against golden files left behind by a renamed case.
func TestGoldenFilesAreCurrent(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	valid := regexp.MustCompile(`^(bundle-full|git-subpath|push-false|cache-disabled|platform-native-arm64|platform-emulated-arm-v7-no-push|platform-git-no-cache)\.yaml$`)
	for _, f := range files {
		if !valid.MatchString(filepath.Base(f)) {
			t.Errorf("stale golden file %s", f)
		}
	}
}

func TestBadGitURLDoesNotLeakCredentials(t *testing.T) {
	ib := &v1alpha1.ImageBuild{}
	ib.Name, ib.Namespace, ib.Generation = "b", "ns", 1
	ib.Spec.Image, ib.Spec.Tags, ib.Spec.Push = "ghcr.io/org/app", []string{"v1"}, true
	ib.Spec.Source.Git = &v1alpha1.GitSource{URL: "https://user:s3cret-token@host:badport/x.git"}
	_, err := Build(ib, 1, Options{ExecutorImage: DefaultExecutorImage, FetcherImage: "f:1"})
	if err == nil {
		t.Fatal("a malformed git URL was accepted")
	}
	if strings.Contains(err.Error(), "s3cret-token") {
		t.Errorf("the error repeats the token: %v", err)
	}
}

// A private repository's credentials reach the probe and Kaniko as references to the Secret's
// keys, under the names Kaniko reads, and nowhere else in the pod.
func TestBuildGitSecret(t *testing.T) {
	ib := newBuild()
	ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{
		URL: "https://git.example.com/acme/private.git", Revision: "main", SecretRef: &v1alpha1.LocalSecretReference{Name: "git-cred"}}}
	pod, err := Build(ib, 1, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"GIT_USERNAME": "username", "GIT_PASSWORD": "password"}
	for _, c := range []corev1.Container{pod.Spec.InitContainers[0], pod.Spec.Containers[0]} {
		got := map[string]string{}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				if e.ValueFrom.SecretKeyRef.Name != "git-cred" || e.ValueFrom.SecretKeyRef.Optional != nil {
					t.Errorf("%s: %s from %+v", c.Name, e.Name, e.ValueFrom.SecretKeyRef)
				}
				got[e.Name] = e.ValueFrom.SecretKeyRef.Key
			}
		}
		if len(got) != 2 || got["GIT_USERNAME"] != want["GIT_USERNAME"] || got["GIT_PASSWORD"] != want["GIT_PASSWORD"] {
			t.Errorf("%s: credentials from the Secret %v, want %v", c.Name, got, want)
		}
		for _, a := range c.Args {
			if strings.Contains(a, "git-cred") || strings.Contains(a, "@git.example.com") {
				t.Errorf("%s: argument %q names the credentials", c.Name, a)
			}
		}
	}
	if f := factsOf(pod); f.gitSecret != "git-cred" || f.gitURL != "https://git.example.com/acme/private.git" {
		t.Errorf("facts: secret %q, url %q", f.gitSecret, f.gitURL)
	}

	// Without a secretRef the clone is anonymous: no credential variables at all.
	ib.Spec.Source.Git.SecretRef = nil
	pod, err = Build(ib, 1, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append(pod.Spec.InitContainers[0].Env, pod.Spec.Containers[0].Env...) {
		if e.Name == "GIT_USERNAME" || e.Name == "GIT_PASSWORD" {
			t.Errorf("anonymous clone has %s", e.Name)
		}
	}
}
