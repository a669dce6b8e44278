// Package usererr holds the errors a person running `flow build` sees: failed
// registry authentication, an image name without a registry, a failed push
// and an invalid tag (plus other invalid image names), each rendered as a
// block with a headline, the target, an optional cause and the lines that say
// how to fix it — in Japanese when the locale is Japanese, in English
// otherwise. Their Japanese wording is FleetFlow's and must not change.
//
// An *Error is also an ordinary Go error: Error() is a one-line English text
// for logs and wrapping, Render() is the block meant for a terminal.
package usererr

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Lang selects the language of rendered messages.
type Lang string

// The supported languages; everything that is not Japanese is English.
const (
	English  Lang = "en"
	Japanese Lang = "ja"
)

// LangFromEnv picks the message language from the POSIX locale variables.
// LC_ALL overrides LC_MESSAGES, which overrides LANG; the first non-empty one
// decides, exactly as setlocale(3) resolves LC_MESSAGES. A value starting with
// "ja" (ja_JP.UTF-8, ja) selects Japanese; anything else, or nothing, English.
// getenv is a parameter so that callers and tests need not touch the process
// environment.
func LangFromEnv(getenv func(string) string) Lang {
	for _, key := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if v := getenv(key); v != "" {
			if strings.HasPrefix(v, "ja") {
				return Japanese
			}
			return English
		}
	}
	return English
}

// Text is one message in every supported language, so that the language is
// chosen when the message is shown rather than when the error is made.
type Text struct {
	En string
	Ja string
}

// In returns the text in lang, falling back to English.
func (t Text) In(lang Lang) string {
	if lang == Japanese && t.Ja != "" {
		return t.Ja
	}
	return t.En
}

func (t Text) empty() bool { return t.En == "" && t.Ja == "" }

// Kind is the class of failure. The first four are the product's four error
// messages; KindInvalidImage covers image names that are wrong for a reason
// other than a missing registry (uppercase, a digest, bad characters), where
// "the image name has no registry" would send the user the wrong way. The
// constants carry a Kind prefix because the constructors (AuthFailed, …) have
// the plain names.
type Kind int

// The kinds of user error.
const (
	KindAuthFailed Kind = iota + 1
	KindNoRegistry
	KindPushFailed
	KindInvalidTag
	KindInvalidImage
)

var headlines = map[Kind]Text{
	KindAuthFailed:   {En: "authentication to the registry failed", Ja: "レジストリへの認証に失敗しました"},
	KindNoRegistry:   {En: "the image name does not include a registry", Ja: "イメージ名にレジストリが含まれていません"},
	KindPushFailed:   {En: "pushing the image failed", Ja: "イメージのプッシュに失敗しました"},
	KindInvalidTag:   {En: "the tag contains characters that are not allowed", Ja: "タグに使用できない文字が含まれています"},
	KindInvalidImage: {En: "the image name is invalid", Ja: "イメージ名が不正です"},
}

// String names the kind for logs and test failures.
func (k Kind) String() string {
	switch k {
	case KindAuthFailed:
		return "AuthFailed"
	case KindNoRegistry:
		return "NoRegistry"
	case KindPushFailed:
		return "PushFailed"
	case KindInvalidTag:
		return "InvalidTag"
	case KindInvalidImage:
		return "InvalidImage"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Headline is the one-line summary of the kind in lang.
func (k Kind) Headline(lang Lang) string {
	if h, ok := headlines[k]; ok {
		return h.In(lang)
	}
	return Text{En: "unexpected error", Ja: "予期しないエラーが発生しました"}.In(lang)
}

// Error is a failure the user can act on.
type Error struct {
	Kind Kind
	// Target is what failed: an image or repository as the user wrote it.
	// Empty when unknown (the Target line is then left out).
	Target string
	// Detail is a language-neutral cause, typically a registry's or the
	// network's own one-line error text, shown verbatim. It must never carry
	// credentials; callers that hold secrets redact them before setting it.
	Detail string
	// Reason is a cause written for people, in both languages. When set it
	// is shown instead of Detail.
	Reason Text
	// Remedies are the lines under "How to fix", in order.
	Remedies []Text

	cause error
}

// Error returns a one-line English description for logs and error wrapping.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Headline(English))
	if t := OneLine(e.Target); t != "" {
		b.WriteString(": ")
		b.WriteString(t)
	}
	if c := e.causeText(English); c != "" {
		b.WriteString(": ")
		b.WriteString(c)
	}
	return b.String()
}

// Unwrap exposes the underlying error, when one was attached with WithCause,
// so that errors.Is works for context cancellation and the like.
func (e *Error) Unwrap() error { return e.cause }

// WithCause attaches err for errors.Is/As. It does not change any text: err's
// message may be long or hold details the user should not see, so the visible
// cause stays in Detail.
func (e *Error) WithCause(err error) *Error {
	e.cause = err
	return e
}

// WithDetail sets Detail, flattened to a single line of printable text.
func (e *Error) WithDetail(detail string) *Error {
	e.Detail = OneLine(detail)
	return e
}

func (e *Error) causeText(lang Lang) string {
	// Flattened here as well because the fields are public and may have
	// been set directly.
	if !e.Reason.empty() {
		return OneLine(e.Reason.In(lang))
	}
	return OneLine(e.Detail)
}

var labels = map[Lang]struct{ err, target, cause, fix string }{
	English:  {err: "Error: ", target: "Target: ", cause: "Cause: ", fix: "How to fix:"},
	Japanese: {err: "エラー: ", target: "対象: ", cause: "原因: ", fix: "解決方法:"},
}

// Render returns the full message block in lang, ending in
// a newline:
//
//	エラー: レジストリへの認証に失敗しました
//
//	対象: ghcr.io/org/myapp
//
//	解決方法:
//	  • docker login ghcr.io を実行してください
//	  • CIの場合は DOCKER_USERNAME, DOCKER_PASSWORD を設定してください
//
// A cause, when there is one, is a line of its own right after the target.
func (e *Error) Render(lang Lang) string {
	l, ok := labels[lang]
	if !ok {
		lang, l = English, labels[English]
	}
	var b strings.Builder
	b.WriteString(l.err)
	b.WriteString(e.Kind.Headline(lang))
	b.WriteString("\n")

	var body []string
	if t := OneLine(e.Target); t != "" {
		body = append(body, l.target+t)
	}
	if c := e.causeText(lang); c != "" {
		body = append(body, l.cause+c)
	}
	if len(body) > 0 {
		b.WriteString("\n")
		for _, line := range body {
			b.WriteString(line)
			b.WriteString("\n")
		}
	}
	if len(e.Remedies) > 0 {
		b.WriteString("\n")
		b.WriteString(l.fix)
		b.WriteString("\n")
		for _, r := range e.Remedies {
			b.WriteString("  • ")
			b.WriteString(r.In(lang))
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Format renders any error for the terminal: an *Error anywhere in err's
// chain as its full block, anything else as a single "Error: …" line.
func Format(err error, lang Lang) string {
	if err == nil {
		return ""
	}
	var ue *Error
	if errors.As(err, &ue) {
		return ue.Render(lang)
	}
	l, ok := labels[lang]
	if !ok {
		l = labels[English]
	}
	return l.err + err.Error() + "\n"
}

// maxDetail bounds a cause line: registry errors can embed whole response
// bodies, and a terminal block should stay readable.
const maxDetail = 400

// OneLine flattens s to one line of printable text: line breaks and tabs
// become spaces, other control characters (which could carry terminal escape
// sequences from a remote server) are dropped, runs of spaces collapse, and
// the result is cut at a readable length.
func OneLine(s string) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		if n >= maxDetail {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
