// Package scheme builds the runtime.Scheme every client of this project uses: the built-in
// Kubernetes types and the ImageBuild API. It is its own package so that the CLI gets the scheme
// without linking the manager.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// New returns a scheme that knows the built-in types and the ImageBuild API.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err) // only a programming error (a type registered twice) gets here
	}
	if err := buildv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}
