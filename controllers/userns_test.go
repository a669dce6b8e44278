package controllers

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// initReported plays the kubelet: the build pod's first init container finished with message.
func (e *unitEnv) initReported(podName, message string) {
	e.t.Helper()
	pod, ok := e.pod(podName)
	if !ok {
		e.t.Fatalf("no pod %s", podName)
	}
	pod.Spec.NodeName = "node-1"
	if err := e.c.Update(context.Background(), pod); err != nil {
		e.t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{
		Name:  pod.Spec.InitContainers[0].Name,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", Message: message}},
	}}
	if err := e.c.Status().Update(context.Background(), pod); err != nil {
		e.t.Fatal(err)
	}
}

func noUserNamespaceEvents(evs []string) []string {
	var out []string
	for _, ev := range evs {
		if strings.HasPrefix(ev, "Warning "+buildv1.ReasonNoUserNamespace) {
			out = append(out, ev)
		}
	}
	return out
}

// The status says what the pod asked for as soon as it exists and what it got once it reported;
// a pod that asked and did not get a user namespace is warned about exactly once.
func TestUserNamespaceReported(t *testing.T) {
	tests := []struct {
		name      string
		hostUsers bool
		report    string
		active    bool
		hostUID   int64
		warnings  int
	}{
		{"user namespace", false, "uid_map: 0 3497590784 65536", true, 3497590784, 0},
		{"asked, node ignored it", false, "uid_map: 0 0 4294967295", false, 0, 1},
		{"turned off, as expected", true, "uid_map: 0 0 4294967295", false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newUnitEnv(t, func(r *ImageBuildReconciler) { r.PodOptions.HostUsers = tt.hostUsers })
			key := e.create("api", nil)
			e.reconcile(key)
			un := e.get(key).Status.UserNamespace
			if un == nil || un.Requested == tt.hostUsers || un.Active != nil {
				t.Fatalf("after pod creation: userNamespace %+v, want requested=%v and nothing reported", un, !tt.hostUsers)
			}
			e.reconcile(key) // the pod runs, nothing reported yet
			if un := e.get(key).Status.UserNamespace; un.Active != nil {
				t.Fatalf("active %v before the pod reported", *un.Active)
			}

			e.initReported("api-g1-1", tt.report)
			e.reconcile(key)
			e.reconcile(key)
			un = e.get(key).Status.UserNamespace
			if un.Active == nil || *un.Active != tt.active || un.HostUID == nil || *un.HostUID != tt.hostUID ||
				un.UIDMap != strings.TrimPrefix(tt.report, "uid_map: ") || un.Requested == tt.hostUsers {
				t.Fatalf("userNamespace %+v (active %v, hostUID %v), want active %v hostUID %d", un, un.Active, un.HostUID, tt.active, tt.hostUID)
			}
			warnings := noUserNamespaceEvents(e.events())
			if len(warnings) != tt.warnings {
				t.Fatalf("%d NoUserNamespace warnings, want %d: %q", len(warnings), tt.warnings, warnings)
			}
			if tt.warnings > 0 && !strings.Contains(warnings[0], "node node-1 ran it without one") {
				t.Errorf("the warning does not say which node ignored hostUsers: %s", warnings[0])
			}
		})
	}
}

// A new attempt is a new pod, maybe on another node: what the lost pod reported no longer holds.
func TestUserNamespaceResetForNewAttempt(t *testing.T) {
	e := newUnitEnv(t, nil)
	key := e.create("api", nil)
	e.reconcile(key)
	e.initReported("api-g1-1", "uid_map: 0 3497590784 65536")
	e.reconcile(key)
	if un := e.get(key).Status.UserNamespace; un.Active == nil || !*un.Active {
		t.Fatalf("first attempt: %+v", un)
	}
	e.deletePod("api-g1-1")
	e.reconcile(key)
	ib := e.get(key)
	if ib.Status.PodName != "api-g1-2" || ib.Status.UserNamespace.Active != nil || ib.Status.UserNamespace.UIDMap != "" {
		t.Fatalf("second attempt %s kept the first pod's report: %+v", ib.Status.PodName, ib.Status.UserNamespace)
	}
	e.initReported("api-g1-2", "uid_map: 0 1355218944 65536")
	e.reconcile(key)
	if un := e.get(key).Status.UserNamespace; un.HostUID == nil || *un.HostUID != 1355218944 {
		t.Fatalf("second attempt's report not recorded: %+v", un)
	}
}

// A build pod from before status.userNamespace existed says itself what it asked for.
func TestUserNamespaceOfAnOlderBuild(t *testing.T) {
	e := newUnitEnv(t, nil)
	key := e.create("api", nil)
	e.reconcile(key)
	ib := e.get(key)
	ib.Status.UserNamespace = nil
	if err := e.c.Status().Update(context.Background(), ib); err != nil {
		t.Fatal(err)
	}
	e.initReported("api-g1-1", "uid_map: 0 0 4294967295")
	e.reconcile(key)
	un := e.get(key).Status.UserNamespace
	if un == nil || !un.Requested || un.Active == nil || *un.Active {
		t.Fatalf("userNamespace %+v, want requested (from the pod's hostUsers: false) and not active", un)
	}
	if n := len(noUserNamespaceEvents(e.events())); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
}
