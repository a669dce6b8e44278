package kdlv2

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	kdl "github.com/sblinch/kdl-go"
	"github.com/sblinch/kdl-go/document"
)

// parseKDL is Parse with the file name in front of the error, as a config loader reports it.
func parseKDL(file string, data []byte) (*document.Document, error) {
	doc, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s:%w", file, err)
	}
	return doc, nil
}

// TestNormalizeKDL checks that KDL v2 text parses to the same document as its v1 spelling, and
// that v1 text is left alone.
func TestNormalizeKDL(t *testing.T) {
	tests := []struct {
		name string
		v2   string
		v1   string // parsed directly by kdl-go
	}{
		{"#keywords", "a #true #false #null", "a true false null"},
		{"v1 keywords stay", "a true false", "a true false"},
		{"non-finite floats become strings", "a #inf #-inf #nan", `a "#inf" "#-inf" "#nan"`},
		{"node closed by } on one line", `stage "prod" { service "api" }`, "stage \"prod\" {\nservice \"api\"\n}"},
		{"nested one-line blocks", `a { b { c 1 } }`, "a {\nb {\nc 1\n}\n}"},
		{"} right after a value", `a { b "x"}`, "a {\nb \"x\"\n}"},
		{"empty block", `a { }`, "a {\n}"},
		{"bare identifier values", `target prod k=v`, `target "prod" k="v"`},
		{"numbers stay numbers", `a 1 -2 +3 1_000 0x1f 0o7 0b1 1.5e3`, `a 1 -2 3 1000 0x1f 0o7 0b1 1500.0`},
		// One property per node: kdl-go generates properties in map order.
		{"spaces around =", "a k = \"v\"\nb j= 1", "a k=\"v\"\nb j=1"},
		{"v2 raw string", `a #"c:\path "q""#`, `a r#"c:\path "q""#`},
		{"v1 raw string", `a r"x\y" r##"a"#b"##`, `a r"x\y" r##"a"#b"##`},
		{"v2 escapes", `a "x\sy" "p\   q"`, `a "x y" "pq"`},
		{"multi-line string", "a \"\"\"\n    one\n      two\n\n    three\\tx\n    \"\"\" b=1\nc 2", "a \"one\\n  two\\n\\nthree\\tx\" b=1\nc 2"},
		{"multi-line raw string", "a #\"\"\"\n  \\n\n  \"\"\"#", `a "\\n"`},
		{"type annotations", `(t)a (u8)1 (s)x k=(t)v`, `(t)a (u8)1 (s)"x" k=(t)"v"`},
		{"slashdash", "a { /- b 1; c 2 }\nd /- \"x\" 3 /- { e }", "a {\n/- b 1\nc 2\n}\nd /- \"x\" 3"},
		{"comments and continuation", "a 1 /* b { */ \\ // c\n 2 // }\nb", "a 1 2\nb"},
		{"quoted node names and keys", `"my node" "k"=1`, `"my node" "k"=1`},
		{"semicolons", `a 1; b 2;`, "a 1\nb 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := parseKDL("t.kdl", []byte(tt.v2))
			if err != nil {
				t.Fatalf("parseKDL(%q) error = %v", tt.v2, err)
			}
			want, err := kdl.Parse(strings.NewReader(tt.v1))
			if err != nil {
				t.Fatalf("kdl.Parse(%q) error = %v", tt.v1, err)
			}
			var got, exp bytes.Buffer
			if err := kdl.Generate(doc, &got); err != nil {
				t.Fatal(err)
			}
			if err := kdl.Generate(want, &exp); err != nil {
				t.Fatal(err)
			}
			if got.String() != exp.String() {
				t.Errorf("%q parses as\n%s\nwant\n%s", tt.v2, got.String(), exp.String())
			}
		})
	}
}

// TestSyntaxErrorPositions checks file:line:col for errors found by the rewrite and by the parser.
func TestSyntaxErrorPositions(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unclosed string", "a 1\nb \"x\n", "t.kdl:2:3: string is never closed"},
		{"unclosed raw string", "a #\"x\n", "t.kdl:1:3: raw string is never closed"},
		{"unclosed comment", "a\n  /* x", "t.kdl:2:3: comment '/*' is never closed"},
		{"stray brace", "a {\n}\n  }", "t.kdl:3:3: unexpected '}'"},
		{"unclosed brace", "a {\n  b {\n  }", "t.kdl:1:3: this '{' is never closed"},
		{"invalid escape", `a "ok\q"`, `t.kdl:1:6: invalid escape \q`},
		{"invalid unicode escape", `a "\u{D800}"`, `t.kdl:1:4: invalid unicode escape`},
		{"invalid number", "a\nb 12abc", `t.kdl:2:3: invalid number "12abc"`},
		{"shell-style comment", "a {\n  context \".\"  # root\n}", "t.kdl:2:16: '#' does not start a comment in KDL: use //"},
		{"unknown keyword", "a #yes", `t.kdl:1:3: unknown keyword "#yes"`},
		{"node after its block", "a { b } c", "t.kdl:1:9: a node ends with its '}' block"},
		{"invalid UTF-8", "a \"\xff\"", "t.kdl:1:4: invalid UTF-8"},
		{"parser error on the first line", "a x=", "t.kdl:1:5: unexpected end of file"},
		{"scanner error on the first line", "a [", "t.kdl:1:3: unexpected character ["},
		{"parser error on a later line", "a 1\n\nb [", "t.kdl:3:3: unexpected character ["},
		{"parser error after inserted quotes", "a x y=\n", "t.kdl:1:7: unexpected end of line"},
		{"multi-line string not dedented", "a \"\"\"\n x\n  \"\"\"", "t.kdl:1:3: multi-line string: line 1 is indented less"},
		{"multi-line string keeps later lines", "a \"\"\"\n  x\n  \"\"\"\nb k=", "t.kdl:4:5: unexpected end of file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseKDL("t.kdl", []byte(tt.src))
			if err == nil {
				t.Fatalf("parseKDL(%q) succeeded, want %q", tt.src, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("parseKDL(%q) error = %q, want prefix %q", tt.src, err, tt.want)
			}
		})
	}
}

// Every syntax error has a Japanese text of its own: the Japanese block never shows an English
// message, and the general fallback is kept for the parser library's own messages.
func TestSyntaxErrorsHaveJapanese(t *testing.T) {
	for _, src := range []string{
		"a \"x", "a #\"x", "a }", "a {", "/* x", "a (t", "a 1x", "a #maybe", "a \"\\q\"", "a \"\\u{zz}\"",
		"a \"\\u{d800}\"", "a \"\"\"x\"\"\"", "a \"\"\"\nx", "# x", "a {} b", "a \"\\", "a \xff", "a=", "(t)",
		"a \"\"\"\n  \\q\n  \"\"\"", "a \"\"\"\n  x\n   \"\"\"",
	} {
		_, err := Parse([]byte(src))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a syntax error", src, err)
			continue
		}
		fromLibrary := strings.Contains(se.Msg, " in state ") || strings.HasPrefix(se.Msg, "expected ")
		if se.MsgJa == "" || se.MsgJa == "KDL の構文が正しくありません" && !fromLibrary {
			t.Errorf("Parse(%q): %q has no Japanese text (got %q)", src, se.Msg, se.MsgJa)
		}
	}
}
