package v1alpha1

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The tag grammar is written twice, in TagPattern for Go code and in the marker that becomes the
// CRD's schema; the API server and the Go code must agree on it.
func TestTagPatternMatchesCRD(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "build.fleetflow.dev_imagebuilds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema struct {
						Properties struct {
							Spec struct {
								Properties struct {
									Tags struct {
										Items struct {
											Pattern string `json:"pattern"`
										} `json:"items"`
									} `json:"tags"`
									Platforms struct {
										Validations []struct {
											Rule string `json:"rule"`
										} `json:"x-kubernetes-validations"`
									} `json:"platforms"`
								} `json:"properties"`
							} `json:"spec"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range crd.Spec.Versions {
		if v.Name != GroupVersion.Version {
			continue
		}
		found = true
		if got := v.Schema.OpenAPIV3Schema.Properties.Spec.Properties.Tags.Items.Pattern; got != TagPattern {
			t.Errorf("the CRD's spec.tags pattern is %q, TagPattern is %q", got, TagPattern)
		}
		platformRule := false
		for _, r := range v.Schema.OpenAPIV3Schema.Properties.Spec.Properties.Platforms.Validations {
			platformRule = platformRule || strings.Contains(r.Rule, "p.matches('"+PlatformPattern+"')")
		}
		if !platformRule {
			t.Errorf("no validation rule of the CRD's spec.platforms matches PlatformPattern %q", PlatformPattern)
		}
	}
	if !found {
		t.Fatalf("the CRD serves no version %s", GroupVersion.Version)
	}
	re := regexp.MustCompile(TagPattern)
	for tag, want := range map[string]bool{"v1.2.0": true, "latest": true, "_x": true, ".hidden": false, "-x": false, "a/b": false, "": false} {
		if re.MatchString(tag) != want {
			t.Errorf("TagPattern matches %q = %v, want %v", tag, !want, want)
		}
	}
}
