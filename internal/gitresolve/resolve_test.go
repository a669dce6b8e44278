package gitresolve

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetflow/flow-build/internal/testing/gitserver"
)

// A repository on a real git http-backend: main with two commits, an annotated tag on the first,
// a branch "feature" at the first.
func served(t *testing.T) (srv *gitserver.Server, url, first, second, tagObject string) {
	srv = gitserver.Start(t, "127.0.0.1:0", nil, "builder", "s3cret-pw")
	url, bare := srv.NewRepo(t, "app")
	work := t.TempDir()
	gitserver.Git(t, work, "init", "-q", "-b", "main")
	commit := func(content string) string {
		if err := os.WriteFile(filepath.Join(work, "msg.txt"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		gitserver.Git(t, work, "add", ".")
		gitserver.Git(t, work, "commit", "-q", "-m", content)
		return gitserver.Git(t, work, "rev-parse", "HEAD")
	}
	first = commit("first")
	gitserver.Git(t, work, "tag", "-a", "-m", "release", "v1.0.0")
	gitserver.Git(t, work, "branch", "feature")
	second = commit("second")
	gitserver.Git(t, work, "push", "-q", bare, "main", "feature", "v1.0.0")
	tagObject = gitserver.Git(t, work, "rev-parse", "v1.0.0")
	return srv, url, first, second, tagObject
}

func TestResolve(t *testing.T) {
	srv, url, first, second, tagObject := served(t)
	if tagObject == first {
		t.Fatal("the annotated tag should be an object of its own")
	}
	good := Credentials{Username: "builder", Password: "s3cret-pw"}
	for name, tc := range map[string]struct {
		revision string
		creds    Credentials
		want     string
		err      string
	}{
		"default branch":          {"", good, second, ""},
		"branch":                  {"main", good, second, ""},
		"other branch":            {"feature", good, first, ""},
		"annotated tag, peeled":   {"v1.0.0", good, first, ""},
		"full ref":                {"refs/heads/feature", good, first, ""},
		"full tag ref":            {"refs/tags/v1.0.0", good, first, ""},
		"pinned commit, no fetch": {strings.ToUpper(first), Credentials{}, first, ""},
		"missing branch":          {"nope", good, "", `no such branch or tag "nope"`},
		"wrong password":          {"main", Credentials{Username: "builder", Password: "wrong"}, "", "refused the credentials (HTTP 401)"},
		"anonymous":               {"main", Credentials{}, "", "refused the credentials (HTTP 401)"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Resolve(context.Background(), http.DefaultClient, url, tc.revision, tc.creds)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Resolve = %q, %v; want error %q", got, err, tc.err)
			case tc.err == "" && err != nil:
				t.Fatalf("Resolve: %v", err)
			case got != tc.want:
				t.Fatalf("Resolve = %q, want %q", got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "wrong") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	if _, err := Resolve(context.Background(), http.DefaultClient, srv.URL+"/missing.git", "main", good); err == nil || !strings.Contains(err.Error(), "no such repository") {
		t.Errorf("missing repository: %v", err)
	}
	if _, err := Resolve(context.Background(), http.DefaultClient, url, "nope", good); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing branch is not ErrNotFound: %v", err)
	}
}

func TestProbeMainReportsTheCommit(t *testing.T) {
	_, url, _, second, _ := served(t)
	t.Setenv(UsernameEnv, "builder")
	t.Setenv(PasswordEnv, "s3cret-pw")
	log := filepath.Join(t.TempDir(), "termination-log")
	if code := ProbeMain([]string{"--git-url=" + url, "--git-revision=main"}, log); code != 0 {
		t.Fatalf("ProbeMain = %d", code)
	}
	written, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := FromMessage(string(written)); !ok || got != second {
		t.Errorf("termination log %q: commit %q, want %q", written, got, second)
	}

	// Credentials the server refuses: nothing reported, and the build goes on (Kaniko's clone says why).
	t.Setenv(PasswordEnv, "wrong")
	if code := ProbeMain([]string{"--git-url=" + url, "--git-revision=main"}, log); code != 0 {
		t.Fatalf("ProbeMain with wrong credentials = %d, want 0", code)
	}
	written, _ = os.ReadFile(log)
	if _, ok := FromMessage(string(written)); ok {
		t.Errorf("termination log %q reports a commit it could not resolve", written)
	}
	if strings.Contains(string(written), "wrong") {
		t.Errorf("termination log shows the password: %q", written)
	}
}

func TestParseAdvertisement(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want map[string]string
		err  bool
	}{
		"empty repository": {"001e# service=git-upload-pack\n0000" + "0000", map[string]string{}, false},
		"bad length":       {"zzzz", nil, true},
		"truncated":        {"001e# service=git-upload-pack\n0000" + "0040abc", nil, true},
	} {
		got, err := parseAdvertisement(strings.NewReader(tc.in))
		if (err != nil) != tc.err || (!tc.err && len(got) != len(tc.want)) {
			t.Errorf("%s: %v, %v", name, got, err)
		}
	}
}
