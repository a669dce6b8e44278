package registrytest

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestPushCountsUploadsOnce(t *testing.T) {
	reg := New(t, "alice", "s3cret")
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(reg.Repo("team/app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.WithAuth(reg.Auth()), remote.WithTransport(reg.Transport())}

	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatalf("first push: %v", err)
	}
	first := reg.UploadedBytes()
	// Two 4 KiB random layers plus the config blob went up.
	if first < 2*4096 {
		t.Fatalf("UploadedBytes after first push = %d, want at least %d", first, 2*4096)
	}

	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatalf("second push: %v", err)
	}
	if got := reg.UploadedBytes(); got != first {
		t.Errorf("UploadedBytes after identical push = %d, want unchanged %d", got, first)
	}

	want, _ := img.Digest()
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != want {
		t.Errorf("registry digest %s, want %s", desc.Digest, want)
	}
}

func TestWrongPasswordIsRejected(t *testing.T) {
	reg := New(t, "alice", "s3cret")
	ref, _ := name.NewTag(reg.Repo("app:x"))
	img, _ := random.Image(64, 1)
	err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "wrong"}), remote.WithTransport(reg.Transport()))
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized {
		t.Fatalf("push with a wrong password: %v, want a 401 transport error", err)
	}
}

func TestAnonymousRegistry(t *testing.T) {
	reg := New(t, "", "")
	if reg.Auth() != authn.Anonymous {
		t.Errorf("Auth() = %v, want Anonymous", reg.Auth())
	}
	ref, _ := name.NewTag(reg.Repo("app:x"))
	img, _ := random.Image(64, 1)
	if err := remote.Write(ref, img, remote.WithTransport(reg.Transport())); err != nil {
		t.Fatalf("anonymous push: %v", err)
	}
}

func TestCACertificate(t *testing.T) {
	a, b := New(t, "", ""), New(t, "", "")
	block, _ := pem.Decode(a.CACertPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("CACertPEM is not a PEM certificate: %q", a.CACertPEM)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA {
		t.Error("CACertPEM is not a CA certificate")
	}

	// Each registry has its own CA: trusting one does not trust the other,
	// which is what lets tests provoke a TLS failure.
	client := &http.Client{Transport: a.Transport()}
	if resp, err := client.Get("https://" + a.Host + "/v2/"); err != nil {
		t.Fatalf("GET own registry: %v", err)
	} else {
		// Only the TLS handshake matters here; the body is never read.
		_ = resp.Body.Close()
	}
	if resp, err := client.Get("https://" + b.Host + "/v2/"); err == nil {
		_ = resp.Body.Close()
		t.Fatal("a transport trusting registry A accepted registry B's certificate")
	}
}

func TestClose(t *testing.T) {
	reg := New(t, "", "")
	reg.Close()
	reg.Close() // the cleanup calls it again
	client := &http.Client{Transport: reg.Transport()}
	if resp, err := client.Get("https://" + reg.Host + "/v2/"); err == nil {
		_ = resp.Body.Close()
		t.Fatal("registry still answers after Close")
	}
}
