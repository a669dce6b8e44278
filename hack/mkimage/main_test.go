package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const (
	testUser     = "flow"
	testPassword = "correct-horse-battery"
)

// authRegistry is an in-memory registry behind TLS and basic auth, like the cluster's.
func authRegistry(t *testing.T) (host, caFile string) {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != testUser || subtle.ConstantTimeCompare([]byte(p), []byte(testPassword)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			// A failed write shows up as a failed push in the client, which the tests check.
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	caFile = writeTemp(t, "ca.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})), 0o644)
	return strings.TrimPrefix(srv.URL, "https://"), caFile
}

// runCLI runs mkimage with args and returns its stdout.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, &out, io.Discard)
	return out.String(), err
}

func TestPushEndToEnd(t *testing.T) {
	host, caFile := authRegistry(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	makeTree(t, root, epoch)
	archive := filepath.Join(dir, "img.tar")
	if _, err := runCLI(t, "rootfs", "--dir", root, "--tag", "localhost/tree:v1", "--out", archive, "--entrypoint", "/bin/tool", "--env", "A=1"); err != nil {
		t.Fatal(err)
	}
	good := writeTemp(t, "pw", testPassword+"\n", 0o600)
	bad := writeTemp(t, "bad", "wrong-password-value\n", 0o600)
	ref := host + "/library/tree:v1"

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "good credentials", args: []string{"--username", testUser, "--password-file", good, "--ca", caFile}},
		{name: "wrong password", args: []string{"--username", testUser, "--password-file", bad, "--ca", caFile}, wantErr: "401"},
		{name: "CA not trusted", args: []string{"--username", testUser, "--password-file", good}, wantErr: "x509"},
		{name: "username without password", args: []string{"--username", testUser, "--ca", caFile}, wantErr: "--password-file is required"},
		{name: "CA file without certificate", args: []string{"--username", testUser, "--password-file", good, "--ca", good}, wantErr: "holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, append([]string{"push", "--tar", archive, "--ref", ref}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("push error = %v, want it to contain %q", err, tt.wantErr)
				}
				for _, secret := range []string{testPassword, "wrong-password-value"} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("error reveals a password: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rt, err := registryTransport(caFile)
			if err != nil {
				t.Fatal(err)
			}
			r, err := name.ParseReference(ref)
			if err != nil {
				t.Fatal(err)
			}
			desc, err := remote.Head(r, remote.WithTransport(rt), remote.WithAuth(&authn.Basic{Username: testUser, Password: testPassword}))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(out); got != desc.Digest.String() {
				t.Fatalf("push printed %q, registry has %s", got, desc.Digest)
			}
		})
	}
}

func TestCLIFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{nil, "no command given"},
		{[]string{"rootfs", "--tag", "localhost/x:1", "--out", "x.tar"}, "rootfs: --dir is required"},
		{[]string{"binary", "--bin", "m", "--tag", "localhost/x:1", "--out", "x.tar"}, "binary: --path is required"},
		{[]string{"push", "--tar", "x.tar"}, "push: --ref is required"},
		{[]string{"cert", "--ca-cert", "a", "--ca-key", "b", "--cn", "c", "--cert", "d"}, "cert: --key is required"},
		{[]string{"htpasswd", "--username", "u", "--out", "o", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := runCLI(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCLIWritesPKIAndCredentialFiles(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	pw := writeTemp(t, "pw", "s3cret\n", 0o600)
	steps := [][]string{
		{"ca", "--cn", "flow-ca", "--cert", p("ca.crt"), "--key", p("ca.key")},
		{"cert", "--ca-cert", p("ca.crt"), "--ca-key", p("ca.key"), "--cn", "registry", "--san", "10.200.0.1", "--server", "--cert", p("reg.crt"), "--key", p("reg.key")},
		{"keypair", "--key", p("sa.key"), "--pub", p("sa.pub")},
		{"htpasswd", "--username", "flow", "--password-file", pw, "--out", p("htpasswd")},
		{"dockerconfig", "--registry", "10.200.0.1:5443", "--username", "flow", "--password-file", pw, "--out", p("config.json")},
	}
	for _, s := range steps {
		if _, err := runCLI(t, s...); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
	}
	// Private material must be readable by root only.
	for n, want := range map[string]os.FileMode{"ca.key": 0o600, "reg.key": 0o600, "sa.key": 0o600, "htpasswd": 0o600, "config.json": 0o600, "ca.crt": 0o644, "sa.pub": 0o644} {
		fi, err := os.Stat(p(n))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode = %o, want %o", n, fi.Mode().Perm(), want)
		}
	}
	cfg, _ := os.ReadFile(p("config.json"))
	if strings.Contains(string(cfg), "s3cret") {
		t.Error("config.json holds the password in clear text; want base64 in auth")
	}
}

// Two busybox images, one per platform, pushed as one index: what the local node's multi-arch
// base image is made of. The applets of a foreign busybox come from one that runs here.
func TestPushBusyboxIndex(t *testing.T) {
	host, caFile := authRegistry(t)
	dir := t.TempDir()
	fake := writeTemp(t, "busybox", "#!/bin/sh\nprintf 'busybox\\nsh\\nuname\\n'\n", 0o755)
	foreign := writeTemp(t, "busybox-arm64", "not runnable here", 0o755)
	amd, arm := filepath.Join(dir, "amd.tar"), filepath.Join(dir, "arm.tar")
	if _, err := runCLI(t, "busybox", "--busybox", fake, "--platform", "linux/amd64", "--tag", "localhost/busybox:1", "--out", amd); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "busybox", "--busybox", foreign, "--applets-from", fake, "--platform", "linux/arm64", "--tag", "localhost/busybox:1", "--out", arm); err != nil {
		t.Fatal(err)
	}
	pw := writeTemp(t, "pw", testPassword+"\n", 0o600)
	ref := host + "/library/busybox:1"
	out, err := runCLI(t, "push", "--tar", amd, "--tar", arm, "--ref", ref, "--username", testUser, "--password-file", pw, "--ca", caFile)
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := registryTransport(caFile)
	r, _ := name.ParseReference(ref)
	desc, err := remote.Get(r, remote.WithTransport(rt), remote.WithAuth(&authn.Basic{Username: testUser, Password: testPassword}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != desc.Digest.String() || !desc.MediaType.IsIndex() {
		t.Fatalf("push printed %q; registry has %s %s", out, desc.MediaType, desc.Digest)
	}
	idx, _ := desc.ImageIndex()
	m, _ := idx.IndexManifest()
	if len(m.Manifests) != 2 || m.Manifests[0].Platform.Architecture != "amd64" || m.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("index entries %+v", m.Manifests)
	}
	img, _ := idx.Image(m.Manifests[1].Digest)
	cf, _ := img.ConfigFile()
	if cf.Architecture != "arm64" || cf.OS != "linux" {
		t.Errorf("the arm64 image's config says %s/%s", cf.OS, cf.Architecture)
	}
	if _, err := runCLI(t, "push", "--tar", amd, "--tar", amd, "--ref", ref, "--username", testUser, "--password-file", pw, "--ca", caFile); err == nil ||
		!strings.Contains(err.Error(), "one image per platform") {
		t.Errorf("two images of one platform: %v", err)
	}
}
