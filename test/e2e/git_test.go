//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/testing/gitserver"
	"github.com/fleetflow/flow-build/internal/testing/poll"
)

// gitRepo is a private repository on a stock smart-HTTP Git server (git http-backend behind basic
// auth, TLS with the registry's certificate, which build pods trust) on the node address, so that
// build pods reach it, and a checkout of it holding a FleetFlow project whose build context is the
// sub-directory app/: commit first, then commit second on main.
type gitRepo struct {
	srv           *gitserver.Server
	url, dir      string
	first, second string
	run           func(args ...string) string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	pki := filepath.Dir(os.Getenv("FLOW_REGISTRY_CA"))
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "registry.crt"), filepath.Join(pki, "registry.key"))
	if err != nil {
		t.Fatalf("the node's registry certificate, which the git server presents: %v", err)
	}
	host, _, _ := strings.Cut(registry, ":")
	srv := gitserver.Start(t, host+":0", &cert, "builder", "Git-Pass-"+randomHex(t))
	url, bare := srv.NewRepo(t, "shop")
	g := &gitRepo{srv: srv, url: url, dir: t.TempDir()}
	g.run = func(args ...string) string { return gitserver.Git(t, g.dir, args...) }
	write := func(name, content string) {
		p := filepath.Join(g.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("fleet.kdl", `project "gitshop"
registry "${FLOW_REGISTRY}"
service "app" {
    context "app"
    dockerfile "app/Dockerfile"
    build_args {
        BASE_IMAGE "${FLOW_BASE_IMAGE}"
    }
}
stage "e2e" {
    service "app"
}
`)
	write("app/Dockerfile", baseFrom+"COPY msg.txt /msg.txt\n")
	write("app/msg.txt", "first\n")
	g.run("init", "-q", "-b", "main")
	// The cluster clones over https; this test pushes to the bare repository's directory.
	g.run("remote", "add", "origin", url)
	g.run("config", "remote.origin.pushurl", bare)
	g.run("add", ".")
	g.run("commit", "-q", "-m", "first")
	g.run("push", "-q", "-u", "origin", "main")
	g.first = g.run("rev-parse", "HEAD")
	return g
}

// commitSecond puts the second commit on main, after the first was rendered.
func (g *gitRepo) commitSecond(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(g.dir, "app", "msg.txt"), []byte("second\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.run("commit", "-q", "-am", "second")
	g.run("push", "-q", "origin", "main")
	g.second = g.run("rev-parse", "HEAD")
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func createSecret(t *testing.T, s *corev1.Secret) {
	t.Helper()
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func basicAuthSecret(ns, name, user, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type:       corev1.SecretTypeBasicAuth,
		Data:       map[string][]byte{"username": []byte(user), "password": []byte(password)},
	}
}

func regcred(t *testing.T, ns string) {
	t.Helper()
	createSecret(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: mustRead(t, filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"))},
	})
}

// applyBuild writes ib as a manifest and applies it with kubectl, as GitOps tools do.
func applyBuild(t *testing.T, ns string, ib *buildv1.ImageBuild) string {
	t.Helper()
	doc, err := yaml.Marshal(ib)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), ib.Name+".yaml")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	return kubectl(t, "apply", "--namespace", ns, "-f", file)
}

func waitNamed(t *testing.T, ns, name string, timeout time.Duration) *buildv1.ImageBuild {
	t.Helper()
	deadline := time.Now().Add(timeout)
	ib := &buildv1.ImageBuild{}
	for time.Now().Before(deadline) {
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ib); err == nil &&
			ib.Status.ObservedGeneration == ib.Generation && ib.Status.Phase.Finished() {
			return ib
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s to finish: %s", timeout, name, summarize([]buildv1.ImageBuild{*ib}))
	return nil
}

// A manifest rendered with --source git from a private repository on a stock Git server, applied
// with kubectl: the pinned first commit is built although main has moved on (Kaniko clones the
// branch and checks the commit out), and a build of the branch name gets the second commit; both
// from the sub-directory context, both recorded in the status.
func TestE2E_GitSourcePrivateRepository(t *testing.T) {
	ns := namespace(t)
	g := newGitRepo(t)
	regcred(t, ns)
	createSecret(t, basicAuthSecret(ns, "git-cred", g.srv.Username, g.srv.Password))

	r := flow(t, g.dir, registryEnv("gitsrc-"+runID), "build", "--push", "--tag", "first", "--source", "git",
		"--git-secret", "git-cred", "--push-secret", "regcred", "-o", "yaml", "e2e")
	if r.code != 0 {
		t.Fatalf("render exited %d", r.code)
	}
	pinned := &buildv1.ImageBuild{}
	if err := yaml.UnmarshalStrict([]byte(r.stdout), pinned); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	src := pinned.Spec.Source.Git
	if src == nil || src.URL != g.url || src.Revision != g.first || src.Ref != "refs/heads/main" || src.SubPath != "app" || src.SecretRef == nil {
		t.Fatalf("rendered git source %+v, want %s at %s from refs/heads/main, subPath app, secretRef", src, g.url, g.first)
	}
	g.commitSecond(t)

	file := filepath.Join(t.TempDir(), "imagebuilds.yaml")
	if err := os.WriteFile(file, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("REAL RUN: kubectl apply -f imagebuilds.yaml\n%s", kubectl(t, "apply", "--namespace", ns, "-f", file))

	// The same manifest, following the branch instead of a pinned commit.
	branch := pinned.DeepCopy()
	branch.Name = pinned.Name + "-branch"
	branch.Spec.Tags = []string{"branch"}
	branch.Spec.Source.Git.Revision, branch.Spec.Source.Git.Ref = "main", ""
	applyBuild(t, ns, branch)

	for _, tc := range []struct {
		name, tag, commit, content string
	}{
		{pinned.Name, "first", g.first, "first\n"},
		{branch.Name, "branch", g.second, "second\n"},
	} {
		ib := waitNamed(t, ns, tc.name, 5*time.Minute)
		if c := readyCondition(ib); ib.Status.Phase != buildv1.PhaseSucceeded {
			t.Fatalf("%s: %s %s: %s", tc.name, ib.Status.Phase, c.Reason, c.Message)
		}
		if st := ib.Status.Source; st == nil || st.GitCommit != tc.commit {
			t.Errorf("%s: status.source %+v, want gitCommit %s", tc.name, st, tc.commit)
		}
		image := ib.Spec.Image + ":" + tc.tag
		if got := imageFile(t, image, "msg.txt"); got != tc.content {
			t.Errorf("%s: /msg.txt of %s is %q, want %q", tc.name, image, got, tc.content)
		}
		if got := registryDigest(t, image); got != ib.Status.Output.Digest {
			t.Errorf("%s: registry %s, status %s", tc.name, got, ib.Status.Output.Digest)
		}
	}

	// flow build itself, lending the user's own git credentials (a credential helper of the
	// checkout) to the build in a Secret that is gone once the build ended.
	g.run("config", "credential.helper", "!f() { test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' "+g.srv.Username+" "+g.srv.Password+"; }; f")
	r = flow(t, g.dir, append(registryEnv("gitsrc-"+runID), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"), "build", "--push", "--tag", "forwarded",
		"--source", "git", "--git-credentials=forward", "--push-secret", "regcred", "--namespace", ns, "e2e")
	if r.code != 0 {
		t.Fatalf("flow build --git-credentials=forward exited %d", r.code)
	}
	if strings.Contains(r.stdout+r.stderr, g.srv.Password) {
		t.Error("flow printed the git password")
	}
	if got := imageFile(t, pinned.Spec.Image+":forwarded", "msg.txt"); got != "second\n" {
		t.Errorf("/msg.txt of the forwarded build is %q, want the second commit's", got)
	}
	poll.Eventually(t, time.Minute, "the forwarded git Secret to be deleted", func() (bool, string) {
		list := &corev1.SecretList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		var names []string
		for _, s := range list.Items {
			if strings.HasPrefix(s.Name, "flow-git-") {
				names = append(names, s.Name)
			}
		}
		return len(names) == 0, strings.Join(names, ", ")
	})
	t.Logf("REAL RUN: kubectl get imagebuilds -o wide\n%s", kubectl(t, "get", "imagebuilds", "--namespace", ns, "-o", "wide"))
	t.Logf("REAL RUN: status.source\n%s", kubectl(t, "get", "imagebuilds", "--namespace", ns, "-o", "jsonpath={range .items[*]}{.metadata.name}{\"\\t\"}{.status.source}{\"\\n\"}{end}"))
}

// Clone failures end with their own reasons, and the credentials appear nowhere a person or a log
// collector looks: not in kubectl describe of the build or its pod, not in events, not in the
// controller's log.
func TestE2E_GitSourceFailures(t *testing.T) {
	ns := namespace(t)
	g := newGitRepo(t)
	regcred(t, ns)
	wrong := "Wrong-Canary-" + randomHex(t)
	createSecret(t, basicAuthSecret(ns, "git-good", g.srv.Username, g.srv.Password))
	createSecret(t, basicAuthSecret(ns, "git-wrong", g.srv.Username, wrong))
	refusedBefore := g.srv.Refused()

	build := func(name, revision, subPath, secret string) *buildv1.ImageBuild {
		return &buildv1.ImageBuild{
			TypeMeta:   metav1.TypeMeta{APIVersion: buildv1.GroupVersion.String(), Kind: "ImageBuild"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: buildv1.ImageBuildSpec{
				Image: registry + "/gitfail-" + runID + "/" + name, Tags: []string{"v1"}, Push: true,
				PushSecretRef: &buildv1.LocalSecretReference{Name: "regcred"},
				BuildArgs:     []buildv1.BuildArg{{Name: "BASE_IMAGE", Value: os.Getenv("FLOW_BASE_IMAGE")}},
				Source: buildv1.BuildSource{Git: &buildv1.GitSource{URL: g.url, Revision: revision, SubPath: subPath,
					SecretRef: &buildv1.LocalSecretReference{Name: secret}}},
			},
		}
	}
	cases := []struct {
		ib     *buildv1.ImageBuild
		reason string
		says   string
	}{
		{build("wrong-credentials", "main", "app", "git-wrong"), buildv1.ReasonAuthenticationFailed, "refused the credentials of Secret git-wrong"},
		{build("no-such-branch", "nope", "app", "git-good"), buildv1.ReasonRevisionNotFound, "revision nope is no branch or tag"},
		{build("no-such-subpath", "main", "services/none", "git-good"), buildv1.ReasonSubPathNotFound, `spec.source.git.subPath "services/none"`},
	}
	for _, c := range cases {
		applyBuild(t, ns, c.ib)
	}
	for _, c := range cases {
		ib := waitNamed(t, ns, c.ib.Name, 4*time.Minute)
		cond := readyCondition(ib)
		if ib.Status.Phase != buildv1.PhaseFailed || cond.Reason != c.reason || !strings.Contains(cond.Message, c.says) {
			t.Errorf("%s: %s %s %q; want Failed %s saying %q", c.ib.Name, ib.Status.Phase, cond.Reason, cond.Message, c.reason, c.says)
		}
		t.Logf("REAL RUN: %s: %s: %s", c.ib.Name, cond.Reason, cond.Message)
	}
	if g.srv.Refused() == refusedBefore {
		t.Error("the git server refused no request: the wrong credentials never reached it")
	}

	var seen strings.Builder
	seen.WriteString(kubectl(t, "describe", "imagebuilds", "--namespace", ns))
	seen.WriteString(kubectl(t, "describe", "pods", "--namespace", ns))
	seen.WriteString(kubectl(t, "get", "events", "--namespace", ns, "-o", "yaml"))
	seen.WriteString(kubectl(t, "get", "imagebuilds", "--namespace", ns, "-o", "yaml"))
	seen.WriteString(kubectl(t, "get", "pods", "--namespace", ns, "-o", "yaml"))
	seen.WriteString(kubectl(t, "logs", "--namespace", "flow-build-system", "deployment/flow-build-manager", "--tail=-1"))
	for _, p := range buildPods(t, ns) {
		log := kanikoLog(t, ns, p.Name)
		seen.WriteString(log)
		for _, line := range strings.Split(log, "\n") {
			if strings.HasPrefix(line, "Error:") {
				t.Logf("REAL RUN: %s: Kaniko says %q", p.Name, line)
			}
		}
	}
	for _, secret := range []string{wrong, g.srv.Password} {
		if strings.Contains(seen.String(), secret) {
			t.Errorf("a git password appears in describe, events, status, pod specs, build logs or the controller's log")
		}
	}
	// kubectl describe shows where the password comes from, never the password: proof that the
	// check above read the pods' environment.
	if !strings.Contains(seen.String(), "<set to the key 'password' in secret 'git-wrong'>") {
		t.Errorf("kubectl describe pods does not show GIT_PASSWORD taken from Secret git-wrong:\n%s", kubectl(t, "describe", "pods", "--namespace", ns))
	}
}
