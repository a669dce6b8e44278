package kdlv2

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FleetFlow writes its files in KDL v2 (`no_cache #true`, `stage "prod" { service "api" }`), but the
// parser we use, github.com/sblinch/kdl-go, implements KDL v1 only. Rather than fork the parser, this
// file rewrites the handful of v2 constructs into their v1 spelling before parsing:
//
//   - keywords `#true`, `#false`, `#null` become `true`, `false`, `null`; `#inf`, `#-inf` and `#nan`
//     become strings (no field of our schema is a float);
//   - raw strings `#"…"#` become `r#"…"#`;
//   - multi-line strings `"""…"""` (and raw `#"""…"""#`) are dedented and written as one-line strings;
//   - the v2 escapes `\s` and `\` + whitespace are decoded and the string re-escaped in v1 form;
//   - bare identifiers used as values (`target prod`) are quoted;
//   - spaces around `=` in properties are dropped;
//   - a node closed by `}` without `;` or a newline gets a `;`, because v1 demands a terminator there.
//
// v1 files pass through unchanged (r"…" raw strings, `true`/`false` keywords). The rewrite keeps a map
// from every output byte to the input byte it came from, so a position reported by the parser on the
// rewritten text can be translated back to the line and column the user sees in the editor. The
// lexer also reports the errors the library locates poorly (unterminated strings and comments,
// unbalanced braces, invalid escapes, numbers and UTF-8) with the exact position itself.

// lexError is a syntax error found while normalising, located by input byte offset.
type lexError struct {
	off int
	msg string
}

// normalizer holds the state of one rewrite.
type normalizer struct {
	in  []byte
	i   int
	out []byte
	// src[k] is the input offset that out[k] stems from; one extra entry maps the end of output.
	src []int
	// braces holds the input offsets of the '{' that are still open, innermost last.
	braces []int
	// nodeStart: the next token is a node name (start of input, after a terminator or a '{').
	nodeStart bool
	// pending: a node has begun on this line and has not been terminated yet.
	pending bool
	// cont: a line continuation '\' was seen, so the next newline does not end the node.
	cont bool
	// afterBlock: a node's '}' was just closed; only a terminator may follow.
	afterBlock bool
}

// normalizeKDL rewrites KDL v2 constructs of in into KDL v1 (see above) and returns the rewritten
// text and, for each of its bytes plus one, the input offset it comes from.
func normalizeKDL(in []byte) ([]byte, []int, *lexError) {
	n := &normalizer{
		in:        in,
		out:       make([]byte, 0, len(in)+len(in)/8+8),
		src:       make([]int, 0, len(in)+len(in)/8+9),
		nodeStart: true,
	}
	if err := n.run(); err != nil {
		return nil, nil, err
	}
	n.src = append(n.src, len(in))
	return n.out, n.src, nil
}

func (n *normalizer) emit(b []byte, from int) {
	n.out = append(n.out, b...)
	for range b {
		n.src = append(n.src, from)
	}
}

func (n *normalizer) copyTo(end int) {
	for k := n.i; k < end; k++ {
		n.out = append(n.out, n.in[k])
		n.src = append(n.src, k)
	}
	n.i = end
}

func (n *normalizer) errorf(off int, format string, args ...any) *lexError {
	return &lexError{off: off, msg: fmt.Sprintf(format, args...)}
}

// runeAt decodes the rune at offset off; invalid UTF-8 is reported as a syntax error because the
// parser would otherwise locate it poorly.
func (n *normalizer) runeAt(off int) (rune, int, *lexError) {
	if off >= len(n.in) {
		return 0, 0, nil
	}
	r, size := utf8.DecodeRune(n.in[off:])
	if r == utf8.RuneError && size <= 1 {
		return 0, 0, n.errorf(off, "invalid UTF-8 byte 0x%02x: KDL files must be UTF-8 text", n.in[off])
	}
	return r, size, nil
}

// newlineLen returns the length of the newline starting at off (CRLF counts as one), or 0.
func newlineLen(b []byte, off int) int {
	if off >= len(b) {
		return 0
	}
	switch b[off] {
	case '\n', '\f':
		return 1
	case '\r':
		if off+1 < len(b) && b[off+1] == '\n' {
			return 2
		}
		return 1
	}
	r, size := utf8.DecodeRune(b[off:])
	if r == '\u0085' || r == '\u2028' || r == '\u2029' {
		return size
	}
	return 0
}

// isKDLSpace reports KDL's non-newline whitespace, which includes the BOM and Unicode spaces.
func isKDLSpace(r rune) bool {
	switch r {
	case '\t', ' ', '\u00A0', '\u1680', '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005',
		'\u2006', '\u2007', '\u2008', '\u2009', '\u200A', '\u202F', '\u205F', '\u3000', '\uFEFF':
		return true
	}
	return false
}

// isWordDelim reports the characters that end a bare word (identifier, number or keyword).
func isWordDelim(r rune) bool {
	if isKDLSpace(r) {
		return true
	}
	switch r {
	case '\n', '\r', '\f', '\u0085', '\u2028', '\u2029',
		'{', '}', '(', ')', '[', ']', '<', '>', ';', '=', ',', '"', '\\', '/':
		return true
	}
	return false
}

func (n *normalizer) run() *lexError {
	for n.i < len(n.in) {
		if nl := newlineLen(n.in, n.i); nl > 0 {
			n.copyTo(n.i + nl)
			if n.cont {
				n.cont = false
			} else {
				n.pending, n.nodeStart, n.afterBlock = false, true, false
			}
			continue
		}
		r, size, err := n.runeAt(n.i)
		if err != nil {
			return err
		}
		next := byte(0)
		if n.i+1 < len(n.in) {
			next = n.in[n.i+1]
		}
		switch {
		case isKDLSpace(r):
			n.copyTo(n.i + size)
		case r == '/' && next == '/':
			if err := n.lineComment(); err != nil {
				return err
			}
		case r == '/' && next == '*':
			if err := n.blockComment(); err != nil {
				return err
			}
		case r == '/' && next == '-':
			// Slashdash comments out the next node, entry or block; the commented part must still be
			// well-formed, so it goes through the same rewrite and the state is left as is.
			n.copyTo(n.i + 2)
		case r == '\\':
			n.cont = true
			n.copyTo(n.i + 1)
		case r == ';':
			n.copyTo(n.i + 1)
			n.pending, n.nodeStart, n.afterBlock = false, true, false
		case r == '{':
			n.braces = append(n.braces, n.i)
			n.copyTo(n.i + 1)
			n.pending, n.nodeStart, n.cont, n.afterBlock = false, true, false, false
		case r == '}':
			if len(n.braces) == 0 {
				return n.errorf(n.i, "unexpected '}': no block is open here; remove it or add the missing '{'")
			}
			if n.pending {
				n.terminate()
			}
			n.braces = n.braces[:len(n.braces)-1]
			n.copyTo(n.i + 1)
			// The node that owns the block now needs its own terminator.
			n.pending, n.nodeStart, n.afterBlock = true, false, true
		case r == '#' && (n.i+1 == len(n.in) || next == ' ' || next == '\t' || newlineLen(n.in, n.i+1) > 0):
			// Some FleetFlow examples write shell-style comments, which KDL does not have.
			return n.errorf(n.i, "'#' does not start a comment in KDL: use // for comments")
		case r == '(':
			if n.afterBlock {
				return n.errorf(n.i, "a node ends with its '}' block: start the next node on a new line or after ';'")
			}
			if err := n.typeAnnotation(); err != nil {
				return err
			}
		default:
			if err := n.token(); err != nil {
				return err
			}
		}
	}
	if len(n.braces) > 0 {
		return n.errorf(n.braces[len(n.braces)-1], "this '{' is never closed: add the matching '}'")
	}
	return nil
}

// terminate ends the pending node before a '}': a preceding space becomes ';' so columns stay
// put, otherwise a ';' is inserted.
func (n *normalizer) terminate() {
	if k := len(n.out) - 1; k >= 0 && (n.out[k] == ' ' || n.out[k] == '\t') {
		n.out[k] = ';'
		return
	}
	n.emit([]byte{';'}, n.i)
}

func (n *normalizer) lineComment() *lexError {
	end := n.i
	for end < len(n.in) && newlineLen(n.in, end) == 0 {
		_, size, err := n.runeAt(end)
		if err != nil {
			return err
		}
		end += size
	}
	n.copyTo(end)
	return nil
}

func (n *normalizer) blockComment() *lexError {
	start, depth, k := n.i, 0, n.i
	for k < len(n.in) {
		switch {
		case n.in[k] == '/' && k+1 < len(n.in) && n.in[k+1] == '*':
			depth++
			k += 2
		case n.in[k] == '*' && k+1 < len(n.in) && n.in[k+1] == '/':
			depth--
			k += 2
			if depth == 0 {
				n.copyTo(k)
				return nil
			}
		default:
			_, size, err := n.runeAt(k)
			if err != nil {
				return err
			}
			k += size
		}
	}
	return n.errorf(start, "comment '/*' is never closed: add '*/'")
}

// typeAnnotation copies a `(type)` annotation; it does not change whether a node name is expected.
func (n *normalizer) typeAnnotation() *lexError {
	start := n.i
	n.copyTo(n.i + 1)
	for n.i < len(n.in) {
		switch c := n.in[n.i]; {
		case c == ')':
			n.copyTo(n.i + 1)
			return nil
		case c == '"' || (c == '#' && n.rawV2Hashes() > 0) || (c == 'r' && n.rawV1Hashes() >= 0):
			if err := n.stringToken(); err != nil {
				return err
			}
		case newlineLen(n.in, n.i) > 0:
			return n.errorf(start, "type annotation '(' is not closed on its line: add ')'")
		default:
			_, size, err := n.runeAt(n.i)
			if err != nil {
				return err
			}
			n.copyTo(n.i + size)
		}
	}
	return n.errorf(start, "type annotation '(' is never closed: add ')'")
}

// token handles a node name, property key or value: a word, a string or a #keyword.
func (n *normalizer) token() *lexError {
	start := n.i
	if n.afterBlock {
		return n.errorf(start, "a node ends with its '}' block: start the next node on a new line or after ';'")
	}
	c := n.in[n.i]
	isString := c == '"' || (c == 'r' && n.rawV1Hashes() >= 0) || (c == '#' && n.rawV2Hashes() > 0)
	if isString {
		if err := n.stringToken(); err != nil {
			return err
		}
	} else {
		end := n.wordEnd(n.i)
		if end == n.i {
			// A lone delimiter such as '[', ',' or a stray '='; the parser reports it.
			_, size, err := n.runeAt(n.i)
			if err != nil {
				return err
			}
			n.copyTo(n.i + size)
			n.nodeStart, n.pending = false, true
			return nil
		}
		word := string(n.in[n.i:end])
		if n.nodeStart || n.followedByEquals(end) {
			n.copyTo(end)
		} else if err := n.valueWord(word, end); err != nil {
			return err
		}
	}
	if n.nodeStart {
		n.nodeStart, n.pending = false, true
		return nil
	}
	n.pending = true
	if k := n.equalsAfter(n.i); k >= 0 {
		// A property key: v2 allows spaces around '=', v1 does not, so drop them.
		n.i = k
		n.copyTo(k + 1)
		for n.i < len(n.in) {
			r, size, _ := n.runeAt(n.i)
			if size == 0 || !isKDLSpace(r) {
				break
			}
			n.i += size
		}
	}
	return nil
}

func (n *normalizer) wordEnd(off int) int {
	for off < len(n.in) {
		r, size := utf8.DecodeRune(n.in[off:])
		if (r == utf8.RuneError && size <= 1) || isWordDelim(r) {
			break
		}
		off += size
	}
	return off
}

// equalsAfter returns the offset of '=' if only spaces separate it from off, else -1.
func (n *normalizer) equalsAfter(off int) int {
	for off < len(n.in) {
		if n.in[off] == '=' {
			return off
		}
		r, size := utf8.DecodeRune(n.in[off:])
		if !isKDLSpace(r) {
			return -1
		}
		off += size
	}
	return -1
}

func (n *normalizer) followedByEquals(off int) bool { return n.equalsAfter(off) >= 0 }

var (
	decimalRe = regexp.MustCompile(`^[+-]?[0-9][0-9_]*(\.[0-9][0-9_]*)?([eE][+-]?[0-9][0-9_]*)?$`)
	radixRe   = regexp.MustCompile(`^[+-]?0(x[0-9a-fA-F][0-9a-fA-F_]*|o[0-7][0-7_]*|b[01][01_]*)$`)
)

// valueWord rewrites a bare word in value position: numbers and v1 keywords stay, #keywords lose
// their '#', and anything else is a v2 identifier string and gets quoted.
func (n *normalizer) valueWord(word string, end int) *lexError {
	start := n.i
	switch {
	case word == "#true" || word == "#false" || word == "#null":
		n.i++
		n.copyTo(end)
	case word == "#inf" || word == "#-inf" || word == "#nan":
		n.emit([]byte(strconv.Quote(word)), start)
		n.i = end
	case word == "true" || word == "false" || word == "null":
		n.copyTo(end)
	case looksNumeric(word):
		if !decimalRe.MatchString(word) && !radixRe.MatchString(word) {
			return n.errorf(start, "invalid number %q: quote it if it is meant as a string", word)
		}
		n.copyTo(end)
	case strings.HasPrefix(word, "#"):
		return n.errorf(start, "unknown keyword %q: KDL keywords are #true, #false and #null", word)
	default:
		n.emit([]byte{'"'}, start)
		n.copyTo(end)
		n.emit([]byte{'"'}, start)
	}
	return nil
}

func looksNumeric(word string) bool {
	if word == "" {
		return false
	}
	if word[0] == '+' || word[0] == '-' {
		word = word[1:]
	}
	return word != "" && word[0] >= '0' && word[0] <= '9'
}

// rawV1Hashes returns the number of '#' of a v1 raw string `r#"…"#` starting at n.i, or -1.
func (n *normalizer) rawV1Hashes() int {
	if n.i >= len(n.in) || n.in[n.i] != 'r' {
		return -1
	}
	k := n.i + 1
	for k < len(n.in) && n.in[k] == '#' {
		k++
	}
	if k < len(n.in) && n.in[k] == '"' {
		return k - n.i - 1
	}
	return -1
}

// rawV2Hashes returns the number of '#' of a v2 raw string `#"…"#` starting at n.i, or 0.
func (n *normalizer) rawV2Hashes() int {
	k := n.i
	for k < len(n.in) && n.in[k] == '#' {
		k++
	}
	if k > n.i && k < len(n.in) && n.in[k] == '"' {
		return k - n.i
	}
	return 0
}

// stringToken rewrites one string literal of any flavour starting at n.i.
func (n *normalizer) stringToken() *lexError {
	start := n.i
	switch n.in[n.i] {
	case 'r':
		hashes := n.rawV1Hashes()
		end, err := n.rawEnd(n.i+1+hashes+1, hashes, start)
		if err != nil {
			return err
		}
		n.copyTo(end)
		return nil
	case '#':
		hashes := n.rawV2Hashes()
		body := n.i + hashes
		if strings.HasPrefix(string(n.in[body:min(body+3, len(n.in))]), `"""`) {
			return n.multiLine(body+3, hashes, true)
		}
		end, err := n.rawEnd(body+1, hashes, start)
		if err != nil {
			return err
		}
		n.emit([]byte{'r'}, start)
		n.copyTo(end)
		return nil
	}
	if strings.HasPrefix(string(n.in[n.i:min(n.i+3, len(n.in))]), `"""`) {
		return n.multiLine(n.i+3, 0, false)
	}
	end, recode, err := n.quotedEnd(n.i + 1)
	if err != nil {
		return err
	}
	if !recode {
		n.copyTo(end)
		return nil
	}
	value, err := n.unescape(n.i+1, end-1)
	if err != nil {
		return err
	}
	n.emit(quoteV1(value), start)
	n.i = end
	return nil
}

// rawEnd finds the end of a raw string whose body starts at off and which closes with '"' and
// hashes '#'.
func (n *normalizer) rawEnd(off, hashes, start int) (int, *lexError) {
	closing := `"` + strings.Repeat("#", hashes)
	idx := bytes.Index(n.in[off:], []byte(closing))
	if idx < 0 {
		return 0, n.errorf(start, "raw string is never closed: add %s", closing)
	}
	if err := n.checkUTF8(off, off+idx); err != nil {
		return 0, err
	}
	return off + idx + len(closing), nil
}

func (n *normalizer) checkUTF8(from, to int) *lexError {
	for k := from; k < to; {
		_, size, err := n.runeAt(k)
		if err != nil {
			return err
		}
		k += size
	}
	return nil
}

// quotedEnd scans a quoted string body from off and returns the offset after the closing quote and
// whether it uses v2-only escapes, so it must be re-escaped for the v1 parser.
func (n *normalizer) quotedEnd(off int) (int, bool, *lexError) {
	start, recode := off-1, false
	for off < len(n.in) {
		c := n.in[off]
		switch c {
		case '"':
			return off + 1, recode, nil
		case '\\':
			size, v2, err := n.escapeLen(off)
			if err != nil {
				return 0, false, err
			}
			recode = recode || v2
			off += size
		default:
			_, size, err := n.runeAt(off)
			if err != nil {
				return 0, false, err
			}
			off += size
		}
	}
	return 0, false, n.errorf(start, "string is never closed: add the closing '\"'")
}

// escapeLen validates the escape sequence at off (which holds '\') and returns its length and
// whether it is a v2-only escape (`\s` or `\` followed by whitespace).
func (n *normalizer) escapeLen(off int) (int, bool, *lexError) {
	if off+1 >= len(n.in) {
		return 0, false, n.errorf(off, "incomplete escape at end of file")
	}
	switch c := n.in[off+1]; c {
	case 'n', 'r', 't', '\\', '"', 'b', 'f', '/':
		return 2, false, nil
	case 's':
		return 2, true, nil
	case 'u':
		m := unicodeEscapeRe.FindSubmatch(n.in[off:])
		if m == nil {
			return 0, false, n.errorf(off, `invalid unicode escape: write \u{XXXX} with 1 to 6 hex digits`)
		}
		cp, _ := strconv.ParseUint(string(m[1]), 16, 32)
		if cp > utf8.MaxRune || (cp >= 0xD800 && cp <= 0xDFFF) {
			return 0, false, n.errorf(off, "invalid unicode escape %s: not a Unicode scalar value", m[0])
		}
		return len(m[0]), false, nil
	}
	// v2 whitespace escape: the backslash and all following whitespace and newlines vanish.
	k := off + 1
	for k < len(n.in) {
		if nl := newlineLen(n.in, k); nl > 0 {
			k += nl
			continue
		}
		r, size := utf8.DecodeRune(n.in[k:])
		if !isKDLSpace(r) {
			break
		}
		k += size
	}
	if k == off+1 {
		r, _ := utf8.DecodeRune(n.in[off+1:])
		return 0, false, n.errorf(off, `invalid escape \%c: use \n, \t, \", \\ or \u{…}`, r)
	}
	return k - off, true, nil
}

var unicodeEscapeRe = regexp.MustCompile(`^\\u\{([0-9a-fA-F]{1,6})\}`)

// unescape decodes the escapes of a quoted string body in[from:to] (already validated).
func (n *normalizer) unescape(from, to int) (string, *lexError) {
	var b strings.Builder
	for k := from; k < to; {
		if n.in[k] != '\\' {
			_, size := utf8.DecodeRune(n.in[k:])
			b.Write(n.in[k : k+size])
			k += size
			continue
		}
		size, _, err := n.escapeLen(k)
		if err != nil {
			return "", err
		}
		switch c := n.in[k+1]; c {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 's':
			b.WriteByte(' ')
		case '\\', '"', '/':
			b.WriteByte(c)
		case 'u':
			m := unicodeEscapeRe.FindSubmatch(n.in[k:])
			cp, _ := strconv.ParseUint(string(m[1]), 16, 32)
			b.WriteRune(rune(cp))
		}
		k += size
	}
	return b.String(), nil
}

// quoteV1 writes s as a KDL v1 quoted string on one line.
func quoteV1(s string) []byte {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for _, r := range s {
		switch r {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		default:
			if r < 0x20 || r == 0x7f || r == '\u0085' || r == '\u2028' || r == '\u2029' {
				b = append(b, fmt.Sprintf(`\u{%x}`, r)...)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return append(b, '"')
}

// multiLine rewrites a v2 multi-line string whose body starts at off (just after `"""`). The
// dedented value is written as a one-line v1 string followed by a block comment holding as many
// newlines as the literal spanned, so the lines after it keep their numbers for the parser. (Line
// continuations would be the obvious filler, but kdl-go lets a continuation swallow the blank line
// that follows it, which would join the next node to this one.)
func (n *normalizer) multiLine(off, hashes int, raw bool) *lexError {
	start := n.i
	closing := `"""` + strings.Repeat("#", hashes)
	nl := newlineLen(n.in, off)
	if nl == 0 {
		return n.errorf(start, `a multi-line string must start with a newline right after """`)
	}
	// Find the closing delimiter; in escaped strings a backslash protects the next character.
	k := off
	closeAt := -1
	for k < len(n.in) {
		if strings.HasPrefix(string(n.in[k:min(k+len(closing), len(n.in))]), closing) {
			closeAt = k
			break
		}
		if !raw && n.in[k] == '\\' && k+1 < len(n.in) {
			k += 2
			continue
		}
		_, size, err := n.runeAt(k)
		if err != nil {
			return err
		}
		k += size
	}
	if closeAt < 0 {
		return n.errorf(start, "multi-line string is never closed: add %s", closing)
	}
	lines, newlines := splitLines(string(n.in[off+nl : closeAt]))
	newlines++ // the one right after the opening quotes
	indent := lines[len(lines)-1]
	if strings.TrimFunc(indent, isKDLSpace) != "" {
		return n.errorf(start, "the closing %s of a multi-line string must be alone on its line", closing)
	}
	body := lines[:len(lines)-1]
	for i, line := range body {
		switch {
		case strings.TrimFunc(line, isKDLSpace) == "":
			body[i] = ""
		case strings.HasPrefix(line, indent):
			body[i] = line[len(indent):]
		default:
			return n.errorf(start, "multi-line string: line %d is indented less than the closing %s", i+1, closing)
		}
	}
	value := strings.Join(body, "\n")
	if !raw {
		// Decode escapes on the dedented text, through a scratch normalizer over that text.
		sub := &normalizer{in: []byte(value)}
		for p := 0; p < len(sub.in); {
			if sub.in[p] != '\\' {
				p++
				continue
			}
			size, _, err := sub.escapeLen(p)
			if err != nil {
				return n.errorf(start, "multi-line string: %s", err.msg)
			}
			p += size
		}
		decoded, err := sub.unescape(0, len(sub.in))
		if err != nil {
			return n.errorf(start, "multi-line string: %s", err.msg)
		}
		value = decoded
	}
	n.emit(quoteV1(value), start)
	n.emit([]byte(" /*"+strings.Repeat("\n", newlines)+"*/"), start)
	n.i = closeAt + len(closing)
	return nil
}

// splitLines splits s at any KDL newline and returns the lines and the number of newlines.
func splitLines(s string) ([]string, int) {
	var lines []string
	b := []byte(s)
	last, count := 0, 0
	for k := 0; k < len(b); {
		if nl := newlineLen(b, k); nl > 0 {
			lines = append(lines, s[last:k])
			k += nl
			last = k
			count++
			continue
		}
		k++
	}
	return append(lines, s[last:]), count
}
