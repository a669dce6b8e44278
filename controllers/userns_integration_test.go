package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/manager"
	"github.com/fleetflow/flow-build/internal/testing/poll"
)

// enforcePodSecurity labels the test's namespace with a Pod Security level, which the API server's
// own PodSecurity admission plugin then enforces on every pod created in it.
func (e *testEnv) enforcePodSecurity(level string) {
	e.t.Helper()
	ns := &corev1.Namespace{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: e.ns}, ns); err != nil {
		e.t.Fatal(err)
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels["pod-security.kubernetes.io/enforce"] = level
	if err := k8s.Update(context.Background(), ns); err != nil {
		e.t.Fatal(err)
	}
}

// A build asked for a user namespace, and its pod reports that the node ran it without one: the
// status says so, a Warning event names the pod and the node, and the build itself goes on.
func TestIntegration_UserNamespaceNotGranted(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	e.create(e.build("api", nil))
	ib := e.waitPhase("api", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	pod := e.waitPod(ib.Status.PodName)
	if pod.Spec.HostUsers == nil || *pod.Spec.HostUsers {
		t.Fatalf("the API server stored hostUsers = %v, want false", pod.Spec.HostUsers)
	}
	if un := e.get("api").Status.UserNamespace; un == nil || !un.Requested || un.Active != nil {
		t.Fatalf("status.userNamespace = %+v before the pod reported, want requested and nothing known", un)
	}

	k := kubelet{t}
	k.update(pod, func(s *corev1.PodStatus) {
		s.Phase = corev1.PodRunning
		s.InitContainerStatuses = []corev1.ContainerStatus{{
			Name: pod.Spec.InitContainers[0].Name, Image: pod.Spec.InitContainers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				Reason: "Completed", Message: "uid_map:          0          0 4294967295\n",
				StartedAt: metav1.Now(), FinishedAt: metav1.Now(),
			}},
		}}
	})
	poll.Eventually(t, 30*time.Second, "status.userNamespace.active", func() (bool, string) {
		un := e.get("api").Status.UserNamespace
		return un != nil && un.Active != nil, "not yet"
	})
	un := e.get("api").Status.UserNamespace
	if *un.Active || un.HostUID == nil || *un.HostUID != 0 || un.UIDMap != "0 0 4294967295" {
		t.Errorf("status.userNamespace = active %v hostUID %v uidMap %q, want false, 0, the node's map", *un.Active, un.HostUID, un.UIDMap)
	}
	e.waitEvent("api", buildv1.ReasonNoUserNamespace)
	list := &eventsv1.EventList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(e.ns)); err != nil {
		t.Fatal(err)
	}
	for _, ev := range list.Items {
		if ev.Reason == buildv1.ReasonNoUserNamespace {
			if ev.Type != corev1.EventTypeWarning || ev.Related == nil || ev.Related.Name != pod.Name ||
				!strings.Contains(ev.Note, "root in the build was root on the node") {
				t.Errorf("event %s %s related %v: %q", ev.Type, ev.Reason, ev.Related, ev.Note)
			}
		}
	}

	k.kanikoExited(pod, 0, digest+"\n", "Completed")
	ib = e.waitPhase("api", buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)
	if un := ib.Status.UserNamespace; un == nil || un.Active == nil || *un.Active {
		t.Errorf("the finished build lost what its pod reported: %+v", un)
	}
}

// Pod Security, enforced by the API server's admission plugin: "baseline" admits build pods with
// and without user namespaces; "restricted" refuses them, and the build waits, says why and how to
// fix it, and starts by itself once the namespace allows "baseline".
func TestIntegration_PodSecurity(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		hostUsers bool
	}{{"baseline admits a user-namespaced build pod", false}, {"baseline admits a build pod without a user namespace", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, func(o *manager.Options) { o.HostUsers = tt.hostUsers })
			e.enforcePodSecurity("baseline")
			e.create(e.build("api", func(ib *buildv1.ImageBuild) {
				ib.Spec.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "https://github.com/acme/shop.git"}}
			}))
			e.create(e.build("web", nil))
			for _, name := range []string{"api", "web"} {
				ib := e.waitPhase(name, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
				if pod := e.waitPod(ib.Status.PodName); (pod.Spec.HostUsers == nil) != tt.hostUsers {
					t.Errorf("%s: hostUsers = %v", name, pod.Spec.HostUsers)
				}
			}
		})
	}

	t.Run("restricted refuses, baseline later admits", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, nil)
		e.enforcePodSecurity("restricted")
		e.create(e.build("api", nil))
		ib := e.waitPhase("api", buildv1.PhasePending, buildv1.ReasonPodSecurityRejected)
		assertConditions(t, ib, metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionTrue)
		msg := readyCondition(ib).Message
		for _, want := range []string{`violates PodSecurity "restricted`, "unrestricted capabilities", `"baseline"`,
			"kubectl label namespace " + e.ns + " pod-security.kubernetes.io/enforce=baseline"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message lacks %q: %s", want, msg)
			}
		}
		if pods := e.pods(); len(pods) != 0 {
			t.Fatalf("pods exist in a namespace that refuses them: %v", podNames(pods))
		}
		e.waitEvent("api", buildv1.ReasonPodSecurityRejected)

		e.enforcePodSecurity("baseline")
		ib = e.waitPhase("api", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
		e.waitPod(ib.Status.PodName)
	})
}
