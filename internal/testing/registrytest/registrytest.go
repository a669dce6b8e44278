// Package registrytest runs a real container registry inside a test: the
// distribution (CNCF "registry") server, in memory, behind TLS with a CA made
// for that one registry, with htpasswd (bcrypt) basic authentication.
//
// It is the real server rather than a fake so that tests see the same status
// codes, challenges and error bodies as production registries, and so that
// credentials, TLS trust and "nothing re-uploaded" can be proven end to end.
package registrytest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	// The registry finds its auth and storage backends by name through
	// these registrations.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// Registry is a running test registry.
type Registry struct {
	// Host is host:port to put in image names, e.g. 127.0.0.1:40123.
	Host string
	// CACertPEM is the PEM certificate of the CA that signed the server
	// certificate; give it to anything that must trust the registry
	// (Kaniko's /kaniko/ssl/certs, an http.Transport).
	CACertPEM []byte
	// Username and Password are the one account the registry accepts;
	// empty when it was started without authentication.
	Username string
	Password string

	srv      *httptest.Server
	app      *handlers.App
	pool     *x509.CertPool
	uploaded atomic.Int64
	closed   atomic.Bool
	denied   atomic.Bool
}

// New starts a registry that accepts user/pass only, and stops it when the
// test ends. With user == "" the registry needs no authentication.
func New(t testing.TB, user, pass string) *Registry {
	t.Helper()
	// handlers.NewApp ignores the configured log level and logs every 404
	// of a HEAD-before-upload at error level through logrus' global logger:
	// the normal first push of every blob. Tests assert on what clients see,
	// so the server's own log only drowns their output.
	logrus.SetLevel(logrus.FatalLevel)

	ca, caKey, caPEM := newCA(t)
	serverCert := newServerCert(t, ca, caKey)

	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"inmemory": configuration.Parameters{},
			"delete":   configuration.Parameters{"enabled": true},
			// The purger's first run is scheduled at random within the
			// hour; a test registry never lives that long and must not
			// leave that goroutine behind.
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
	}
	cfg.HTTP.Secret = hex.EncodeToString(secret)
	if user != "" {
		htpasswd := filepath.Join(t.TempDir(), "htpasswd")
		hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "registrytest", "path": htpasswd}}
	}

	r := &Registry{CACertPEM: caPEM, Username: user, Password: pass, pool: x509.NewCertPool()}
	r.pool.AddCert(ca)
	r.app = handlers.NewApp(context.Background(), cfg)
	r.srv = httptest.NewUnstartedServer(r.denyWrites(r.countUploads(r.app)))
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}
	// Handshake failures are expected in tests of untrusted CAs; keep them
	// with the test's own log instead of on the process's stderr.
	r.srv.Config.ErrorLog = log.New(testWriter{t}, "registrytest: ", 0)
	r.srv.StartTLS()
	r.Host = strings.TrimPrefix(r.srv.URL, "https://")
	t.Cleanup(r.Close)
	return r
}

// countUploads counts the bytes of blob upload bodies (PATCH and PUT on
// /v2/<name>/blobs/uploads/…), whatever the registry then does with them, so
// a test can show that a second push sent no layer data at all.
func (r *Registry) countUploads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if (req.Method == http.MethodPatch || req.Method == http.MethodPut) && strings.Contains(req.URL.Path, "/blobs/uploads/") && req.Body != nil {
			req.Body = &countingBody{ReadCloser: req.Body, n: &r.uploaded}
		}
		next.ServeHTTP(w, req)
	})
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// DenyWrites makes the registry behave like one that knows the user but
// does not let them push (GHCR or Docker Hub without write permission on the
// repository): once on, every write by an authenticated user (POST, PUT,
// PATCH, DELETE under /v2/<name>/) is answered 403 with the registry API's
// DENIED error code. Reads and requests with wrong credentials are served as
// before, so a wrong password is still a 401.
func (r *Registry) DenyWrites(deny bool) { r.denied.Store(deny) }

func (r *Registry) denyWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		user, pass, _ := req.BasicAuth()
		write := req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch || req.Method == http.MethodDelete
		if r.denied.Load() && write && strings.HasPrefix(req.URL.Path, "/v2/") && user == r.Username && pass == r.Password {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// UploadedBytes is the number of blob bytes clients have sent so far.
func (r *Registry) UploadedBytes() int64 { return r.uploaded.Load() }

// Transport returns a fresh transport that trusts only this registry's CA.
func (r *Registry) Transport() http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: r.pool, MinVersion: tls.VersionTLS12}
	return tr
}

// Auth returns the registry's valid credentials (Anonymous without auth).
func (r *Registry) Auth() authn.Authenticator {
	if r.Username == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: r.Username, Password: r.Password}
}

// Repo returns the full name of a repository on this registry.
func (r *Registry) Repo(path string) string { return r.Host + "/" + path }

// Close stops the registry; it runs on test cleanup and may be called
// earlier, e.g. to test a registry that went away.
func (r *Registry) Close() {
	if r.closed.Swap(true) {
		return
	}
	r.srv.Close()
	_ = r.app.Shutdown()
}

func newCA(t testing.TB) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "registrytest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
		t.Fatal(err)
	}
	return cert, key, buf.Bytes()
}

func newServerCert(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: "registrytest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
