package fleetconfig

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fleetflow/flow-build/internal/tera"
)

// variablesBlock is a `variables { … }` node found in a file's raw text.
type variablesBlock struct {
	// stage is the stage whose block holds it, or "" for a top-level block.
	stage string
	// start and end are byte offsets of the node in the text (end after its closing brace).
	start, end int
}

// scanVariables finds the `variables { … }` blocks of a file before it is rendered: at the top
// level, and directly inside `stage "<name>" { … }`. Template variables come from these blocks,
// and the blocks' own files need those variables to render, so they are found in the raw text:
// the template tags are blanked first (tera.Blank), then the KDL structure is followed (strings,
// comments, `/-` discarded nodes, braces), so that braces in strings, in comments or in tags do not
// count. FleetFlow does this with a regular expression that a `}` in a value or a commented-out
// block fools.
func scanVariables(raw string) []variablesBlock {
	s := &kdlScanner{src: tera.Blank(raw)}
	s.run()
	return s.blocks
}

// scanFrame is an open block: the node it belongs to and where that node started.
type scanFrame struct {
	name, arg string
	discarded bool
	start     int
}

type kdlScanner struct {
	src    string
	i      int
	stack  []scanFrame
	blocks []variablesBlock

	// The node being read at the current level.
	nodeStart int
	name, arg string
	words     int // words seen in the node so far (name, then arguments)
	discard   bool
	pending   bool // a `/-` waits for the next node, argument or block
}

func (s *kdlScanner) endNode() {
	s.name, s.arg, s.words, s.discard, s.pending = "", "", 0, false, false
}

func (s *kdlScanner) run() {
	s.endNode()
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '\n' || c == ';' || c == '\r':
			s.i++
			s.endNode()
		case c == ' ' || c == '\t':
			s.i++
		case c == '\\':
			// Line continuation: the node goes on after the next line break.
			s.i++
			for s.i < len(s.src) && s.src[s.i] != '\n' {
				if strings.HasPrefix(s.src[s.i:], "//") {
					break
				}
				s.i++
			}
			if s.i < len(s.src) && s.src[s.i] == '\n' {
				s.i++
			}
		case strings.HasPrefix(s.src[s.i:], "//"):
			for s.i < len(s.src) && s.src[s.i] != '\n' {
				s.i++
			}
		case strings.HasPrefix(s.src[s.i:], "/*"):
			s.blockComment()
		case strings.HasPrefix(s.src[s.i:], "/-"):
			s.i += 2
			s.pending = true
		case c == '{':
			s.stack = append(s.stack, scanFrame{name: s.name, arg: s.arg, discarded: s.discard || s.pending, start: s.nodeStart})
			s.i++
			s.endNode()
		case c == '}':
			s.closeBlock()
			s.i++
			s.endNode()
		case c == '"' || c == '#' && s.rawStringAhead():
			start := s.i
			text := s.stringToken()
			s.word(start, text)
		case c == '(':
			// A type annotation: skip it.
			if k := strings.IndexByte(s.src[s.i:], ')'); k >= 0 {
				s.i += k + 1
			} else {
				s.i = len(s.src)
			}
		default:
			start := s.i
			for s.i < len(s.src) {
				r, size := utf8.DecodeRuneInString(s.src[s.i:])
				if unicode.IsSpace(r) || strings.ContainsRune("{}();=\"\\", r) || strings.HasPrefix(s.src[s.i:], "//") || strings.HasPrefix(s.src[s.i:], "/*") {
					break
				}
				s.i += size
			}
			if s.i < len(s.src) && s.src[s.i] == '=' {
				// A property: key=value. Skip the key, the '=' and let the value be read as a word
				// that does not count as an argument.
				s.i++
				s.pending = false
				continue
			}
			if s.i == start {
				s.i++ // a stray character such as ')' or '='
				continue
			}
			s.word(start, s.src[start:s.i])
		}
	}
}

func (s *kdlScanner) closeBlock() {
	if len(s.stack) == 0 {
		return
	}
	f := s.stack[len(s.stack)-1]
	start := f.start
	s.stack = s.stack[:len(s.stack)-1]
	if f.discarded || f.name != "variables" || s.anyDiscarded() {
		return
	}
	switch len(s.stack) {
	case 0:
		s.blocks = append(s.blocks, variablesBlock{start: start, end: s.i + 1})
	case 1:
		if parent := s.stack[0]; parent.name == "stage" && parent.arg != "" {
			s.blocks = append(s.blocks, variablesBlock{stage: parent.arg, start: start, end: s.i + 1})
		}
	}
}

func (s *kdlScanner) anyDiscarded() bool {
	for _, f := range s.stack {
		if f.discarded {
			return true
		}
	}
	return false
}

// word records a node name or argument.
func (s *kdlScanner) word(start int, text string) {
	if s.pending {
		// `/-` discards this node (when it is the node's first word) or this argument.
		s.pending = false
		if s.words == 0 {
			s.discard = true
			s.nodeStart = start
			s.words++
		}
		return
	}
	switch s.words {
	case 0:
		s.nodeStart = start
		s.name = text
	case 1:
		s.arg = text
	}
	s.words++
}

func (s *kdlScanner) blockComment() {
	depth := 0
	for s.i < len(s.src) {
		switch {
		case strings.HasPrefix(s.src[s.i:], "/*"):
			depth++
			s.i += 2
		case strings.HasPrefix(s.src[s.i:], "*/"):
			depth--
			s.i += 2
			if depth == 0 {
				return
			}
		default:
			s.i++
		}
	}
}

func (s *kdlScanner) rawStringAhead() bool {
	k := s.i
	for k < len(s.src) && s.src[k] == '#' {
		k++
	}
	return k > s.i && k < len(s.src) && s.src[k] == '"'
}

// stringToken reads a quoted, raw (#"…"#) or multi-line ("""…""") string and returns its text
// (escapes are not decoded: the scanner only needs stage names, which are plain).
func (s *kdlScanner) stringToken() string {
	hashes := 0
	for s.i < len(s.src) && s.src[s.i] == '#' {
		hashes++
		s.i++
	}
	quote := `"`
	if strings.HasPrefix(s.src[s.i:], `"""`) {
		quote = `"""`
	}
	s.i += len(quote)
	start := s.i
	closing := quote + strings.Repeat("#", hashes)
	for s.i < len(s.src) {
		if hashes == 0 && s.src[s.i] == '\\' {
			s.i += 2
			continue
		}
		if strings.HasPrefix(s.src[s.i:], closing) {
			text := s.src[start:s.i]
			s.i += len(closing)
			return text
		}
		s.i++
	}
	return s.src[start:]
}
