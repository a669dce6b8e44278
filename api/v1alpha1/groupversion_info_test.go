package v1alpha1

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// AddToScheme must register both kinds under the group version the CRD serves, plus the meta types
// (WatchEvent, the list options, Status) that clients need to list and watch them; a missing one
// only shows up at run time.
func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatalf("AddToScheme: %v", err)
	}
	tests := []struct {
		kind string
		obj  runtime.Object
	}{
		{"ImageBuild", &ImageBuild{}},
		{"ImageBuildList", &ImageBuildList{}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			gvks, _, err := s.ObjectKinds(tt.obj)
			if err != nil {
				t.Fatalf("ObjectKinds: %v", err)
			}
			want := GroupVersion.WithKind(tt.kind)
			if len(gvks) != 1 || gvks[0] != want {
				t.Errorf("ObjectKinds = %v, want [%v]", gvks, want)
			}
		})
	}
	for _, gvk := range []schema.GroupVersionKind{
		GroupVersion.WithKind("WatchEvent"),
		GroupVersion.WithKind("ListOptions"),
		{Version: "v1", Kind: "Status"},
	} {
		if !s.Recognizes(gvk) {
			t.Errorf("the scheme does not recognise %v", gvk)
		}
	}
}
