package buildpod

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxMessageBytes bounds Result.Message. Messages go into a condition, an event and `kubectl get`
// output; a log tail does not belong there, a pointer to `kubectl logs` does.
const MaxMessageBytes = 1024

const redacted = "REDACTED"

// secretPatterns match the places where a credential can show up in a log line. Kaniko itself does
// not print credentials, but a RUN step, a credential helper or a registry's error body might.
var secretPatterns = []struct {
	re   *regexp.Regexp
	repl string
}{
	// https://user:token@host, git://token@host: keep the scheme, drop the user info.
	// The user info runs to the last '@' before the host, since passwords may contain '@'.
	{regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^\s/"'<>]+@`), "${1}"},
	// Docker config and token JSON, also when quoted inside another string ("auth":"...", \"auth\":\"...\").
	{regexp.MustCompile(`(?i)(\\?"(?:auth|password|identitytoken|registrytoken|(?:access_|refresh_|id_)?token|secret)\\?"\s*:\s*\\?")[^"\\]*`), "${1}" + redacted},
	// HTTP headers: Authorization: Basic ..., Authorization: Bearer ..., X-Registry-Auth: ...
	{regexp.MustCompile(`(?i)\b((?:proxy-)?authorization|x-registry-auth)("?\s*[:=]\s*"?)(?:(?:basic|bearer|token)\s+)?[^\s",;]+`), "${1}${2}" + redacted},
}

// valuePatterns match name=value credentials; group 1 is the name, group 2 the value. The
// placeholder in this package's own remedies is left alone, since it is no secret.
var valuePatterns = []*regexp.Regexp{
	// key=value pairs in query strings and logs: token=, GIT_TOKEN=, password=, X-Amz-Signature= ...
	regexp.MustCompile(`(?i)\b(\w*(?:token|password|passwd|secret|signature|credential|sig))=([^&\s"';,]+)`),
	// Command lines: --password xyz, --docker-password=xyz.
	regexp.MustCompile(`(?i)(--?(?:docker-)?password)[= ](\S+)`),
}

// passwordPlaceholder stands for the password in the kubectl commands messages suggest.
const passwordPlaceholder = "<password>"

// bareToken matches "Basic <base64>" and "Bearer <token>" outside a header; the token check in
// redactSecrets keeps prose such as "Basic authentication" readable.
var bareToken = regexp.MustCompile(`(?i)\b(basic|bearer)\s+([A-Za-z0-9+/=._~-]{12,})`)

// redactSecrets removes credentials from s. It runs on the whole raw text before anything is cut,
// because cutting first could leave half a secret that no pattern recognises any more.
func redactSecrets(s string) string {
	for _, p := range secretPatterns {
		s = p.re.ReplaceAllString(s, p.repl)
	}
	for _, re := range valuePatterns {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			sub := re.FindStringSubmatch(m)
			if sub[2] == passwordPlaceholder {
				return m
			}
			return sub[1] + "=" + redacted
		})
	}
	return bareToken.ReplaceAllStringFunc(s, func(m string) string {
		sub := bareToken.FindStringSubmatch(m)
		if !strings.ContainsAny(sub[2], "0123456789+/=") {
			return m
		}
		return sub[1] + " " + redacted
	})
}

// redactURL removes user info from a URL for use in error messages.
func redactURL(s string) string { return secretPatterns[0].re.ReplaceAllString(s, "${1}") }

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

// cleanText makes log text safe to quote: valid UTF-8, no terminal escapes, no credentials.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = ansiEscape.ReplaceAllString(s, "")
	return redactSecrets(s)
}

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
