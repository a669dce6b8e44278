// Package gitserver serves Git repositories over smart HTTP for tests, the way a stock server
// does: Debian's `git http-backend` (a CGI program) behind basic authentication, with its default
// settings, so that a commit is only sent when a branch or tag that reaches it is asked for.
package gitserver

import (
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Server serves the bare repositories below Root at URL/<name>.git.
type Server struct {
	// URL is the server's base URL, e.g. https://10.200.0.1:41234.
	URL string
	// Root holds the bare repositories.
	Root string
	// Username and Password are the only credentials the server accepts.
	Username, Password string

	refused atomic.Int64
	ln      net.Listener
	srv     *http.Server
}

// Backend is the path of git-http-backend, or "" when Git is not installed.
func Backend() string {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return ""
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Start serves on addr ("127.0.0.1:0" for any free port), over TLS when cert is set, and stops
// when the test ends. It skips the test when Git is not installed.
func Start(t testing.TB, addr string, cert *tls.Certificate, username, password string) *Server {
	t.Helper()
	backend := Backend()
	if backend == "" {
		t.Skip("git and its git-http-backend are not installed (Debian package git)")
	}
	s := &Server{Root: t.TempDir(), Username: username, Password: password}
	cgiHandler := &cgi.Handler{
		Path: backend,
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.Root,
			// Serve every repository below the root, without git-daemon-export-ok files.
			"GIT_HTTP_EXPORT_ALL=1",
			// The repositories belong to this process's user; a server running as another user
			// would need safe.directory, which this test server has no use for.
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + s.Root,
		},
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(pass), []byte(s.Password)) != 1 {
			s.refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		cgiHandler.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("git server: %v", err)
	}
	scheme := "http"
	if cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	s.ln = ln
	s.URL = fmt.Sprintf("%s://%s", scheme, ln.Addr().String())
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// Refused counts the requests refused for missing or wrong credentials.
func (s *Server) Refused() int64 { return s.refused.Load() }

// NewRepo creates an empty bare repository name.git and returns its URL and its directory, which
// a test pushes to directly (git push DIR).
func (s *Server) NewRepo(t testing.TB, name string) (url, dir string) {
	t.Helper()
	dir = filepath.Join(s.Root, name+".git")
	Git(t, s.Root, "init", "-q", "--bare", "-b", "main", dir)
	return s.URL + "/" + name + ".git", dir
}

// Git runs git in dir with a fixed identity and no user or system configuration, and returns its
// trimmed output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=flow test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=flow test", "GIT_COMMITTER_EMAIL=test@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
