package cli

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/usererr"
)

// gitSources points every target at the checkout's remote and HEAD commit instead of a bundle, the
// form a GitOps repository holds: the cluster clones exactly the commit that was rendered, from the
// branch or tag it was rendered on (spec.source.git.ref), since most Git servers send a commit only
// as part of a branch or tag they advertise. note prints a note once per checkout.
func gitSources(ctx context.Context, targets []*target, note func(usererr.Text)) error {
	noted := map[string]bool{}
	for _, t := range targets {
		dir := t.build.Context
		top, err := git(ctx, dir, "rev-parse", "--show-toplevel")
		if err != nil {
			return gitError(txt("the context of %s (%s) is not in a Git checkout", "%s のコンテキスト（%s）は Git のチェックアウトの中にありません", t.build.Service, t.build.ContextRel), err)
		}
		top, _ = filepath.EvalSymlinks(top)
		remote, err := git(ctx, top, "remote", "get-url", "origin")
		if err != nil {
			return gitError(txt("the checkout %s has no remote named origin for the cluster to clone from; add one with git remote add origin https://...", "チェックアウト %s にはクラスターがクローンする origin リモートがありません。git remote add origin https://... で追加してください", top), nil)
		}
		url, err := httpsRemote(remote)
		if err != nil {
			return err
		}
		rev, err := git(ctx, top, "rev-parse", "HEAD")
		if err != nil {
			return gitError(txt("the checkout %s has no commit yet", "チェックアウト %s にはまだコミットがありません", top), err)
		}
		ref := headRef(ctx, top)
		if !noted[top] {
			noted[top] = true
			if !strings.HasPrefix(remote, "https://") && !strings.HasPrefix(remote, "http://") {
				note(txt("git: the remote origin of %s is %s; the cluster clones it over https, as %s (a private repository needs --git-secret or --git-credentials=forward)",
					"git: %s の origin リモートは %s です。クラスターは https で %s としてクローンします（非公開リポジトリには --git-secret か --git-credentials=forward が必要です）",
					top, redactRemote(remote), url))
			}
			if ref == "" {
				note(txt("git: HEAD of %s is on no branch and no tag points at it: the manifests pin commit %s alone, which only servers that send unadvertised commits (GitHub) can serve; check out the branch it was pushed to",
					"git: %s の HEAD はどのブランチ上にもなく、指すタグもありません。マニフェストはコミット %s だけを指定します。これを取得できるのは広告されていないコミットも送るサーバー（GitHub）だけです。プッシュ先のブランチをチェックアウトしてください",
					top, rev))
			} else if out, err := git(ctx, top, "branch", "-r", "--contains", rev); err == nil && out == "" {
				note(txt("git: commit %s of %s is on no remote-tracking branch: push it (git push) before the cluster builds it",
					"git: コミット %s（%s）はどのリモート追跡ブランチにもありません。クラスターがビルドする前にプッシュしてください（git push）",
					rev, top))
			}
		}
		sub, err := relSlash(top, dir)
		if err != nil {
			return gitError(txt("context %s is outside the checkout %s", "コンテキスト %s はチェックアウト %s の外にあります", dir, top), nil)
		}
		dockerfile, err := relSlash(dir, t.build.Dockerfile)
		if err != nil || dockerfile == "" {
			return gitError(txt("the Dockerfile of %s (%s) must be inside its context %s", "%s の Dockerfile（%s）はコンテキスト %s の中に置いてください", t.build.Service, t.build.DockerfileRel, t.build.ContextRel), nil)
		}
		t.dockerfile = dockerfile
		t.git = &buildv1.GitSource{URL: url, Revision: rev, Ref: ref, SubPath: sub}
	}
	return nil
}

// headRef is the ref of the remote that HEAD's commit is taken from: the branch HEAD is on (its
// upstream's name on origin when it tracks one), else a tag pointing at HEAD, else "".
func headRef(ctx context.Context, top string) string {
	if branch, err := git(ctx, top, "symbolic-ref", "-q", "HEAD"); err == nil && strings.HasPrefix(branch, "refs/heads/") {
		if up, err := git(ctx, top, "rev-parse", "--symbolic-full-name", "@{upstream}"); err == nil {
			if name, ok := strings.CutPrefix(up, "refs/remotes/origin/"); ok {
				return "refs/heads/" + name
			}
		}
		return branch
	}
	if tags, err := git(ctx, top, "tag", "--points-at", "HEAD"); err == nil && tags != "" {
		return "refs/tags/" + strings.Split(tags, "\n")[0]
	}
	return ""
}

// redactRemote is remote without a password, for notes.
func redactRemote(remote string) string {
	scheme, rest, ok := strings.Cut(remote, "://")
	if !ok {
		return remote
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 && at < strings.Index(rest+"/", "/") {
		user, _, _ := strings.Cut(rest[:at], ":")
		return scheme + "://" + user + "@" + rest[at+1:]
	}
	return remote
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

var scpLikeRemote = regexp.MustCompile(`^(?:[A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+):([^/].*)$`)

// httpsRemote turns a Git remote into the https URL the build pod clones: ssh remotes need keys the
// cluster does not have, and credentials embedded in a URL must never reach a manifest.
func httpsRemote(remote string) (string, error) {
	switch {
	case strings.HasPrefix(remote, "https://") || strings.HasPrefix(remote, "http://"):
		scheme, rest, _ := strings.Cut(remote, "://")
		if at := strings.Index(rest, "@"); at >= 0 && at < strings.Index(rest+"/", "/") {
			rest = rest[at+1:]
		}
		return scheme + "://" + rest, nil
	case strings.HasPrefix(remote, "ssh://"):
		rest := strings.TrimPrefix(remote, "ssh://")
		if at := strings.Index(rest, "@"); at >= 0 {
			rest = rest[at+1:]
		}
		host, path, _ := strings.Cut(rest, "/")
		host, _, _ = strings.Cut(host, ":")
		return "https://" + host + "/" + path, nil
	}
	if m := scpLikeRemote.FindStringSubmatch(remote); m != nil {
		return "https://" + m[1] + "/" + m[2], nil
	}
	return "", gitError(txt("cannot turn the remote %q into an https URL the cluster can clone", "リモート %q をクラスターがクローンできる https の URL に変換できません", remote), nil)
}

// gitError is a problem with --source git; cause, when set, is git's own message.
func gitError(reason usererr.Text, cause error) error {
	e := usererr.New(usererr.KindConfig, txt("--source git cannot be used", "--source git は使用できません")).WithReason(reason)
	if cause != nil {
		e = e.WithLines(usererr.Same(usererr.OneLine(cause.Error()))).WithCause(cause)
	}
	return e
}
