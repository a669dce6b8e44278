package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// --source git --git-credentials=forward lends the user's git credentials for the repository's
// host to each build in a basic-auth Secret that the build owns from its first moment, and never
// prints them.
func TestIntegration_GitCredentialsForwarded(t *testing.T) {
	f := newFixture(t)
	stop := f.controller(succeed)
	defer stop()
	secrets := f.secretsAsCreated()
	dir, run := gitCheckout(t, "https://git.example.com/org/p.git")
	run("config", "credential.helper", "!f() { test \"$1\" = get && printf 'username=ci-bot\\npassword="+canary+"\\n'; }; f")

	var stdout, stderr bytes.Buffer
	env := f.cliEnv(&stdout, &stderr)
	env.WorkDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := Run(ctx, env, []string{"build", "--source", "git", "--git-credentials=forward", "--tag", "v1", "prod", "--namespace", f.ns}); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), canary) {
		t.Error("the git password appears in the output")
	}
	builds := f.builds()
	if len(builds) != 1 {
		t.Fatalf("%d builds", len(builds))
	}
	ib := builds[0]
	g := ib.Spec.Source.Git
	if g == nil || g.SecretRef == nil || !strings.HasPrefix(g.SecretRef.Name, "flow-git-") || ib.Annotations[buildv1.AnnotationForwardedGitSecret] != "true" {
		t.Fatalf("git source %+v, annotations %v: want a forwarded secretRef", g, ib.Annotations)
	}
	var found bool
	for _, s := range secrets() {
		if s.Name != g.SecretRef.Name {
			continue
		}
		found = true
		if ref := metav1.GetControllerOf(&s); ref == nil || ref.UID != ib.UID {
			t.Errorf("git Secret appeared without its build as owner: %v", s.OwnerReferences)
		}
		if s.Type != corev1.SecretTypeBasicAuth || string(s.Data["username"]) != "ci-bot" || string(s.Data["password"]) != canary ||
			s.Annotations[buildv1.AnnotationEphemeralSecret] != "true" {
			t.Errorf("git Secret type %s, annotations %v, username %q", s.Type, s.Annotations, s.Data["username"])
		}
	}
	if !found {
		t.Errorf("no Secret %s was created", g.SecretRef.Name)
	}

	// Without stored credentials nothing is created at all.
	run("config", "--unset", "credential.helper")
	stdout.Reset()
	stderr.Reset()
	if code := Run(ctx, env, []string{"build", "--source", "git", "--git-credentials=forward", "--tag", "v2", "prod", "--namespace", f.ns}); code == 0 ||
		!strings.Contains(stderr.String(), "git.example.com") {
		t.Errorf("without credentials: exit %d\n%s", code, stderr.String())
	}
	if n := len(f.builds()); n != 1 {
		t.Errorf("%d builds after the refused run, want still 1", n)
	}
}
