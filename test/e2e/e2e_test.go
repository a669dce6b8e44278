//go:build e2e

// Package e2e proves the whole product on real parts: the flow binary, the operator installed with
// its Helm chart on a real node, real Kaniko pods and a real registry with TLS and authentication.
// hack/e2e.sh brings all of that up and runs these tests; they read its environment (env.sh).
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/scheme"
)

var (
	k8s client.Client
	// watchClient watches ImageBuilds (the benchmarks time their changes).
	watchClient client.WithWatch
	clientset   kubernetes.Interface
	registry    string // host:port
	regAuth     authn.Authenticator
	regTLS      http.RoundTripper
	flowBin     string
	repoRoot    string
	runID       = fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
)

func TestMain(m *testing.M) {
	for _, v := range []string{"KUBECONFIG", "FLOW_REGISTRY", "FLOW_REGISTRY_CA", "FLOW_REGISTRY_CERT", "FLOW_REGISTRY_KEY",
		"FLOW_REGISTRY_PASSWORD_FILE", "FLOW_BIN", "DOCKER_CONFIG", "FLOW_CTR", "FLOW_CONTAINERD_SOCK"} {
		if os.Getenv(v) == "" {
			fmt.Fprintf(os.Stderr, "e2e: %s is not set; run the end-to-end tests through hack/e2e.sh (make test-e2e)\n", v)
			os.Exit(1)
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	must(err)
	k8s, err = client.New(cfg, client.Options{Scheme: scheme.New()})
	must(err)
	watchClient, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	must(err)
	clientset, err = kubernetes.NewForConfig(cfg)
	must(err)
	registry = os.Getenv("FLOW_REGISTRY")
	pw, err := os.ReadFile(os.Getenv("FLOW_REGISTRY_PASSWORD_FILE"))
	must(err)
	regAuth = &authn.Basic{Username: os.Getenv("FLOW_REGISTRY_USER"), Password: strings.TrimSpace(string(pw))}
	ca, err := os.ReadFile(os.Getenv("FLOW_REGISTRY_CA"))
	must(err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	regTLS = tr
	flowBin = os.Getenv("FLOW_BIN")
	repoRoot, err = filepath.Abs("../..")
	must(err)
	os.Exit(m.Run())
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
}

// namespace creates a namespace for one test, with labels given as key, value, ..., and deletes it
// afterwards.
func namespace(t *testing.T, labels ...string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-", Labels: map[string]string{}}}
	for i := 0; i+1 < len(labels); i += 2 {
		ns.Labels[labels[i]] = labels[i+1]
	}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("FLOW_E2E_KEEP") == "" {
			_ = k8s.Delete(context.Background(), ns)
		}
	})
	return ns.Name
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// flow runs the real flow binary in dir with extra environment variables.
func flow(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, flowBin, args...)
	cmd.Dir = dir
	// The locale of CI runners, whatever this machine's is: messages in the product's Japanese.
	cmd.Env = append(append(os.Environ(), "LC_ALL=C.UTF-8"), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running flow: %v", err)
	}
	t.Logf("flow %s (exit %d, %s)\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
	return r
}

// registryEnv points the example's images at a repository path of its own for this test.
func registryEnv(path string) []string {
	return []string{"FLOW_REGISTRY=" + registry + "/" + path, "NO_COLOR=1"}
}

func builds(t *testing.T, ns string) []buildv1.ImageBuild {
	t.Helper()
	list := &buildv1.ImageBuildList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// registryDigest asks the registry which digest a tag points at.
func registryDigest(t *testing.T, image string) string {
	t.Helper()
	ref, err := name.ParseReference(image)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref, remote.WithAuth(regAuth), remote.WithTransport(regTLS))
	if err != nil {
		t.Fatalf("registry HEAD %s: %v", image, err)
	}
	return desc.Digest.String()
}

func readyCondition(ib *buildv1.ImageBuild) metav1.Condition {
	if c := meta.FindStatusCondition(ib.Status.Conditions, buildv1.ConditionReady); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// project writes a one-service FleetFlow project with the given Dockerfile into a temp dir.
func project(t *testing.T, dockerfile string) string {
	t.Helper()
	dir := t.TempDir()
	kdl := `project "e2e"
registry "${FLOW_REGISTRY}"
service "app" {
    dockerfile "Dockerfile"
    build_args {
        BASE_IMAGE "${FLOW_BASE_IMAGE}"
    }
}
stage "prod" {
    service "app"
}
`
	for file, content := range map[string]string{"fleet.kdl": kdl, "Dockerfile": dockerfile, "hello.txt": "hello\n"} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const baseFrom = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"

// waitBuild waits until the only ImageBuild of ns satisfies cond.
func waitBuild(t *testing.T, ns string, timeout time.Duration, what string, cond func(*buildv1.ImageBuild) bool) *buildv1.ImageBuild {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, ib := range builds(t, ns) {
			if cond(&ib) {
				return &ib
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; builds: %+v", timeout, what, summarize(builds(t, ns)))
	return nil
}

func summarize(list []buildv1.ImageBuild) []string {
	var out []string
	for _, ib := range list {
		c := readyCondition(&ib)
		out = append(out, fmt.Sprintf("%s %s %s %q", ib.Name, ib.Status.Phase, c.Reason, c.Message))
	}
	return out
}

func buildPods(t *testing.T, ns string) []corev1.Pod {
	t.Helper()
	list := &corev1.PodList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns), client.HasLabels{"build.fleetflow.dev/image-build"}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// imageBuildEvents lists the events of the namespace's ImageBuilds.
func imageBuildEvents(t *testing.T, ns string) []eventsv1.Event {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, ev := range list.Items {
		if ev.Regarding.Kind == buildv1.ImageBuildKind.Kind {
			out = append(out, ev)
		}
	}
	return out
}

func kanikoLog(t *testing.T, ns, pod string) string {
	t.Helper()
	raw, err := clientset.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: "kaniko"}).DoRaw(context.Background())
	if err != nil {
		t.Fatalf("logs of %s: %v", pod, err)
	}
	return string(raw)
}

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("kubectl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dockerConfig writes a docker config.json with the given password for the registry.
func dockerConfig(t *testing.T, password string) string {
	t.Helper()
	return writeDockerConfig(t, registry, os.Getenv("FLOW_REGISTRY_USER"), password)
}

// writeDockerConfig writes a docker config.json with user and password for host, and returns its
// folder (for DOCKER_CONFIG).
func writeDockerConfig(t *testing.T, host, user, password string) string {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	doc, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": auth}}})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}
