package cli

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/fleetconfig"
	"github.com/fleetflow/flow-build/internal/imageref"
	"github.com/fleetflow/flow-build/internal/kubename"
)

// target is one service to build, validated: everything the CLI needs to pack, push and create
// its ImageBuild.
type target struct {
	build      fleetconfig.Build
	push       imageref.Target
	bundleRepo string // where the source bundle goes, by digest
	dockerfile string // the Dockerfile's path inside the bundle or git context
	bundleRef  string // repo@sha256:..., once pushed
	git        *buildv1.GitSource
}

// manifestParams are the settings shared by every ImageBuild of an invocation.
type manifestParams struct {
	project, stage, namespace, runID string
	push                             bool
	timeout                          time.Duration
	ttl                              time.Duration
	pushSecret                       string
	// forwardedSecret says that pushSecret is created by this run right after the ImageBuild,
	// from the local credentials (AnnotationForwardedPushSecret).
	forwardedSecret bool
	// gitSecret is spec.source.git.secretRef of git builds; forwardedGitSecret says that this run
	// creates it right after the ImageBuild (AnnotationForwardedGitSecret).
	gitSecret          string
	forwardedGitSecret bool
	// stableNames gives rendered manifests (-o yaml) names that stay the same from one run to the
	// next, so that applying a newer render updates the ImageBuild (a new generation, a rebuild)
	// instead of piling up new objects. Builds created by the CLI get fresh generated names.
	stableNames bool
}

// imageBuild turns one target into its ImageBuild.
func imageBuild(t *target, p manifestParams) *buildv1.ImageBuild {
	b := t.build
	ib := &buildv1.ImageBuild{
		TypeMeta: metav1.TypeMeta{APIVersion: buildv1.GroupVersion.String(), Kind: "ImageBuild"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: p.namespace,
			Labels: map[string]string{
				buildv1.LabelProject: kubename.LabelValue(p.project),
				buildv1.LabelStage:   kubename.LabelValue(p.stage),
				buildv1.LabelService: kubename.LabelValue(b.Service),
			},
		},
		Spec: buildv1.ImageBuildSpec{
			// A local name (built, not pushed) in the form every tool reads the same way.
			Image:      t.push.CanonicalRepository(),
			Tags:       slices.Clone(t.push.Tags),
			Push:       p.push,
			Dockerfile: t.dockerfile,
			Target:     b.Target,
			Platforms:  slices.Clone(b.Platforms),
		},
	}
	base := kubename.DNSLabel(p.project+"-"+b.Service, "")
	if p.stableNames {
		ib.Name = kubename.DNSLabel(p.project+"-"+p.stage+"-"+b.Service, "")
	} else {
		ib.GenerateName = base[:min(len(base), 52)] + "-"
		ib.Labels[buildv1.LabelRun] = p.runID
	}
	if t.git != nil {
		ib.Spec.Source.Git = t.git.DeepCopy()
		if p.gitSecret != "" {
			ib.Spec.Source.Git.SecretRef = &buildv1.LocalSecretReference{Name: p.gitSecret}
		}
	} else {
		ib.Spec.Source.Bundle = &buildv1.BundleSource{Image: t.bundleRef}
	}
	for _, a := range b.BuildArgs {
		ib.Spec.BuildArgs = append(ib.Spec.BuildArgs, buildv1.BuildArg{Name: a.Name, Value: a.Value})
	}
	if b.NoCache {
		ib.Spec.Cache = &buildv1.CacheSpec{Disabled: true}
	}
	if p.pushSecret != "" {
		ib.Spec.PushSecretRef = &buildv1.LocalSecretReference{Name: p.pushSecret}
	}
	if p.forwardedSecret {
		ib.Annotations = map[string]string{buildv1.AnnotationForwardedPushSecret: "true"}
	}
	if p.forwardedGitSecret && ib.Spec.Source.Git != nil {
		if ib.Annotations == nil {
			ib.Annotations = map[string]string{}
		}
		ib.Annotations[buildv1.AnnotationForwardedGitSecret] = "true"
	}
	if p.timeout > 0 {
		ib.Spec.Timeout = &metav1.Duration{Duration: p.timeout}
	}
	if p.ttl > 0 {
		ib.Spec.TTLSecondsAfterFinished = ptr.To(int32(p.ttl / time.Second))
	}
	return ib
}
