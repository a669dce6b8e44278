package controllers_test

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/testing/envtestutil"
)

// The namespace-scoped install (the chart's watchNamespaces): the manager holds nothing but a Role
// with the generated rules in the namespace it watches, and builds there all the same, including
// the metadata watches on Secrets and service accounts and the deletion of forwarded Secrets.
func TestIntegration_NamespaceScopedManagerNeedsNoClusterWidePermission(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var generated rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &generated); err != nil {
		t.Fatal(err)
	}
	e := newTestEnvAs(t, nil, func(ns string) *rest.Config {
		user := "system:serviceaccount:flow-build-system:manager-" + ns
		e := &testEnv{t: t, ns: ns}
		e.create(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "flow-build-manager", Namespace: ns}, Rules: generated.Rules})
		e.create(&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "flow-build-manager", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "flow-build-manager"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: user}},
		})
		authn, err := testEnvironment.AddUser(envtest.User{Name: user}, restCfg)
		if err != nil {
			t.Fatal(err)
		}
		return authn.Config()
	})

	e.create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: e.ns,
		Annotations: map[string]string{buildv1.AnnotationAllowImageBuilds: "true"}}})
	ib := e.build("scoped", func(ib *buildv1.ImageBuild) {
		ib.Spec.PushSecretRef = &buildv1.LocalSecretReference{Name: "scoped-push"}
		ib.Spec.ServiceAccountName = "builder"
		ib.Annotations = map[string]string{buildv1.AnnotationForwardedPushSecret: "true"}
	})
	e.create(ib)
	secret := dockerConfigSecret(e.ns, "scoped-push", "canary-scoped")
	secret.Annotations = map[string]string{buildv1.AnnotationEphemeralSecret: "true"}
	ref := metav1.NewControllerRef(ib, buildv1.ImageBuildKind)
	ref.BlockOwnerDeletion = ptr.To(false)
	secret.OwnerReferences = []metav1.OwnerReference{*ref}
	e.create(secret)

	ib = e.waitPhase("scoped", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	kubelet{t}.kanikoExited(e.waitPod(ib.Status.PodName), 0, digest, "Completed")
	e.waitPhase("scoped", buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)
	secretDeleted(t, e.ns, "scoped-push")
	e.waitEvent("scoped", buildv1.ReasonSucceeded)
}
