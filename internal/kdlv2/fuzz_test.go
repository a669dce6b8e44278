package kdlv2

import (
	"errors"
	"testing"
)

// FuzzParse: no text may panic, and every failure is a *SyntaxError located inside the text.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"stage \"prod\" { service \"api\" }", "a #true #\"raw\"# r#\"v1\"#", "a \"\"\"\n  x\n  \"\"\"", "}{", "a \"\\u{D800}\"",
		"/* /* */ */ a 0x_1 1e5 -0b1 .5", "a { b\r\n}", "a \"\xff\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse(data)
		if err == nil {
			return
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("error %T %q is not a *SyntaxError", err, err)
		}
		if se.Line < 1 || se.Column < 1 || se.Msg == "" {
			t.Fatalf("syntax error without a place or message: %+v", se)
		}
	})
}
