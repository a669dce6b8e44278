package buildpod

import (
	"strings"
	"testing"
)

func TestRedactSecrets(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Get https://bob:hunter2@registry.local/v2/", "Get https://registry.local/v2/"},
		{"clone https://bob:p@ss@github.com/acme/x.git", "clone https://github.com/acme/x.git"},
		{"git://ghp_abc123@github.com/acme/x.git#main", "git://github.com/acme/x.git#main"},
		{`{"auths":{"ghcr.io":{"auth":"dXNlcjpodW50ZXIy"}}}`, `{"auths":{"ghcr.io":{"auth":"REDACTED"}}}`},
		{`{"username":"bob","password":"hunter2","identitytoken":"eyJhbGciOi"}`, `{"username":"bob","password":"REDACTED","identitytoken":"REDACTED"}`},
		{"Authorization: Basic dXNlcjpodW50ZXIy", "Authorization: REDACTED"},
		{"authorization=Bearer eyJhbGciOiJSUzI1NiJ9.abc", "authorization=REDACTED"},
		{"GET /token?scope=x&access_token=abc123&service=y", "GET /token?scope=x&access_token=REDACTED&service=y"},
		{"GIT_TOKEN=ghp_abc123 kaniko", "GIT_TOKEN=REDACTED kaniko"},
		{"docker login --password hunter2 ghcr.io", "docker login --password=REDACTED ghcr.io"},
		{"use --docker-password=" + passwordPlaceholder, "use --docker-password=" + passwordPlaceholder},
		{"Bearer c2VjcmV0OnRva2Vu rejected", "Bearer REDACTED rejected"},
		// Prose and registry challenges stay readable.
		{"Basic authentication required", "Basic authentication required"},
		{`www-authenticate: Basic realm="feas"`, `www-authenticate: Basic realm="feas"`},
		{"POST https://127.0.0.1:5443/v2/app/blobs/uploads/: UNAUTHORIZED", "POST https://127.0.0.1:5443/v2/app/blobs/uploads/: UNAUTHORIZED"},
		{"ghcr.io/acme/app@sha256:0123", "ghcr.io/acme/app@sha256:0123"},
	}
	for _, tt := range tests {
		if got := redactSecrets(tt.in); got != tt.want {
			t.Errorf("redactSecrets(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestClipAndOneLine(t *testing.T) {
	if got := clip("日本語テキスト", 10); got != "日本..." || len(got) > 10 {
		t.Errorf("clip cut inside a rune or overflowed: %q", got)
	}
	if got := clip("short", 10); got != "short" {
		t.Errorf("clip changed a short string: %q", got)
	}
	if got := oneLine("  a\n\tb\r\n\x00c \x1b "); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
	if got := finalMessage(strings.Repeat("x", 5000)); len(got) != MaxMessageBytes || !strings.HasSuffix(got, "...") {
		t.Errorf("finalMessage length %d", len(got))
	}
}

func TestLastBytes(t *testing.T) {
	secretLine := "clone https://bob:hunter2@github.com/x.git\n"
	s := strings.Repeat("filler line\n", 10) + secretLine + "error building image: boom"
	// A cut inside the secret's line drops the whole line instead of leaving half a URL.
	cut := lastBytes(s, len("error building image: boom")+len(secretLine)-10)
	if cut != "error building image: boom" {
		t.Errorf("lastBytes = %q", cut)
	}
	if got := lastBytes(s, len(s)); got != s {
		t.Errorf("lastBytes shortened a text that fits")
	}
}
