package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

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

// Each platform's pod reports on its own; the build sums them up, and a platform pod that ran
// without a user namespace is warned about by its platform.
func TestUserNamespaceOfPlatformPods(t *testing.T) {
	e := newPlatformEnv(t)
	key := e.create("multi")
	e.reconcile(key)
	ib := e.get(key)
	if un := ib.Status.UserNamespace; un == nil || !un.Requested || un.Active != nil {
		t.Fatalf("build userNamespace %+v before any report, want requested and nothing known", un)
	}
	e.initReported("multi-g1-linux-amd64-1", "uid_map: 0 3497590784 65536")
	e.reconcile(key)
	ib = e.get(key)
	if un := ib.Status.Platforms[0].UserNamespace; un == nil || un.Active == nil || !*un.Active || *un.HostUID != 3497590784 {
		t.Fatalf("linux/amd64 userNamespace %+v", un)
	}
	if un := ib.Status.UserNamespace; un.Active != nil {
		t.Fatalf("build active %v while linux/arm64 has not reported", *un.Active)
	}
	e.initReported("multi-g1-linux-arm64-1", "uid_map: 0 0 4294967295")
	e.reconcile(key)
	ib = e.get(key)
	if un := ib.Status.UserNamespace; un.Active == nil || *un.Active || un.HostUID != nil || un.UIDMap != "" {
		t.Fatalf("build userNamespace %+v, want not active, the details left to the platforms", un)
	}
	warnings := noUserNamespaceEvents(e.events())
	if len(warnings) != 1 || !strings.Contains(warnings[0], "linux/arm64: build pod multi-g1-linux-arm64-1") {
		t.Errorf("warnings %q, want one naming linux/arm64", warnings)
	}
}

func TestUserNamespaceOfPlatforms(t *testing.T) {
	yes, no := ptr.To(true), ptr.To(false)
	un := func(requested bool, active *bool) *buildv1.UserNamespaceStatus {
		return &buildv1.UserNamespaceStatus{Requested: requested, Active: active}
	}
	tests := []struct {
		name      string
		platforms []*buildv1.UserNamespaceStatus
		want      *buildv1.UserNamespaceStatus
	}{
		{"no pods yet", []*buildv1.UserNamespaceStatus{nil, nil}, nil},
		{"one reported", []*buildv1.UserNamespaceStatus{un(true, yes), un(true, nil)}, un(true, nil)},
		{"one pod not created yet", []*buildv1.UserNamespaceStatus{un(true, yes), nil}, un(true, nil)},
		{"all active", []*buildv1.UserNamespaceStatus{un(true, yes), un(true, yes)}, un(true, yes)},
		{"one without", []*buildv1.UserNamespaceStatus{un(true, nil), un(true, no)}, un(true, no)},
		{"turned off", []*buildv1.UserNamespaceStatus{un(false, no), un(false, no)}, un(false, no)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps []buildv1.PlatformStatus
			for _, p := range tt.platforms {
				ps = append(ps, buildv1.PlatformStatus{UserNamespace: p})
			}
			got := userNamespaceOfPlatforms(ps)
			if !apiequality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A namespace whose Pod Security admission refuses build pods stalls the build, single- or
// multi-platform, with the reason and the fix; once it admits them, the build goes on by itself.
func TestPodSecurityRefusal(t *testing.T) {
	refuse := interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if _, ok := obj.(*corev1.Pod); ok {
			return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, obj.GetName(), errors.New(
				`violates PodSecurity "restricted:latest": unrestricted capabilities (container "kaniko" must set securityContext.capabilities.drop=["ALL"])`))
		}
		return c.Create(ctx, obj, opts...)
	}}
	for _, multi := range []bool{false, true} {
		t.Run(fmt.Sprintf("platforms=%v", multi), func(t *testing.T) {
			var e *unitEnv
			var key types.NamespacedName
			if multi {
				pe := newPlatformEnv(t)
				e, key = pe.unitEnv, pe.create("api")
			} else {
				e = newUnitEnv(t, nil)
				key = e.create("api", nil)
			}
			admitting := e.r.Client
			e.r.Client = interceptor.NewClient(e.c.(client.WithWatch), refuse)
			res := e.reconcile(key)
			ib := e.get(key)
			wantState(t, ib, buildv1.PhasePending, buildv1.ReasonPodSecurityRejected)
			for _, want := range []string{`violates PodSecurity "restricted:latest"`, `"baseline"`, "kubectl label namespace builds pod-security.kubernetes.io/enforce=baseline --overwrite"} {
				if !strings.Contains(readyMessage(ib), want) {
					t.Errorf("message lacks %q: %s", want, readyMessage(ib))
				}
			}
			if res.RequeueAfter != podSecurityRecheck {
				t.Errorf("requeue after %s, want %s: namespace labels change without an event", res.RequeueAfter, podSecurityRecheck)
			}
			if n := len(e.podNames()); n != 0 {
				t.Fatalf("%d pods", n)
			}

			e.r.Client = admitting
			e.reconcile(key)
			ib = e.get(key)
			wantState(t, ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
			if want := map[bool]int{false: 1, true: 2}[multi]; len(e.podNames()) != want {
				t.Errorf("pods %v after the namespace admits them, want %d", e.podNames(), want)
			}
		})
	}
}
