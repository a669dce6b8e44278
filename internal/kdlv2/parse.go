// Package kdlv2 reads KDL v2 documents, the version FleetFlow writes, with github.com/sblinch/kdl-go,
// a KDL v1 parser: it rewrites the v2 constructs into their v1 spelling first (see normalize.go)
// and reports syntax errors at the line and column of the user's own text.
package kdlv2

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	kdl "github.com/sblinch/kdl-go"
	"github.com/sblinch/kdl-go/document"
)

// SyntaxError is a KDL syntax error, located in the text as the user sees it in an editor.
type SyntaxError struct {
	// Line and Column are 1-based; Column counts Unicode characters, a tab counts as one.
	Line, Column int
	// Msg says what is wrong; MsgJa says it in Japanese.
	Msg, MsgJa string
	// Excerpt is the offending source line followed by a line with a caret under the column,
	// for callers that want to show it; it is not part of Error().
	Excerpt string
}

// Error formats the error as `line:col: message`; prefixed with a file name it is the form editors
// and CI annotators recognise.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg)
}

// Parse parses a document's text, KDL v1 or v2, into a KDL document. Every error is a
// *SyntaxError located in data.
func Parse(data []byte) (doc *document.Document, err error) {
	out, srcMap, lexErr := normalizeKDL(data)
	if lexErr != nil {
		return nil, newSyntaxError(data, lexErr.off, lexErr.msg)
	}
	defer func() {
		// A parser bug must not take the CLI down with a stack trace; report it as a syntax error
		// at the start of the file, which is all we know.
		if r := recover(); r != nil {
			doc, err = nil, newSyntaxError(data, 0, fmt.Sprintf("the KDL parser failed on this file (%v)", r))
		}
	}()
	doc, perr := kdl.Parse(bytes.NewReader(out))
	if perr != nil {
		off, msg := locateLibError(out, perr.Error())
		return nil, newSyntaxError(data, srcMap[off], msg)
	}
	return doc, nil
}

// kdl-go reports errors as text: "parse failed: MSG at line L, column C:\n<context>" with the line
// and column of the offending token as its tokenizer counts them (line from 0; column from 0 on
// the first line and from 1 on the others), or "scan failed: MSG at line L, column C" with both
// one more. The end-of-file token carries no position at all.
var libErrRe = regexp.MustCompile(`(?s)^(parse|scan) failed: (.*?) at line (\d+), column (\d+)`)

// locateLibError turns a kdl-go error into an offset in the parsed (normalised) text and a message
// fit for users.
func locateLibError(out []byte, text string) (int, string) {
	m := libErrRe.FindStringSubmatch(text)
	if m == nil {
		return 0, humanizeLibMessage(strings.SplitN(text, "\n", 2)[0])
	}
	line, _ := strconv.Atoi(m[3])
	col, _ := strconv.Atoi(m[4])
	msg := m[2]
	if m[1] == "scan" {
		line, col = line-1, col-1
	}
	if line <= 0 && col <= 0 && strings.Contains(msg, "EOF") {
		return len(out), humanizeLibMessage(msg)
	}
	return libOffset(out, line, col), humanizeLibMessage(msg)
}

// libOffset replays kdl-go's line/column counting over out and returns the offset where it
// reaches (line, col); past the end of that line it returns the line's end.
func libOffset(out []byte, line, col int) int {
	l, c := 0, 0
	for k := 0; k < len(out); {
		if l == line && c >= col {
			return k
		}
		r, size := utf8.DecodeRune(out[k:])
		if isLibNewline(r) {
			if l == line {
				return k
			}
			l++
			c = 1
		} else {
			c++
		}
		k += size
	}
	return len(out)
}

func isLibNewline(r rune) bool {
	switch r {
	case '\r', '\n', '\u0085', '\u000c', '\u2028', '\u2029':
		return true
	}
	return false
}

var (
	unexpectedRe = regexp.MustCompile(`unexpected (\w+) in state \w+`)
	tokenNames   = map[string]string{
		"Newline":           "end of line",
		"Whitespace":        "space",
		"MultiLineComment":  "comment",
		"SingleLineComment": "comment",
		"TokenComment":      "'/-'",
		"TypeSpec":          "type annotation",
		"Decimal":           "number",
		"Hexadecimal":       "number",
		"Octal":             "number",
		"Binary":            "number",
		"SuffixedDecimal":   "number",
		"Boolean":           "boolean",
		"Null":              "null",
		"BareIdentifier":    "bare word",
		"RawString":         "string",
		"QuotedString":      "string",
		"BraceOpen":         "'{'",
		"BraceClose":        "'}'",
		"ParensOpen":        "'('",
		"ParensClose":       "')'",
		"Equals":            "'='",
		"Semicolon":         "';'",
		"Continuation":      "'\\'",
		"EOF":               "end of file",
		"Unknown":           "character",
	}
)

// humanizeLibMessage replaces the parser's state-machine jargon with token names users know.
func humanizeLibMessage(msg string) string {
	msg = strings.TrimPrefix(msg, "value from token: ")
	if m := unexpectedRe.FindStringSubmatch(msg); m != nil {
		name, ok := tokenNames[m[1]]
		if !ok {
			name = m[1]
		}
		return "unexpected " + name + " (check quoting, '=' in properties and '{'/'}' pairs)"
	}
	return msg
}

// newSyntaxError locates input offset off in data as a 1-based line and column.
func newSyntaxError(data []byte, off int, msg string) *SyntaxError {
	off = min(max(off, 0), len(data))
	line, lineStart := 1, 0
	for k := 0; k < off; {
		if nl := newlineLen(data, k); nl > 0 {
			k += nl
			if k > off {
				// off points inside a CRLF; count it on the line the CR ends.
				break
			}
			line++
			lineStart = k
			continue
		}
		k++
	}
	col := 1 + utf8.RuneCount(data[lineStart:off])
	lineEnd := lineStart
	for lineEnd < len(data) && newlineLen(data, lineEnd) == 0 {
		lineEnd++
	}
	// Tabs become single spaces so the caret, padded with spaces, lines up with the column.
	text := strings.ReplaceAll(string(bytes.ToValidUTF8(data[lineStart:lineEnd], []byte("?"))), "\t", " ")
	pad := strings.Repeat(" ", max(col-1, 0))
	return &SyntaxError{
		Line:    line,
		Column:  col,
		Msg:     msg,
		MsgJa:   japanese(msg),
		Excerpt: text + "\n" + pad + "^",
	}
}
