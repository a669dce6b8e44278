// Package tera renders the part of the Tera template language that FleetFlow projects can use.
//
// FleetFlow renders every KDL file with Tera (`Tera::render_str`, a one-off template) before it
// parses it, so `{{ name }}`, `{% if %}` and friends may appear anywhere in the text, inside KDL
// strings and comments alike. A one-off template cannot define or load other templates, and
// FleetFlow's variables are scalars, so what works in a real FleetFlow project is a small
// language, implemented here with Tera's semantics:
//
//   - `{{ expr }}`, `{% tag %}`, `{# comment #}`, with `-` whitespace control (`{{-`, `-%}` …);
//   - literals ("…", '…', `…` without escapes, integers, floats, true/false, arrays), variables
//     with dotted access (loop.index), `+ - * / %` (integers stay integers, `/` gives a float),
//     `~` concatenation, comparisons, `and`, `or`, `not`, `in`, `is defined`, `is undefined`;
//   - filters default(value=…) (only for an undefined variable), lower, upper, trim, title,
//     capitalize, replace(from=…, to=…);
//   - tags if/elif/else/endif, for … in (a list or range(start=, end=, step_by=)) with loop.index,
//     loop.index0, loop.first, loop.last, set, set_global, raw/endraw.
//
// As in Tera, an undefined variable is an error wherever its value is needed, but a bare
// undefined name is false as a condition (`{% if optional %}`). Unlike Tera, every error carries
// the line and column of its cause. Constructs Tera has but a one-off template cannot use (macro,
// include, extends, import, block) and filters outside the list are errors naming the construct.
package tera

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Code classifies an Error.
type Code int

// The kinds of template error.
const (
	// CodeSyntax: the template cannot be parsed.
	CodeSyntax Code = iota + 1
	// CodeUndefined: a variable whose value is needed is not defined; Error.Name holds it.
	CodeUndefined
	// CodeUnsupported: a filter, test, function or tag outside the supported language; Error.Name holds it.
	CodeUnsupported
	// CodeValue: an operation on a value of the wrong kind (a filter for strings given a number,
	// a division by zero, a loop too long).
	CodeValue
)

// Error is a template error, located in the template text.
type Error struct {
	Code Code
	// Line and Column are 1-based; Column counts Unicode characters.
	Line, Column int
	// Name is the variable, filter, test, function or tag at fault, when there is one.
	Name string
	// En and Ja say what is wrong, in English and in Japanese.
	En, Ja string
}

// Error formats the error as `line:col: message` in English.
func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.En) }

// errAt builds an Error located at byte offset off of src.
func errAt(src string, off int, code Code, name, en, ja string) *Error {
	line, col := position(src, off)
	return &Error{Code: code, Line: line, Column: col, Name: name, En: en, Ja: ja}
}

// position turns a byte offset into a 1-based line and column (in runes).
func position(src string, off int) (int, int) {
	off = min(max(off, 0), len(src))
	before := src[:off]
	line := strings.Count(before, "\n") + 1
	start := strings.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCountInString(before[start:]) + 1
}

// segment is a piece of the template: literal text, or the inside of a {{ }} or {% %} tag.
type segment struct {
	kind segKind
	text string // literal text, or the tag's inside without delimiters and whitespace-control dashes
	off  int    // byte offset of the segment's content in the template
	at   int    // byte offset of the tag's opening delimiter
}

type segKind int

const (
	segText segKind = iota
	segExpr
	segTag
)

// split cuts the template into text and tags, applying whitespace control and dropping
// comments. The contents of {% raw %} … {% endraw %} become text.
func split(src string) ([]segment, error) {
	var segs []segment
	trimNext := false
	addText := func(s string, off int) {
		if trimNext {
			trimmed := strings.TrimLeft(s, " \t\r\n")
			off += len(s) - len(trimmed)
			s = trimmed
			trimNext = false
		}
		if s != "" {
			segs = append(segs, segment{kind: segText, text: s, off: off})
		}
	}
	trimPrev := func() {
		if n := len(segs); n > 0 && segs[n-1].kind == segText {
			segs[n-1].text = strings.TrimRight(segs[n-1].text, " \t\r\n")
		}
	}
	i := 0
	for i < len(src) {
		open := nextOpen(src, i)
		if open < 0 {
			addText(src[i:], i)
			break
		}
		addText(src[i:open], i)
		kind := src[open+1]
		body := open + 2
		if body < len(src) && src[body] == '-' {
			trimPrev()
			body++
		}
		switch kind {
		case '#':
			end := strings.Index(src[body:], "#}")
			if end < 0 {
				return nil, errAt(src, open, CodeSyntax, "", "the comment opened here is never closed with #}",
					"ここで始まるコメントが #} で閉じられていません")
			}
			end += body
			if end > body && src[end-1] == '-' {
				trimNext = true
			}
			i = end + 2
		case '{', '%':
			closer := "}}"
			if kind == '%' {
				closer = "%}"
			}
			end, err := tagEnd(src, body, closer)
			if err != nil {
				return nil, err
			}
			inner := src[body:end]
			if strings.HasSuffix(inner, "-") {
				inner = inner[:len(inner)-1]
				trimNext = true
			}
			i = end + 2
			if kind == '{' {
				segs = append(segs, segment{kind: segExpr, text: inner, off: body, at: open})
				continue
			}
			segs = append(segs, segment{kind: segTag, text: inner, off: body, at: open})
			if strings.TrimSpace(inner) == "raw" {
				next, trimAfter, ok := rawBlock(src, i, addText)
				if !ok {
					return nil, errAt(src, open, CodeSyntax, "raw", "{% raw %} is never closed with {% endraw %}",
						"{% raw %} が {% endraw %} で閉じられていません")
				}
				i, trimNext = next, trimAfter
			}
		}
	}
	return segs, nil
}

// Blank returns src with every tag and comment ({{ }}, {% %}, {# #}) overwritten by spaces, line
// breaks kept, so that the text around the tags keeps its structure and its line and column
// positions. It lets a caller look at the shape of a file (where a KDL block starts and ends)
// before the variables that its tags need are known. Text between {% raw %} and {% endraw %}
// is kept. Tags that never close are blanked to the end of src.
func Blank(src string) string {
	b := []byte(src)
	blank := func(from, to int) {
		for k := from; k < to && k < len(b); k++ {
			if b[k] != '\n' && b[k] != '\r' {
				b[k] = ' '
			}
		}
	}
	for i := 0; i < len(src); {
		open := nextOpen(src, i)
		if open < 0 {
			break
		}
		closer := map[byte]string{'{': "}}", '%': "%}", '#': "#}"}[src[open+1]]
		end := -1
		if closer == "#}" {
			if k := strings.Index(src[open+2:], closer); k >= 0 {
				end = open + 2 + k
			}
		} else if k, err := tagEnd(src, open+2, closer); err == nil {
			end = k
		}
		if end < 0 {
			blank(open, len(src))
			break
		}
		blank(open, end+2)
		i = end + 2
		if closer == "%}" && strings.TrimSpace(strings.Trim(src[open+2:end], "-")) == "raw" {
			if k := strings.Index(src[i:], "endraw"); k >= 0 {
				if start := strings.LastIndex(src[:i+k], "{%"); start >= i {
					i = start
				}
			}
		}
	}
	return string(b)
}

// nextOpen finds the next `{{`, `{%` or `{#` at or after i.
func nextOpen(src string, i int) int {
	for {
		j := strings.IndexByte(src[i:], '{')
		if j < 0 || i+j+1 >= len(src) {
			return -1
		}
		j += i
		switch src[j+1] {
		case '{', '%', '#':
			return j
		}
		i = j + 1
	}
}

// tagEnd finds the closer of a tag whose content starts at from, skipping string literals, so
// that `{{ "}}" }}` is one tag.
func tagEnd(src string, from int, closer string) (int, error) {
	for k := from; k < len(src); k++ {
		switch c := src[k]; c {
		case '"', '\'', '`':
			end := strings.IndexByte(src[k+1:], c)
			if end < 0 {
				return 0, errAt(src, k, CodeSyntax, "", "this string is never closed", "この文字列が閉じられていません")
			}
			k += end + 1
		default:
			if strings.HasPrefix(src[k:], closer) {
				return k, nil
			}
		}
	}
	return 0, errAt(src, len(src), CodeSyntax, "", fmt.Sprintf("the tag is never closed: %s expected", closer),
		fmt.Sprintf("タグが閉じられていません（%s が必要です）", closer))
}

// rawBlock adds the text up to the matching {% endraw %} verbatim and returns where to go on and
// whether the endraw tag trims the whitespace after it; ok is false when there is no endraw.
func rawBlock(src string, from int, addText func(string, int)) (next int, trimAfter, ok bool) {
	for k := from; k < len(src); {
		j := strings.Index(src[k:], "{%")
		if j < 0 {
			break
		}
		j += k
		body := j + 2
		dash := body < len(src) && src[body] == '-'
		if dash {
			body++
		}
		end := strings.Index(src[body:], "%}")
		if end < 0 {
			break
		}
		end += body
		inner := src[body:end]
		if strings.TrimSpace(strings.TrimSuffix(inner, "-")) != "endraw" {
			k = j + 2
			continue
		}
		text := src[from:j]
		if dash {
			text = strings.TrimRight(text, " \t\r\n")
		}
		addText(text, from)
		return end + 2, strings.HasSuffix(inner, "-"), true
	}
	return 0, false, false
}

// token is a lexical token inside a tag.
type token struct {
	kind tokKind
	val  string
	off  int // byte offset in the template
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokInt
	tokFloat
	tokString
	tokOp
)

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "the end of the tag"
	case tokString:
		return fmt.Sprintf("%q", t.val)
	}
	return "`" + t.val + "`"
}

// lexTag tokenizes the inside of a tag, which starts at byte offset base of src.
func lexTag(src string, s segment) ([]token, error) {
	text, base := s.text, s.off
	var toks []token
	i := 0
	for i < len(text) {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"' || c == '\'' || c == '`':
			end := strings.IndexByte(text[i+1:], c)
			if end < 0 {
				return nil, errAt(src, base+i, CodeSyntax, "", "this string is never closed", "この文字列が閉じられていません")
			}
			toks = append(toks, token{tokString, text[i+1 : i+1+end], base + i})
			i += end + 2
		case isDigit(c):
			j := i
			for j < len(text) && isDigit(text[j]) {
				j++
			}
			kind := tokInt
			if j+1 < len(text) && text[j] == '.' && isDigit(text[j+1]) {
				kind = tokFloat
				j++
				for j < len(text) && isDigit(text[j]) {
					j++
				}
			}
			toks = append(toks, token{kind, text[i:j], base + i})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(text) && isIdentChar(text[j]) {
				j++
			}
			toks = append(toks, token{tokIdent, text[i:j], base + i})
			i = j
		default:
			op := ""
			for _, o := range []string{"==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "~", "|", "(", ")", "[", "]", ",", "=", "."} {
				if strings.HasPrefix(text[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				r, _ := utf8.DecodeRuneInString(text[i:])
				return nil, errAt(src, base+i, CodeSyntax, "", fmt.Sprintf("unexpected character %q", r),
					fmt.Sprintf("予期しない文字 %q があります", r))
			}
			toks = append(toks, token{tokOp, op, base + i})
			i += len(op)
		}
	}
	return append(toks, token{kind: tokEOF, off: base + len(text)}), nil
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }
