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

// The bounds of status.failureLog.tail are written twice, as constants for the operator and as
// markers for the CRD's schema: the API server must accept every tail the operator writes.
func TestFailureLogBoundsMatchCRD(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "build.fleetflow.dev_imagebuilds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	path := []string{"spec", "versions", "0", "schema", "openAPIV3Schema", "properties", "status", "properties", "failureLog", "properties", "tail"}
	var node any = crd
	for _, k := range path {
		switch n := node.(type) {
		case map[string]any:
			node = n[k]
		case []any:
			node = n[0]
		}
		if node == nil {
			t.Fatalf("the CRD has no %s", strings.Join(path, "."))
		}
	}
	tail := node.(map[string]any)
	items, _ := tail["items"].(map[string]any)
	if got, _ := tail["maxItems"].(float64); int(got) != FailureLogMaxLines {
		t.Errorf("the CRD's status.failureLog.tail allows %v lines, FailureLogMaxLines is %d", tail["maxItems"], FailureLogMaxLines)
	}
	if got, _ := items["maxLength"].(float64); int(got) != FailureLogMaxLineBytes {
		t.Errorf("the CRD's status.failureLog.tail lines may be %v long, FailureLogMaxLineBytes is %d", items["maxLength"], FailureLogMaxLineBytes)
	}
	if FailureLogMaxBytes < FailureLogMaxLineBytes {
		t.Errorf("FailureLogMaxBytes %d cannot hold one line of FailureLogMaxLineBytes %d", FailureLogMaxBytes, FailureLogMaxLineBytes)
	}
}
