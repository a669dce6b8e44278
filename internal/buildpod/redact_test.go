package buildpod

import (
	"strings"
	"testing"
)

// Messages are redacted by package redact; this checks that every message passes through it.
func TestFinalMessageRedacts(t *testing.T) {
	got := finalMessage("clone https://bob:hunter2@github.com/x.git failed: GIT_TOKEN=ghp_abc123")
	if strings.Contains(got, "hunter2") || strings.Contains(got, "ghp_abc123") {
		t.Errorf("finalMessage kept a credential: %q", got)
	}
	if got := finalMessage("use --docker-password=" + passwordPlaceholder); !strings.Contains(got, passwordPlaceholder) {
		t.Errorf("finalMessage redacted the placeholder of a remedy: %q", got)
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
