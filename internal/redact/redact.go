// Package redact removes credentials from text that leaves the program: build logs shown by the
// CLI, failure messages and log lines the operator writes into an ImageBuild's status and events.
// Kaniko itself prints no credentials, but a RUN step, a credential helper or a registry's error
// body might; whatever the source, text passes through here before anybody sees it.
package redact

import (
	"regexp"
	"strings"
)

// Mark replaces a credential.
const Mark = "REDACTED"

// secretPatterns match the places where a credential can show up in a log line.
var secretPatterns = []struct {
	re   *regexp.Regexp
	repl string
}{
	// https://user:token@host, git://token@host: keep the scheme, drop the user info.
	// The user info runs to the last '@' before the host, since passwords may contain '@'.
	{regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^\s/"'<>]+@`), "${1}"},
	// Docker config and token JSON, also when quoted inside another string ("auth":"...", \"auth\":\"...\").
	{regexp.MustCompile(`(?i)(\\?"(?:auth|password|identitytoken|registrytoken|(?:access_|refresh_|id_)?token|secret)\\?"\s*:\s*\\?")[^"\\]*`), "${1}" + Mark},
	// HTTP headers: Authorization: Basic ..., Authorization: Bearer ..., X-Registry-Auth: ...
	{regexp.MustCompile(`(?i)\b((?:proxy-)?authorization|x-registry-auth)("?\s*[:=]\s*"?)(?:(?:basic|bearer|token)\s+)?[^\s",;]+`), "${1}${2}" + Mark},
}

// valuePatterns match name=value credentials; group 1 is the name, group 2 the value.
var valuePatterns = []*regexp.Regexp{
	// key=value pairs in query strings and logs: token=, GIT_TOKEN=, password=, X-Amz-Signature= ...
	regexp.MustCompile(`(?i)\b(\w*(?:token|password|passwd|secret|signature|credential|sig))=([^&\s"';,]+)`),
	// Command lines: --password xyz, --docker-password=xyz.
	regexp.MustCompile(`(?i)(--?(?:docker-)?password)[= ](\S+)`),
}

// placeholder matches a value that stands for a credential in an example command, such as the
// "<password>" of a remedy: it is no secret, and the remedy must stay readable.
var placeholder = regexp.MustCompile(`^<[a-z-]+>$`)

// bareToken matches "Basic <base64>" and "Bearer <token>" outside a header; the token check in
// Secrets keeps prose such as "Basic authentication" readable.
var bareToken = regexp.MustCompile(`(?i)\b(basic|bearer)\s+([A-Za-z0-9+/=._~-]{12,})`)

// Secrets removes credentials from s. Run it on whole text before cutting anything out of it:
// cutting first could leave half a secret that no pattern recognises any more.
func Secrets(s string) string {
	for _, p := range secretPatterns {
		s = p.re.ReplaceAllString(s, p.repl)
	}
	for _, re := range valuePatterns {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			sub := re.FindStringSubmatch(m)
			if placeholder.MatchString(sub[2]) {
				return m
			}
			return sub[1] + "=" + Mark
		})
	}
	return bareToken.ReplaceAllStringFunc(s, func(m string) string {
		sub := bareToken.FindStringSubmatch(m)
		if !strings.ContainsAny(sub[2], "0123456789+/=") {
			return m
		}
		return sub[1] + " " + Mark
	})
}

// URL removes the user info (user:token@) from a URL.
func URL(s string) string { return secretPatterns[0].re.ReplaceAllString(s, "${1}") }

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

// Text makes log text safe to show: valid UTF-8, no terminal escape sequences, no credentials.
func Text(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = ansiEscape.ReplaceAllString(s, "")
	return Secrets(s)
}
