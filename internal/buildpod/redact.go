package buildpod

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fleetflow/flow-build/internal/redact"
)

// MaxMessageBytes bounds Result.Message. Messages go into a condition, an event and `kubectl get`
// output; a log tail does not belong there, a pointer to `kubectl logs` does.
const MaxMessageBytes = 1024

// passwordPlaceholder stands for the password in the kubectl commands messages suggest; redaction
// leaves such placeholders alone.
const passwordPlaceholder = "<password>"

// redactURL removes user info from a URL for use in error messages.
func redactURL(s string) string { return redact.URL(s) }

// cleanText makes log text safe to quote: valid UTF-8, no terminal escapes, no credentials (see
// package redact). It runs on the whole raw text before anything is cut, because cutting first
// could leave half a secret that no pattern recognises any more.
func cleanText(s string) string { return redact.Text(s) }

// oneLine folds whitespace and drops control characters, so that a message reads well in an
// event and a `kubectl get` column.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r) || r == utf8.RuneError:
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut with "...".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "..."
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// finalMessage is the last step for every Result.Message: whatever went into it, the result is
// one line, free of credentials and at most MaxMessageBytes long.
func finalMessage(s string) string {
	return clip(oneLine(cleanText(s)), MaxMessageBytes)
}
