// Package usererr holds the errors a person running `flow build` sees: failed
// registry authentication, an image name without a registry, a failed push
// and an invalid tag (the product's four messages), other invalid image names,
// configuration and command-line errors, each rendered as a block with a
// headline, the target, an optional cause and the lines that say how to fix it
// — in Japanese by default, as FleetFlow prints them, and in English when the
// locale asks for English. Every text exists in both languages, so a block is
// never a mix of the two. The Japanese wording of the product's messages is
// FleetFlow's and must not change.
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
// "en" (en_US.UTF-8, en_GB, en) selects English; anything else — Japanese,
// another language, C, C.UTF-8 or POSIX (the default of CI runners), or no
// locale at all — selects Japanese, the product's language, as FleetFlow
// prints its messages in Japanese whatever the locale. getenv is a parameter
// so that callers and tests need not touch the process environment.
func LangFromEnv(getenv func(string) string) Lang {
	for _, key := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if v := getenv(key); v != "" {
			if strings.HasPrefix(v, "en") {
				return English
			}
			return Japanese
		}
	}
	return Japanese
}

// Text is one message in every supported language, so that the language is
// chosen when the message is shown rather than when the error is made.
type Text struct {
	En string
	Ja string
}

// T is a Text from its English and Japanese wording.
func T(en, ja string) Text { return Text{En: en, Ja: ja} }

// Same is a Text that reads the same in both languages: a path, a name, a
// registry's own message.
func Same(s string) Text { return Text{En: s, Ja: s} }

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
// "the image name has no registry" would send the user the wrong way;
// KindConfig is a problem of the FleetFlow project (its files, stages and
// services), KindUsage one of the command line, and KindUnexpected anything
// else (the cluster, the file system). The constants carry a Kind prefix
// because the constructors (AuthFailed, …) have the plain names.
type Kind int

// The kinds of user error.
const (
	KindAuthFailed Kind = iota + 1
	KindNoRegistry
	KindPushFailed
	KindInvalidTag
	KindInvalidImage
	KindConfig
	KindUsage
	KindUnexpected
)

var headlines = map[Kind]Text{
	KindAuthFailed:   {En: "authentication to the registry failed", Ja: "レジストリへの認証に失敗しました"},
	KindNoRegistry:   {En: "the image name does not include a registry", Ja: "イメージ名にレジストリが含まれていません"},
	KindPushFailed:   {En: "pushing the image failed", Ja: "イメージのプッシュに失敗しました"},
	KindInvalidTag:   {En: "the tag contains characters that are not allowed", Ja: "タグに使用できない文字が含まれています"},
	KindInvalidImage: {En: "the image name is invalid", Ja: "イメージ名が不正です"},
	KindConfig:       {En: "the FleetFlow configuration is invalid", Ja: "設定ファイルが不正です"},
	KindUsage:        {En: "the command line is invalid", Ja: "コマンドラインが不正です"},
	KindUnexpected:   {En: "an unexpected error occurred", Ja: "予期しないエラーが発生しました"},
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
	case KindConfig:
		return "Config"
	case KindUsage:
		return "Usage"
	case KindUnexpected:
		return "Unexpected"
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
	// Headline, when set, replaces the kind's headline with a more precise
	// one (`ステージ 'qa' が見つかりません`).
	Headline Text
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
	// Lines are further facts shown after the target and cause, such as the
	// list of stages to choose from.
	Lines []Text
	// Remedies are the lines under "How to fix", in order.
	Remedies []Text

	cause error
}

// New is an error of kind with a headline of its own; the With… methods add
// the rest.
func New(kind Kind, headline Text) *Error { return &Error{Kind: kind, Headline: headline} }

// WithTarget sets what failed: a file, an image, a stage.
func (e *Error) WithTarget(target string) *Error {
	e.Target = target
	return e
}

// WithReason sets the cause, written for people.
func (e *Error) WithReason(reason Text) *Error {
	e.Reason = reason
	return e
}

// WithLines adds lines shown after the target and the cause.
func (e *Error) WithLines(lines ...Text) *Error {
	e.Lines = append(e.Lines, lines...)
	return e
}

// WithRemedies adds lines under "How to fix".
func (e *Error) WithRemedies(remedies ...Text) *Error {
	e.Remedies = append(e.Remedies, remedies...)
	return e
}

func (e *Error) headline(lang Lang) string {
	if !e.Headline.empty() {
		return e.Headline.In(lang)
	}
	return e.Kind.Headline(lang)
}

// Error returns a one-line English description for logs and error wrapping.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(OneLine(e.headline(English)))
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

var labels = map[Lang]struct{ err, warn, target, cause, fix string }{
	English:  {err: "Error: ", warn: "warning: ", target: "Target: ", cause: "Cause: ", fix: "How to fix:"},
	Japanese: {err: "エラー: ", warn: "警告: ", target: "対象: ", cause: "原因: ", fix: "解決方法:"},
}

// Warning renders a warning line in lang, ending in a newline.
func Warning(w Text, lang Lang) string {
	l, ok := labels[lang]
	if !ok {
		lang, l = English, labels[English]
	}
	return l.warn + w.In(lang) + "\n"
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
	b.WriteString(e.headline(lang))
	b.WriteString("\n")

	var body []string
	if t := OneLine(e.Target); t != "" {
		body = append(body, l.target+t)
	}
	if c := e.causeText(lang); c != "" {
		body = append(body, l.cause+c)
	}
	for _, line := range e.Lines {
		body = append(body, line.In(lang))
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
// chain as its full block, anything else as an unexpected error whose cause
// is the error's own text, shown verbatim like a registry's message.
func Format(err error, lang Lang) string {
	if err == nil {
		return ""
	}
	var ue *Error
	if errors.As(err, &ue) {
		return ue.Render(lang)
	}
	return (&Error{Kind: KindUnexpected, Detail: err.Error()}).Render(lang)
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
