// Package v1alpha1 holds the ImageBuild API: one container image built inside the cluster from one
// source and pushed to one repository.
//
// +kubebuilder:object:generate=true
// +groupName=build.fleetflow.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The scheme is built with apimachinery alone, not controller-runtime's scheme.Builder, so that
// importing the API does not pull in controller-runtime.
var (
	// GroupVersion is the API group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "build.fleetflow.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers every kind of the package, and the meta types (list options, watch
// events) that clients need to list and watch them, under GroupVersion. A new kind must be added
// here.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ImageBuild{}, &ImageBuildList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// ImageBuildKind is the group, version and kind of ImageBuild. Owner references need it: objects
// decoded into a typed struct have an empty TypeMeta.
var ImageBuildKind = GroupVersion.WithKind("ImageBuild")
