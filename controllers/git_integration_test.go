package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/gitresolve"
	"github.com/fleetflow/flow-build/internal/testing/poll"
)

// A build from a private repository waits for its basic-auth Secret (the Secret watch wakes it),
// its pod takes the credentials by reference only, and the commit the probe reports for a branch
// lands in the status.
func TestIntegration_GitSecretThenCommit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	e.create(e.build("priv", func(ib *buildv1.ImageBuild) {
		ib.Spec.Source = buildv1.BuildSource{Git: &buildv1.GitSource{
			URL: "https://git.test/team/private.git", Revision: "main", SubPath: "svc",
			SecretRef: &buildv1.LocalSecretReference{Name: "git-cred"},
		}}
	}))
	ib := e.waitPhase("priv", buildv1.PhasePending, buildv1.ReasonSecretNotFound)
	if msg := readyCondition(ib).Message; !strings.Contains(msg, "--type=kubernetes.io/basic-auth") {
		t.Errorf("SecretNotFound message %q does not say how to create it", msg)
	}
	if n := len(e.pods()); n != 0 {
		t.Fatalf("%d pods while the Secret is missing", n)
	}

	const password = "Git-Canary-7f3e"
	e.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "git-cred", Namespace: e.ns},
		Type:       corev1.SecretTypeBasicAuth,
		StringData: map[string]string{"username": "builder", "password": password},
	})
	ib = e.waitPhase("priv", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	pod := e.waitPod(ib.Status.PodName)
	refs := 0
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, env := range c.Env {
			if env.ValueFrom != nil && env.ValueFrom.SecretKeyRef != nil && env.ValueFrom.SecretKeyRef.Name == "git-cred" {
				refs++
			}
		}
	}
	if refs != 4 {
		t.Errorf("%d environment variables from Secret git-cred, want GIT_USERNAME and GIT_PASSWORD in the probe and in Kaniko", refs)
	}
	if st := ib.Status.Source; st == nil || st.GitRevision != "main" || st.GitCommit != "" {
		t.Errorf("status.source before the probe reported: %+v", st)
	}

	commit := strings.Repeat("5e", 20)
	kubelet{t}.update(pod, func(s *corev1.PodStatus) {
		now := metav1.Now()
		s.Phase = corev1.PodRunning
		s.StartTime = &now
		s.InitContainerStatuses = terminatedStatuses(pod.Spec.InitContainers, 0, "uid_map: 0 65536 65536\n"+gitresolve.MessageLine(commit), "Completed")
	})
	pollSource(t, e, "priv", commit)

	// Everything the API shows of the build stays free of the password.
	got := &buildv1.ImageBuild{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: "priv"}, got); err != nil {
		t.Fatal(err)
	}
	if dump := fmt.Sprintf("%+v", got); strings.Contains(dump, password) {
		t.Error("the ImageBuild shows the git password")
	}
}

func pollSource(t *testing.T, e *testEnv, name, commit string) {
	t.Helper()
	poll.Eventually(t, 45*time.Second, "status.source.gitCommit "+commit, func() (bool, string) {
		ib := &buildv1.ImageBuild{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, ib); err != nil {
			return false, err.Error()
		}
		return ib.Status.Source != nil && ib.Status.Source.GitCommit == commit, fmt.Sprintf("status.source %+v", ib.Status.Source)
	})
}
