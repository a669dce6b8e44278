package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/gitresolve"
)

func gitSource(revision, secret string) func(*buildv1.ImageBuild) {
	return func(ib *buildv1.ImageBuild) {
		ib.Spec.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "https://git.test/team/app.git", Revision: revision}}
		if secret != "" {
			ib.Spec.Source.Git.SecretRef = &buildv1.LocalSecretReference{Name: secret}
		}
	}
}

func (e *unitEnv) secret(name string, typ corev1.SecretType, data map[string]string, tweak func(*corev1.Secret)) {
	e.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS}, Type: typ, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	if tweak != nil {
		tweak(s)
	}
	if err := e.c.Create(context.Background(), s); err != nil {
		e.t.Fatal(err)
	}
}

// The git credentials Secret is checked before a pod exists: missing, of the wrong shape, or
// forwarded for another build, the build says so instead of leaving a pod that cannot start.
func TestGitSecretChecks(t *testing.T) {
	basic := map[string]string{"username": "builder", "password": "tok3n-value"}
	for name, tc := range map[string]struct {
		setup  func(e *unitEnv)
		phase  buildv1.BuildPhase
		reason string
		says   string
	}{
		"missing": {func(*unitEnv) {}, buildv1.PhasePending, buildv1.ReasonSecretNotFound, "kubectl create secret generic git-cred -n builds --type=kubernetes.io/basic-auth"},
		"opaque": {func(e *unitEnv) { e.secret("git-cred", corev1.SecretTypeOpaque, basic, nil) },
			buildv1.PhaseFailed, buildv1.ReasonInvalidSpec, `must be of type kubernetes.io/basic-auth with the keys username and password (it is of type "Opaque")`},
		"no password": {func(e *unitEnv) {
			e.secret("git-cred", corev1.SecretTypeBasicAuth, map[string]string{"username": "builder"}, nil)
		}, buildv1.PhaseFailed, buildv1.ReasonInvalidSpec, "the keys username and password"},
		"forwarded for another build": {func(e *unitEnv) {
			e.secret("git-cred", corev1.SecretTypeBasicAuth, basic, func(s *corev1.Secret) {
				s.Annotations = map[string]string{buildv1.AnnotationEphemeralSecret: "true"}
				s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "build.fleetflow.dev/v1alpha1", Kind: "ImageBuild", Name: "other", UID: "uid-other", Controller: ptr.To(true)}}
			})
		}, buildv1.PhaseFailed, buildv1.ReasonInvalidSpec, "serves only that build"},
		"good": {func(e *unitEnv) { e.secret("git-cred", corev1.SecretTypeBasicAuth, basic, nil) }, buildv1.PhaseBuilding, buildv1.ReasonBuilding, ""},
	} {
		t.Run(name, func(t *testing.T) {
			e := newUnitEnv(t, nil)
			tc.setup(e)
			key := e.create("api", gitSource("main", "git-cred"))
			e.reconcile(key)
			ib := e.get(key)
			wantState(t, ib, tc.phase, tc.reason)
			if !strings.Contains(readyMessage(ib), tc.says) {
				t.Errorf("message %q lacks %q", readyMessage(ib), tc.says)
			}
			if strings.Contains(readyMessage(ib), "tok3n-value") {
				t.Errorf("message shows the password: %q", readyMessage(ib))
			}
			if _, ok := e.pod("api-g1-1"); ok != (tc.phase == buildv1.PhaseBuilding) {
				t.Errorf("pod exists: %v, want %v", ok, tc.phase == buildv1.PhaseBuilding)
			}
		})
	}
}

// A forwarded git Secret is waited for, then deleted as soon as its build ends.
func TestForwardedGitSecret(t *testing.T) {
	e := newUnitEnv(t, nil)
	key := e.create("api", func(ib *buildv1.ImageBuild) {
		gitSource("main", "api-git")(ib)
		ib.Annotations = map[string]string{buildv1.AnnotationForwardedGitSecret: "true"}
	})
	e.reconcile(key)
	wantState(t, e.get(key), buildv1.PhasePending, buildv1.ReasonPending)

	e.secret("api-git", corev1.SecretTypeBasicAuth, map[string]string{"username": "u", "password": "p"}, func(s *corev1.Secret) {
		s.Annotations = map[string]string{buildv1.AnnotationEphemeralSecret: "true"}
		s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "build.fleetflow.dev/v1alpha1", Kind: "ImageBuild", Name: "api", UID: "uid-api", Controller: ptr.To(true)}}
	})
	e.reconcile(key)
	wantState(t, e.get(key), buildv1.PhaseBuilding, buildv1.ReasonBuilding)

	pod, _ := e.pod("api-g1-1")
	finishPod(t, e, pod, 1, "Error: error resolving source context: authentication required: authentication required")
	e.reconcile(key)
	ib := e.get(key)
	wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonAuthenticationFailed)
	if !strings.Contains(readyMessage(ib), "refused the credentials of Secret api-git") {
		t.Errorf("message %q", readyMessage(ib))
	}
	s := &corev1.Secret{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: testNS, Name: "api-git"}, s); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("forwarded git Secret still there after the build ended: %v", err)
	}
}

// The status records the commit built: the pinned one at once, the one a branch named once the
// probe reported it.
func TestGitCommitInStatus(t *testing.T) {
	sha := strings.Repeat("ab", 20)
	e := newUnitEnv(t, nil)
	pinned := e.create("pinned", func(ib *buildv1.ImageBuild) {
		gitSource(strings.ToUpper(sha), "")(ib)
		ib.Spec.Source.Git.Ref = "refs/heads/main"
	})
	e.reconcile(pinned)
	if st := e.get(pinned).Status.Source; st == nil || st.GitCommit != sha || st.GitRevision != strings.ToUpper(sha) {
		t.Errorf("pinned build: status.source %+v", st)
	}

	branch := e.create("branch", gitSource("main", ""))
	e.reconcile(branch)
	if st := e.get(branch).Status.Source; st == nil || st.GitCommit != "" || st.GitRevision != "main" {
		t.Fatalf("branch build before the probe reported: status.source %+v", st)
	}
	pod, _ := e.pod("branch-g1-1")
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "userns-probe", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 0, Message: "uid_map: 0 65536 65536\n" + gitresolve.MessageLine(sha) + "\n", FinishedAt: metav1.NewTime(start.Add(time.Second))}}}}
	pod.Status.Phase = corev1.PodRunning
	if err := e.c.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	e.reconcile(branch)
	if st := e.get(branch).Status.Source; st == nil || st.GitCommit != sha {
		t.Errorf("branch build after the probe reported: status.source %+v", st)
	}
}

func finishPod(t *testing.T, e *unitEnv, pod *corev1.Pod, code int32, message string) {
	t.Helper()
	pod.Status.Phase = corev1.PodFailed
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "kaniko", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Message: message, FinishedAt: metav1.NewTime(start.Add(time.Minute))}}}}
	if err := e.c.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
}
