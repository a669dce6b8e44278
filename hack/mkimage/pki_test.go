package main

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"
)

func parseCert(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertificatesVerifyAgainstTheirCA(t *testing.T) {
	caPEM, caKey, err := newCA("flow-test-ca", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)

	tests := []struct {
		name    string
		req     certRequest
		usage   x509.ExtKeyUsage
		verify  string // DNS name or IP the certificate must be valid for ("" = none)
		wrongIP string // an address it must not be valid for
	}{
		{
			name:    "registry server",
			req:     certRequest{CommonName: "registry", SANs: []string{"localhost", "127.0.0.1", "10.200.0.1"}, Server: true, Validity: time.Hour},
			usage:   x509.ExtKeyUsageServerAuth,
			verify:  "10.200.0.1",
			wrongIP: "10.200.0.2",
		},
		{
			name:  "kubelet client",
			req:   certRequest{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}, Client: true, Validity: time.Hour},
			usage: x509.ExtKeyUsageClientAuth,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, keyPEM, err := newCert(caPEM, caKey, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				t.Fatalf("certificate and key do not form a TLS pair: %v", err)
			}
			c := parseCert(t, certPEM)
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: tt.verify, KeyUsages: []x509.ExtKeyUsage{tt.usage}}); err != nil {
				t.Fatalf("verify for %q: %v", tt.verify, err)
			}
			if tt.wrongIP != "" {
				if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: tt.wrongIP, KeyUsages: []x509.ExtKeyUsage{tt.usage}}); err == nil {
					t.Errorf("certificate is valid for %s, which is not among its SANs", tt.wrongIP)
				}
			}
			if !slices.Equal(c.Subject.Organization, tt.req.Organization) || c.Subject.CommonName != tt.req.CommonName {
				t.Errorf("subject = %v, want CN=%s O=%v", c.Subject, tt.req.CommonName, tt.req.Organization)
			}
		})
	}
}

func TestNewCertInputErrors(t *testing.T) {
	caPEM, caKey, err := newCA("ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leafPEM, leafKey, err := newCert(caPEM, caKey, certRequest{CommonName: "leaf", Server: true, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		caCert, caKy []byte
		req          certRequest
		want         string
	}{
		{"no usage", caPEM, caKey, certRequest{CommonName: "x"}, "--server, --client or both"},
		{"no CN", caPEM, caKey, certRequest{Server: true}, "common name"},
		{"leaf as CA", leafPEM, leafKey, certRequest{CommonName: "x", Server: true}, "not a CA certificate"},
		{"garbage CA", []byte("nope"), caKey, certRequest{CommonName: "x", Server: true}, "--ca-cert holds no PEM certificate"},
		{"garbage key", caPEM, []byte("nope"), certRequest{CommonName: "x", Server: true}, "--ca-key holds no PEM key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := newCert(tt.caCert, tt.caKy, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRSAKeyPair(t *testing.T) {
	keyPEM, pubPEM, err := newRSAKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pem.Decode(keyPEM)
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := pem.Decode(pubPEM)
	p, err := x509.ParsePKIXPublicKey(pb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok || !rk.PublicKey.Equal(p) || rk.N.BitLen() != 2048 {
		t.Fatalf("key pair mismatch or wrong size: %T, bits %d", k, rk.N.BitLen())
	}
}
