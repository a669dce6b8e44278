package v1alpha1

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func validSpec() ImageBuildSpec {
	return ImageBuildSpec{
		Image: "ghcr.io/org/app", Tags: []string{"v1"}, Push: true,
		Source: BuildSource{Bundle: &BundleSource{Image: "ghcr.io/org/app@sha256:" + strings.Repeat("a", 64)}},
	}
}

// TestValidate: one row per rule of the CRD; the integration tier checks the same table against a
// real API server (internal/cli TestIntegration_GoValidationAgreesWithTheCRD).
func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		edit  func(s *ImageBuildSpec)
		field string // "" for a valid spec
	}{
		"valid":                      {func(*ImageBuildSpec) {}, ""},
		"docker hub name":            {func(s *ImageBuildSpec) { s.Image = "myuser/myapp" }, ""},
		"registry and one component": {func(s *ImageBuildSpec) { s.Image = "localhost:5000/app" }, ""},
		"image without registry":     {func(s *ImageBuildSpec) { s.Image = "myapp" }, "spec.image"},
		"image with tag":             {func(s *ImageBuildSpec) { s.Image = "ghcr.io/org/app:v1" }, "spec.image"},
		"image uppercase":            {func(s *ImageBuildSpec) { s.Image = "ghcr.io/Org/app" }, "spec.image"},
		"no tags":                    {func(s *ImageBuildSpec) { s.Tags = nil }, "spec.tags"},
		"bad tag":                    {func(s *ImageBuildSpec) { s.Tags = []string{"-x"} }, "spec.tags[0]"},
		"duplicate tags":             {func(s *ImageBuildSpec) { s.Tags = []string{"a", "a"} }, "spec.tags[1]"},
		"too many tags":              {func(s *ImageBuildSpec) { s.Tags = strings.Split(strings.Repeat("t,", 17)[:33], ",") }, "spec.tags"},
		"build arg with a dash":      {func(s *ImageBuildSpec) { s.BuildArgs = []BuildArg{{Name: "my-arg"}} }, "spec.buildArgs[0].name"},
		"build arg starting digit":   {func(s *ImageBuildSpec) { s.BuildArgs = []BuildArg{{Name: "1A"}} }, "spec.buildArgs[0].name"},
		"duplicate build args":       {func(s *ImageBuildSpec) { s.BuildArgs = []BuildArg{{Name: "A"}, {Name: "A"}} }, "spec.buildArgs[1]"},
		"long build arg value":       {func(s *ImageBuildSpec) { s.BuildArgs = []BuildArg{{Name: "A", Value: strings.Repeat("v", 4097)}} }, "spec.buildArgs[0].value"},
		"target with a space":        {func(s *ImageBuildSpec) { s.Target = "my stage" }, "spec.target"},
		"dockerfile with ..":         {func(s *ImageBuildSpec) { s.Dockerfile = "../Dockerfile" }, "spec.dockerfile"},
		"bundle by tag":              {func(s *ImageBuildSpec) { s.Source.Bundle.Image = "ghcr.io/org/app:src" }, "spec.source.bundle.image"},
		"two sources":                {func(s *ImageBuildSpec) { s.Source.Git = &GitSource{URL: "https://x/y.git"} }, "spec.source"},
		"git over ssh":               {func(s *ImageBuildSpec) { s.Source = BuildSource{Git: &GitSource{URL: "git@x:y.git"}} }, "spec.source.git.url"},
		"git pinned with its branch": {func(s *ImageBuildSpec) {
			s.Source = BuildSource{Git: &GitSource{URL: "https://x/y.git", Revision: strings.Repeat("a", 40), Ref: "refs/heads/main"}}
		}, ""},
		"git ref with a branch revision": {func(s *ImageBuildSpec) {
			s.Source = BuildSource{Git: &GitSource{URL: "https://x/y.git", Revision: "main", Ref: "refs/heads/main"}}
		}, "spec.source.git"},
		"git ref short name": {func(s *ImageBuildSpec) {
			s.Source = BuildSource{Git: &GitSource{URL: "https://x/y.git", Revision: strings.Repeat("a", 40), Ref: "main"}}
		}, "spec.source.git.ref"},
		"git secret without a name": {func(s *ImageBuildSpec) {
			s.Source = BuildSource{Git: &GitSource{URL: "https://x/y.git", SecretRef: &LocalSecretReference{}}}
		}, "spec.source.git.secretRef.name"},
		"cache repository, no push":  {func(s *ImageBuildSpec) { s.Push = false; s.Cache = &CacheSpec{Repository: "ghcr.io/org/c"} }, "spec"},
		"timeout too short":          {func(s *ImageBuildSpec) { s.Timeout = &metav1.Duration{Duration: time.Second} }, "spec.timeout"},
		"negative ttl":               {func(s *ImageBuildSpec) { n := int32(-1); s.TTLSecondsAfterFinished = &n }, "spec.ttlSecondsAfterFinished"},
		"push secret without a name": {func(s *ImageBuildSpec) { s.PushSecretRef = &LocalSecretReference{} }, "spec.pushSecretRef.name"},
	} {
		s := validSpec()
		tc.edit(&s)
		errs := s.Validate()
		switch {
		case tc.field == "" && len(errs) > 0:
			t.Errorf("%s: %v, want valid", name, errs)
		case tc.field != "" && (len(errs) == 0 || errs[0].Field != tc.field):
			t.Errorf("%s: %v, want an error on %s", name, errs, tc.field)
		}
	}
}

// The grammars Go code uses are the CRD's: the markers repeat them, the generated CRD must hold them.
func TestPatternsMatchCRD(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "build.fleetflow.dev_imagebuilds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	spec := dig(t, crd, "spec", "versions", 0, "schema", "openAPIV3Schema", "properties", "spec", "properties").(map[string]any)
	if got := dig(t, spec, "buildArgs", "items", "properties", "name", "pattern"); got != BuildArgNamePattern {
		t.Errorf("CRD buildArgs[].name pattern %q, BuildArgNamePattern %q", got, BuildArgNamePattern)
	}
	if got := dig(t, spec, "buildArgs", "items", "properties", "name", "maxLength"); got != float64(MaxBuildArgNameLength) {
		t.Errorf("CRD buildArgs[].name maxLength %v", got)
	}
	if got := dig(t, spec, "buildArgs", "maxItems"); got != float64(MaxBuildArgs) {
		t.Errorf("CRD buildArgs maxItems %v", got)
	}
	if got := dig(t, spec, "target", "pattern"); got != TargetPattern {
		t.Errorf("CRD target pattern %q, TargetPattern %q", got, TargetPattern)
	}
	if got := dig(t, spec, "tags", "maxItems"); got != float64(MaxTags) {
		t.Errorf("CRD tags maxItems %v", got)
	}
	if got := dig(t, spec, "platforms", "maxItems"); got != float64(MaxPlatforms) {
		t.Errorf("CRD platforms maxItems %v", got)
	}
	if got := dig(t, spec, "platforms", "items", "maxLength"); got != float64(MaxPlatformLength) {
		t.Errorf("CRD platforms items maxLength %v", got)
	}
	var rules []string
	for _, r := range dig(t, spec, "image", "x-kubernetes-validations").([]any) {
		// CEL string literals escape backslashes.
		rules = append(rules, strings.ReplaceAll(r.(map[string]any)["rule"].(string), `\\`, `\`))
	}
	all := strings.Join(rules, "\n")
	for _, p := range []string{RepositoryPattern, RegistryOnlyRepositoryPattern} {
		if !strings.Contains(all, "'"+p+"'") {
			t.Errorf("the CRD's spec.image rules do not hold %s", p)
		}
	}
}

func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("no %q in the CRD", k)
			}
			v = m[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}
