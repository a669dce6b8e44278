package main

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestReadPassword(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
		wantErr string
	}{
		{name: "first line only", content: "s3cret\nignored\n", want: "s3cret"},
		{name: "no newline", content: "s3cret", want: "s3cret"},
		{name: "CRLF", content: "s3cret\r\n", want: "s3cret"},
		{name: "empty", content: "\n", wantErr: "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readPassword(writeTemp(t, "pw", tt.content, 0o600))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("readPassword = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := readPassword(""); err == nil || !strings.Contains(err.Error(), "--password-file is required") {
		t.Errorf("readPassword(\"\") error = %v", err)
	}
	if _, err := readPassword(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("readPassword of a missing file succeeded")
	}
}

func TestHtpasswdLineIsBcrypt(t *testing.T) {
	line, err := htpasswdLine("flow", "pa:ss word")
	if err != nil {
		t.Fatal(err)
	}
	user, hash, ok := strings.Cut(strings.TrimSuffix(string(line), "\n"), ":")
	if !ok || user != "flow" || !strings.HasPrefix(hash, "$2") {
		t.Fatalf("line = %q, want flow:<bcrypt hash>", line)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("pa:ss word")); err != nil {
		t.Fatalf("hash does not match the password: %v", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("other")) == nil {
		t.Fatal("hash matches a wrong password")
	}
	// The registry checks the hash on every request: a costly one would slow every test request.
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != bcrypt.MinCost {
		t.Errorf("bcrypt cost = %d (%v), want the minimum, %d", cost, err, bcrypt.MinCost)
	}
	for _, bad := range []string{"", "a:b", "a\nb"} {
		if _, err := htpasswdLine(bad, "x"); err == nil {
			t.Errorf("htpasswdLine(%q) succeeded, want a username error", bad)
		}
	}
}

func TestDockerConfig(t *testing.T) {
	data, err := dockerConfig([]string{"10.200.0.1:5443", "localhost:5443"}, "flow", "pw")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"10.200.0.1:5443", "localhost:5443"} {
		dec, err := base64.StdEncoding.DecodeString(cfg.Auths[r].Auth)
		if err != nil || string(dec) != "flow:pw" {
			t.Errorf("auth for %s = %q (%v), want base64 of flow:pw", r, dec, err)
		}
	}
	for _, tt := range []struct {
		regs []string
		want string
	}{
		{nil, "--registry is required"},
		{[]string{"https://r:5443"}, "bare host[:port]"},
		{[]string{"r:5443/path"}, "bare host[:port]"},
	} {
		if _, err := dockerConfig(tt.regs, "flow", "pw"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("dockerConfig(%v) error = %v, want %q", tt.regs, err, tt.want)
		}
	}
}
