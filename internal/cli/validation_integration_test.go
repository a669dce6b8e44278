package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// The Go validation the CLI applies before it renders or pushes anything (ImageBuildSpec.Validate)
// and the CRD the API server enforces must agree: on every spec of the table, both accept or both
// refuse.
func TestIntegration_GoValidationAgreesWithTheCRD(t *testing.T) {
	if restCfg == nil {
		t.Skip("integration test: needs KUBEBUILDER_ASSETS (make test-integration)")
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "flow-validate-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })

	bundle := "ghcr.io/org/app@sha256:" + strings.Repeat("a", 64)
	valid := func() buildv1.ImageBuildSpec {
		return buildv1.ImageBuildSpec{Image: "ghcr.io/org/app", Tags: []string{"v1"}, Push: true,
			Source: buildv1.BuildSource{Bundle: &buildv1.BundleSource{Image: bundle}}}
	}
	ttl := func(n int32) *int32 { return &n }
	for name, edit := range map[string]func(s *buildv1.ImageBuildSpec){
		"valid":                         func(*buildv1.ImageBuildSpec) {},
		"docker hub namespace/name":     func(s *buildv1.ImageBuildSpec) { s.Image = "myuser/myapp" },
		"registry with one component":   func(s *buildv1.ImageBuildSpec) { s.Image = "localhost:5000/app" },
		"IPv6 registry":                 func(s *buildv1.ImageBuildSpec) { s.Image = "[::1]:5000/team/app" },
		"local name canonicalised":      func(s *buildv1.ImageBuildSpec) { s.Image = "docker.io/library/myapp"; s.Push = false },
		"image without registry":        func(s *buildv1.ImageBuildSpec) { s.Image = "myapp" },
		"image with a tag":              func(s *buildv1.ImageBuildSpec) { s.Image = "ghcr.io/org/app:v1" },
		"image with a digest":           func(s *buildv1.ImageBuildSpec) { s.Image = "ghcr.io/org/app@sha256:" + strings.Repeat("b", 64) },
		"image uppercase":               func(s *buildv1.ImageBuildSpec) { s.Image = "ghcr.io/Org/app" },
		"image too short":               func(s *buildv1.ImageBuildSpec) { s.Image = "a/" },
		"image too long":                func(s *buildv1.ImageBuildSpec) { s.Image = "ghcr.io/" + strings.Repeat("a", 250) },
		"no tags":                       func(s *buildv1.ImageBuildSpec) { s.Tags = nil },
		"tag starting with a dash":      func(s *buildv1.ImageBuildSpec) { s.Tags = []string{"-x"} },
		"tag with a slash":              func(s *buildv1.ImageBuildSpec) { s.Tags = []string{"feature/x"} },
		"duplicate tags":                func(s *buildv1.ImageBuildSpec) { s.Tags = []string{"a", "a"} },
		"16 tags":                       func(s *buildv1.ImageBuildSpec) { s.Tags = manyTags(16) },
		"17 tags":                       func(s *buildv1.ImageBuildSpec) { s.Tags = manyTags(17) },
		"build arg with a dash":         func(s *buildv1.ImageBuildSpec) { s.BuildArgs = []buildv1.BuildArg{{Name: "my-arg", Value: "x"}} },
		"build arg starting with digit": func(s *buildv1.ImageBuildSpec) { s.BuildArgs = []buildv1.BuildArg{{Name: "1A"}} },
		"build arg _ok":                 func(s *buildv1.ImageBuildSpec) { s.BuildArgs = []buildv1.BuildArg{{Name: "_ok", Value: "v"}} },
		"duplicate build args":          func(s *buildv1.ImageBuildSpec) { s.BuildArgs = []buildv1.BuildArg{{Name: "A"}, {Name: "A"}} },
		"build arg value 4096": func(s *buildv1.ImageBuildSpec) {
			s.BuildArgs = []buildv1.BuildArg{{Name: "A", Value: strings.Repeat("v", 4096)}}
		},
		"build arg value 4097": func(s *buildv1.ImageBuildSpec) {
			s.BuildArgs = []buildv1.BuildArg{{Name: "A", Value: strings.Repeat("v", 4097)}}
		},
		"65 build args":              func(s *buildv1.ImageBuildSpec) { s.BuildArgs = manyArgs(65) },
		"target with a space":        func(s *buildv1.ImageBuildSpec) { s.Target = "my stage" },
		"target starting with a dot": func(s *buildv1.ImageBuildSpec) { s.Target = ".x" },
		"target runtime-1.2_x":       func(s *buildv1.ImageBuildSpec) { s.Target = "runtime-1.2_x" },
		"dockerfile absolute":        func(s *buildv1.ImageBuildSpec) { s.Dockerfile = "/Dockerfile" },
		"dockerfile with ..":         func(s *buildv1.ImageBuildSpec) { s.Dockerfile = "a/../../Dockerfile" },
		"dockerfile with ..x":        func(s *buildv1.ImageBuildSpec) { s.Dockerfile = "..x/Dockerfile" },
		"bundle by tag":              func(s *buildv1.ImageBuildSpec) { s.Source.Bundle.Image = "ghcr.io/org/app:src" },
		"no source":                  func(s *buildv1.ImageBuildSpec) { s.Source = buildv1.BuildSource{} },
		"two sources": func(s *buildv1.ImageBuildSpec) {
			s.Source.Git = &buildv1.GitSource{URL: "https://github.com/o/r.git"}
		},
		"git over https": func(s *buildv1.ImageBuildSpec) {
			s.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "https://github.com/o/r.git", SubPath: "svc/api"}}
		},
		"git pinned with its branch": func(s *buildv1.ImageBuildSpec) {
			s.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "https://github.com/o/r.git", Revision: strings.Repeat("a", 40), Ref: "refs/heads/main"}}
		},
		"git pinned with its tag": func(s *buildv1.ImageBuildSpec) {
			s.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "https://github.com/o/r.git", Revision: strings.Repeat("A", 40), Ref: "refs/tags/v1.2.0"}}
		},
		"git ref with a branch revision": func(s *buildv1.ImageBuildSpec) {
			s.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "https://github.com/o/r.git", Revision: "main", Ref: "refs/heads/main"}}
		},
		"git ref without revision": func(s *buildv1.ImageBuildSpec) {
			s.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "https://github.com/o/r.git", Ref: "refs/heads/main"}}
		},
		"git ref short name": func(s *buildv1.ImageBuildSpec) {
			s.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "https://github.com/o/r.git", Revision: strings.Repeat("a", 40), Ref: "main"}}
		},
		"git ref with a hash sign": func(s *buildv1.ImageBuildSpec) {
			s.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "https://github.com/o/r.git", Revision: strings.Repeat("a", 40), Ref: "refs/heads/a#b"}}
		},
		"git with a secret": func(s *buildv1.ImageBuildSpec) {
			s.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "https://github.com/o/r.git", SecretRef: &buildv1.LocalSecretReference{Name: "git-cred"}}}
		},
		"git secret without a name": func(s *buildv1.ImageBuildSpec) {
			s.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "https://github.com/o/r.git", SecretRef: &buildv1.LocalSecretReference{}}}
		},
		"git over ssh": func(s *buildv1.ImageBuildSpec) {
			s.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "git@github.com:o/r.git"}}
		},
		"git sub path with ..": func(s *buildv1.ImageBuildSpec) {
			s.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "https://github.com/o/r.git", SubPath: "../x"}}
		},
		"cache repository with push": func(s *buildv1.ImageBuildSpec) { s.Cache = &buildv1.CacheSpec{Repository: "ghcr.io/org/cache"} },
		"cache repository without push": func(s *buildv1.ImageBuildSpec) {
			s.Push = false
			s.Cache = &buildv1.CacheSpec{Repository: "ghcr.io/org/cache"}
		},
		"cache repository with a tag": func(s *buildv1.ImageBuildSpec) { s.Cache = &buildv1.CacheSpec{Repository: "ghcr.io/org/cache:x"} },
		"timeout 10s":                 func(s *buildv1.ImageBuildSpec) { s.Timeout = &metav1.Duration{Duration: 10 * time.Second} },
		"timeout 9s":                  func(s *buildv1.ImageBuildSpec) { s.Timeout = &metav1.Duration{Duration: 9 * time.Second} },
		"timeout 25h":                 func(s *buildv1.ImageBuildSpec) { s.Timeout = &metav1.Duration{Duration: 25 * time.Hour} },
		"ttl 0":                       func(s *buildv1.ImageBuildSpec) { s.TTLSecondsAfterFinished = ttl(0) },
		"ttl negative":                func(s *buildv1.ImageBuildSpec) { s.TTLSecondsAfterFinished = ttl(-1) },
		"push secret":                 func(s *buildv1.ImageBuildSpec) { s.PushSecretRef = &buildv1.LocalSecretReference{Name: "regcred"} },
		"service account 254 chars":   func(s *buildv1.ImageBuildSpec) { s.ServiceAccountName = strings.Repeat("a", 254) },
	} {
		spec := valid()
		edit(&spec)
		goErrs := spec.Validate()
		ib := &buildv1.ImageBuild{ObjectMeta: metav1.ObjectMeta{GenerateName: "v-", Namespace: ns.Name}, Spec: spec}
		serverErr := k8s.Create(context.Background(), ib, client.DryRunAll)
		if serverErr != nil && !apierrors.IsInvalid(serverErr) {
			t.Fatalf("%s: the API server: %v", name, serverErr)
		}
		if (len(goErrs) == 0) != (serverErr == nil) {
			t.Errorf("%s: Go validation %v, API server %v: they disagree", name, goErrs, serverErr)
		}
	}
}

func manyTags(n int) []string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = "t" + strings.Repeat("x", i)
	}
	return tags
}

func manyArgs(n int) []buildv1.BuildArg {
	args := make([]buildv1.BuildArg, n)
	for i := range args {
		args[i] = buildv1.BuildArg{Name: "A" + strings.Repeat("x", i)}
	}
	return args
}
