package scheme

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// The CLI, the manager and the tests all decode Pods, Secrets and ImageBuilds with this scheme.
func TestNewKnowsBuiltinsAndImageBuilds(t *testing.T) {
	s := New()
	for _, gvk := range []schema.GroupVersionKind{
		corev1.SchemeGroupVersion.WithKind("Pod"),
		corev1.SchemeGroupVersion.WithKind("Secret"),
		buildv1.ImageBuildKind,
		buildv1.GroupVersion.WithKind("ImageBuildList"),
	} {
		if !s.Recognizes(gvk) {
			t.Errorf("the scheme does not know %v", gvk)
		}
	}
}
