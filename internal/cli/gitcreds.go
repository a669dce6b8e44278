package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"strings"

	"github.com/fleetflow/flow-build/internal/kubename"
	"github.com/fleetflow/flow-build/internal/usererr"
)

// gitCredential is a username and password (or access token) for one Git server.
type gitCredential struct{ username, password string }

// Values of --git-credentials.
const (
	gitCredentialsNone    = "none"
	gitCredentialsForward = "forward"
)

// gitCredentials asks the user's own git for the credentials of every repository the targets
// clone, the way git itself would before a fetch (`git credential fill`: credential helpers, the
// macOS keychain, Git Credential Manager, a store file), without ever prompting. dir is where git
// runs, so that the checkout's own credential settings count.
func gitCredentials(ctx context.Context, dir string, targets []*target) (map[string]gitCredential, error) {
	creds := map[string]gitCredential{}
	for _, t := range targets {
		if t.git == nil {
			continue
		}
		if _, ok := creds[t.git.URL]; ok {
			continue
		}
		c, err := credentialFill(ctx, dir, t.git.URL)
		if err != nil {
			return nil, err
		}
		creds[t.git.URL] = c
	}
	return creds, nil
}

func credentialFill(ctx context.Context, dir, repo string) (gitCredential, error) {
	u, err := url.Parse(repo)
	if err != nil {
		return gitCredential{}, gitError(txt("the repository URL %s is not a URL", "リポジトリの URL %s は URL ではありません", repo), err)
	}
	fail := func(why usererr.Text, cause error) error {
		e := usererr.New(usererr.KindConfig, txt("--git-credentials=forward cannot be used", "--git-credentials=forward は使用できません")).
			WithReason(why).
			WithRemedies(
				txt("store credentials for %s in git (git credential approve, a credential helper, or clone it over https once)", "%s の認証情報を git に保存してください（git credential approve、認証情報ヘルパー、または一度 https でクローン）", u.Host),
				txt("or name a kubernetes.io/basic-auth Secret of the namespace with --git-secret", "または namespace の kubernetes.io/basic-auth Secret を --git-secret で指定してください"))
		if cause != nil {
			e = e.WithCause(cause)
		}
		return e
	}
	input := fmt.Sprintf("protocol=%s\nhost=%s\npath=%s\n\n", u.Scheme, u.Host, strings.TrimPrefix(u.Path, "/"))
	cmd := exec.CommandContext(ctx, "git", "-C", dir, "credential", "fill")
	cmd.Stdin = strings.NewReader(input)
	// Never ask: flow runs in CI as often as in a terminal, and a prompt would hang it or read the
	// build's own input. GCM_INTERACTIVE covers Git Credential Manager, which has its own prompts.
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0", "GCM_INTERACTIVE=never", "GIT_ASKPASS=", "SSH_ASKPASS=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			// git says "could not read Username ... terminal prompts disabled": nothing stored.
			return gitCredential{}, fail(txt("git has no stored credentials for %s", "git に %s の認証情報が保存されていません", u.Host), nil)
		}
		return gitCredential{}, fail(txt("running git credential fill failed", "git credential fill の実行に失敗しました"), err)
	}
	var c gitCredential
	for _, line := range strings.Split(stdout.String(), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "username":
			c.username = v
		case "password":
			c.password = v
		}
	}
	if c.username == "" || c.password == "" {
		return gitCredential{}, fail(txt("git has no stored username and password or token for %s", "git に %s のユーザー名とパスワードまたはトークンが保存されていません", u.Host), nil)
	}
	return c, nil
}

// forwardedGitSecretName names the git credentials Secret forwarded for one service of one run.
func forwardedGitSecretName(runID, service string) string {
	return kubename.DNSLabel("flow-git-"+runID+"-"+strings.ToLower(service), "")
}
