package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/buildpod"
	"github.com/fleetflow/flow-build/internal/manager"
	"github.com/fleetflow/flow-build/internal/testing/poll"
	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

// addNode creates a Ready node for the duration of the test. Nodes are cluster-wide: every test
// that runs at the same time sees it.
func addNode(t *testing.T, name, arch string, labels map[string]string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": arch}}}
	for k, v := range labels {
		n.Labels[k] = v
	}
	if err := k8s.Create(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), n) })
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if err := k8s.Status().Update(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	// The API server taints every new node not-ready; the node lifecycle controller, which
	// envtest does not run, lifts the taint once the node is Ready.
	n.Spec.Taints = nil
	if err := k8s.Update(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

// The whole multi-platform path through the real manager and API server: one pod per platform at
// once, the pushed images checked, the index pushed to a real registry under every tag, the
// progress column.
func TestIntegration_MultiPlatformBuild(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, "ci", "integration-canary")
	e := newTestEnv(t, func(o *manager.Options) {
		o.Emulation, o.ReadNodes = true, true
		o.RegistryTransport = reg.Transport()
	})
	addNode(t, e.ns+"-amd64", "amd64", map[string]string{buildv1.EmulationLabelPrefix + "linux-arm64": "true"})
	e.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: e.ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: fmt.Appendf(nil,
			`{"auths":{%q:{"username":"ci","password":"integration-canary"}}}`, reg.Host)},
	})
	repo := reg.Repo("team/multi")
	e.create(e.build("multi", func(ib *buildv1.ImageBuild) {
		ib.Spec.Image = repo
		ib.Spec.Tags = []string{"v1.2.0", "latest"}
		ib.Spec.Platforms = []string{"linux/amd64", "linux/arm64"}
		ib.Spec.PushSecretRef = &buildv1.LocalSecretReference{Name: "regcred"}
	}))
	e.waitPhase("multi", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	var pods []corev1.Pod
	poll.Eventually(t, 30*time.Second, "a pod per platform", func() (bool, string) {
		pods = e.pods()
		return len(pods) == 2, fmt.Sprintf("pods %v", podNames(pods))
	})
	want := map[string]string{"linux-amd64": "", "linux-arm64": ""}
	want["linux-amd64"] = reg.PushByDigest(t, repo, registrytest.PlatformImage(t, "linux/amd64")).String()
	want["linux-arm64"] = reg.PushByDigest(t, repo, registrytest.PlatformImage(t, "linux/arm64")).String()
	for i := range pods {
		pod := &pods[i]
		slug := pod.Labels[buildv1.LabelPlatform]
		if len(pod.Spec.InitContainers) != 2 || pod.Spec.InitContainers[1].Name != buildpod.KanikoContainer || pod.Spec.Containers[0].Name != buildpod.PushContainer {
			t.Fatalf("pod %s: init %v main %v", pod.Name, pod.Spec.InitContainers, pod.Spec.Containers)
		}
		done := func(name, msg string) corev1.ContainerStatus {
			return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", Message: msg}}}
		}
		kubelet{t}.update(pod, func(s *corev1.PodStatus) {
			s.Phase = corev1.PodSucceeded
			s.InitContainerStatuses = []corev1.ContainerStatus{done(buildpod.FetchContainer, ""), done(buildpod.KanikoContainer, want[slug])}
			s.ContainerStatuses = []corev1.ContainerStatus{done(buildpod.PushContainer, want[slug])}
		})
	}
	ib := e.waitPhase("multi", buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)
	out := ib.Status.Output
	if out == nil || !slices.Equal(out.Platforms, []string{"linux/amd64", "linux/arm64"}) || !ib.Status.Platforms[1].Emulated {
		t.Fatalf("status %+v", ib.Status)
	}
	for _, tag := range ib.Spec.Tags {
		ref, _ := name.ParseReference(repo + ":" + tag)
		desc, err := remote.Head(ref, reg.Options()...)
		if err != nil || desc.Digest.String() != out.Digest {
			t.Errorf("%s: %v %v, want the index %s", ref, desc, err, out.Digest)
		}
	}

	// kubectl get shows the platforms column.
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cs.RESTClient().Get().AbsPath("/apis/build.fleetflow.dev/v1alpha1/namespaces", e.ns, "imagebuilds").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	col := slices.IndexFunc(table.ColumnDefinitions, func(c metav1.TableColumnDefinition) bool { return c.Name == "Platforms" })
	if col < 0 || len(table.Rows) != 1 || fmt.Sprint(table.Rows[0].Cells[col]) != "2/2" {
		t.Errorf("kubectl get: columns %v rows %v; want Platforms 2/2", table.ColumnDefinitions, table.Rows)
	}
	if strings.Contains(logBuffer.String(), "integration-canary") {
		t.Error("the registry password reached the manager's log")
	}
}
