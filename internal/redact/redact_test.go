package redact

import (
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
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
		{"use --docker-password=" + "<password>", "use --docker-password=" + "<password>"},
		{"Bearer c2VjcmV0OnRva2Vu rejected", "Bearer REDACTED rejected"},
		// Prose and registry challenges stay readable.
		{"Basic authentication required", "Basic authentication required"},
		{`www-authenticate: Basic realm="feas"`, `www-authenticate: Basic realm="feas"`},
		{"POST https://127.0.0.1:5443/v2/app/blobs/uploads/: UNAUTHORIZED", "POST https://127.0.0.1:5443/v2/app/blobs/uploads/: UNAUTHORIZED"},
		{"ghcr.io/acme/app@sha256:0123", "ghcr.io/acme/app@sha256:0123"},
	}
	for _, tt := range tests {
		if got := Secrets(tt.in); got != tt.want {
			t.Errorf("Secrets(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	got := Text("\x1b[31mERROR\x1b[0m password=hunter2 \xff")
	if got != "ERROR password=REDACTED ?" {
		t.Errorf("Text = %q", got)
	}
	if strings.ContainsRune(got, 0x1b) {
		t.Error("Text kept an escape sequence")
	}
}

func TestURL(t *testing.T) {
	if got := URL("https://bob:hunter2@github.com/acme/x.git"); got != "https://github.com/acme/x.git" {
		t.Errorf("URL = %q", got)
	}
}
