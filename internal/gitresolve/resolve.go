// Package gitresolve finds the commit a branch or tag of a Git repository names, the way
// `git ls-remote` does over Git's smart HTTP protocol, so that the status of a build from a branch
// records the commit that was built. The first init container of a git build pod runs it
// (ProbeMain) just before Kaniko clones the repository, with the same credentials, and reports the
// commit in its termination message, where the controller reads it (FromMessage).
package gitresolve

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fleetflow/flow-build/internal/userns"
)

// MessagePrefix starts the termination message line that carries the resolved commit.
const MessagePrefix = "git-commit: "

// Environment variables holding the clone's credentials: Kaniko's own names, so that one pair of
// variables from the same Secret serves both the probe and Kaniko.
const (
	UsernameEnv = "GIT_USERNAME"
	PasswordEnv = "GIT_PASSWORD"
)

var commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// ErrNotFound means the repository has no branch or tag of that name.
var ErrNotFound = errors.New("no such branch or tag")

// Credentials are a basic-auth pair; empty means anonymous.
type Credentials struct{ Username, Password string }

// Resolve returns the full SHA of the commit that revision names in the repository at url: a
// full SHA is returned as it is (lower case), "" is the default branch (HEAD), "refs/..." is that
// ref, and a short name is a branch, else a tag, the order Kaniko looks them up in. Annotated tags
// resolve to the commit they point at.
func Resolve(ctx context.Context, client *http.Client, url, revision string, creds Credentials) (string, error) {
	if commitRE.MatchString(strings.ToLower(revision)) {
		return strings.ToLower(revision), nil
	}
	refs, err := listRefs(ctx, client, url, creds)
	if err != nil {
		return "", err
	}
	var candidates []string
	switch {
	case revision == "":
		candidates = []string{"HEAD"}
	case strings.HasPrefix(revision, "refs/"):
		candidates = []string{revision}
	default:
		candidates = []string{"refs/heads/" + revision, "refs/tags/" + revision}
	}
	for _, name := range candidates {
		if sha, ok := refs[name+"^{}"]; ok {
			return sha, nil
		}
		if sha, ok := refs[name]; ok {
			return sha, nil
		}
	}
	return "", fmt.Errorf("%w %q", ErrNotFound, orHEAD(revision))
}

func orHEAD(rev string) string {
	if rev == "" {
		return "HEAD"
	}
	return rev
}

// listRefs reads the ref advertisement of git-upload-pack (protocol v0, which every smart HTTP
// server speaks when the client does not ask for v2): ref name to object SHA.
func listRefs(ctx context.Context, client *http.Client, url string, creds Credentials) (map[string]string, error) {
	endpoint := strings.TrimSuffix(url, "/") + "/info/refs?service=git-upload-pack"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("invalid repository URL: %w", err)
	}
	if creds.Username != "" || creds.Password != "" {
		req.SetBasicAuth(creds.Username, creds.Password)
	}
	req.Header.Set("User-Agent", "git/2.0 (flow-build)")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("the server refused the credentials (HTTP %d)", resp.StatusCode)
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("the server has no such repository (HTTP 404)")
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("the server answered HTTP %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-git-upload-pack-advertisement" {
		return nil, fmt.Errorf("the server does not speak Git's smart HTTP protocol (Content-Type %q)", ct)
	}
	return parseAdvertisement(io.LimitReader(resp.Body, 64<<20))
}

// parseAdvertisement reads pkt-lines: "# service=git-upload-pack", a flush, then one
// "<sha> <ref>" per line, the first followed by NUL and the capabilities, up to a flush.
func parseAdvertisement(r io.Reader) (map[string]string, error) {
	br := bufio.NewReader(r)
	refs := map[string]string{}
	sawService := false
	for {
		line, flush, err := readPkt(br)
		if err != nil {
			return nil, err
		}
		if flush {
			if sawService {
				sawService = false
				continue
			}
			return refs, nil
		}
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "# service=") {
			sawService = true
			continue
		}
		if i := strings.IndexByte(line, 0); i >= 0 {
			line = line[:i]
		}
		sha, name, ok := strings.Cut(line, " ")
		if !ok || !commitRE.MatchString(sha) {
			return nil, fmt.Errorf("unexpected line in the ref advertisement: %q", clip(line, 100))
		}
		if name != "capabilities^{}" {
			refs[name] = sha
		}
	}
}

func readPkt(br *bufio.Reader) (line string, flush bool, err error) {
	var size [4]byte
	if _, err := io.ReadFull(br, size[:]); err != nil {
		return "", false, fmt.Errorf("reading the ref advertisement: %w", err)
	}
	n, err := strconv.ParseUint(string(size[:]), 16, 16)
	if err != nil {
		return "", false, fmt.Errorf("reading the ref advertisement: bad packet length %q", size[:])
	}
	if n == 0 {
		return "", true, nil
	}
	if n < 4 {
		return "", false, fmt.Errorf("reading the ref advertisement: bad packet length %d", n)
	}
	buf := make([]byte, n-4)
	if _, err := io.ReadFull(br, buf); err != nil {
		return "", false, fmt.Errorf("reading the ref advertisement: %w", err)
	}
	return string(buf), false, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// MessageLine is the termination message line that carries commit.
func MessageLine(commit string) string { return MessagePrefix + commit }

// FromMessage finds the commit in a container's termination message.
func FromMessage(msg string) (string, bool) {
	for _, line := range strings.Split(msg, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), MessagePrefix); ok && commitRE.MatchString(rest) {
			return rest, true
		}
	}
	return "", false
}

// ProbeMain runs the first init container of a git build pod: it reports the pod's user namespace
// (userns.Main) and, given --git-url, the commit --git-revision names, read with the credentials of
// GIT_USERNAME and GIT_PASSWORD. It always lets the build go on: when it cannot resolve the
// revision, Kaniko's clone fails with the server's own answer, which the controller classifies.
func ProbeMain(args []string, terminationLog string) int {
	fs := flag.NewFlagSet(userns.ProbeCommand, flag.ContinueOnError)
	url := fs.String("git-url", "", "repository to resolve --git-revision in (https)")
	revision := fs.String("git-revision", "", "branch, tag, refs/... name or commit SHA; empty is the default branch")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the Git server")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if code := userns.Main(fs.Args(), terminationLog); code != 0 || *url == "" {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	creds := Credentials{Username: os.Getenv(UsernameEnv), Password: os.Getenv(PasswordEnv)}
	commit, err := Resolve(ctx, &http.Client{}, *url, *revision, creds)
	if err != nil {
		// The error names the URL (which carries no credentials: the API refuses them there) and
		// the server's status, never the credentials.
		fmt.Printf("could not resolve %s in %s: %v; the clone will tell why\n", orHEAD(*revision), *url, err)
		return 0
	}
	fmt.Printf("%s of %s is commit %s\n", orHEAD(*revision), *url, commit)
	f, err := os.OpenFile(terminationLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		_, err = fmt.Fprintln(f, MessageLine(commit))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "writing the report to %s: %v\n", terminationLog, err)
	}
	return 0
}
