package fleetconfig

import (
	"strings"
	"testing"
)

func TestExpandEnv(t *testing.T) {
	env := envOf(map[string]string{"A": "a", "EMPTY": "", "B": "b"})
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"${A}", "a"},
		{"x${A}y${B}z", "xaybz"},
		{"${UNSET}", ""},
		{"${UNSET:-dflt}", "dflt"},
		{"${EMPTY:-dflt}", "dflt"},
		{"${A:-dflt}", "a"},
		{"${UNSET:-${B}-x}", "b-x"},
		{"${UNSET:-}", ""},
		{"$A stays", "$A stays"},
		{"${} ${1X} ${A-B}", "${} ${1X} ${A-B}"},
		{"unclosed ${A", "unclosed ${A"},
		{"{A} is not env", "{A} is not env"},
		{"p@$$w0rd", "p@$$w0rd"},
	}
	for _, tt := range tests {
		if got := expandEnv(tt.in, env); got != tt.want {
			t.Errorf("expandEnv(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExpandVars(t *testing.T) {
	vars := map[string]string{"V": "1", "W": "{V}", "dotted.name": "d"}
	tests := []struct{ in, want string }{
		{"{V}", "1"},
		{"a{V}b{V}", "a1b1"},
		{"{W}", "{V}"}, // one pass: values are not expanded again
		{"{X}", "{X}"},
		{"{{V}}", "{1}"},
		{`{"json": {V}}`, `{"json": 1}`},
		{"{dotted.name}", "d"},
		{"{ V }", "{ V }"},
		{"{", "{"},
	}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for _, tt := range tests {
		if got, _ := expandVars(tt.in, lookup); got != tt.want {
			t.Errorf("expandVars(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Names that look like variables and are not known are reported, for a warning.
	for in, want := range map[string]string{"{X}-{V}": "X", "{GIT_SHA}": "GIT_SHA", `{"a": 1}`: "", "${HOME}": "", "{a:b}": ""} {
		_, unknown := expandVars(in, lookup)
		if strings.Join(unknown, ",") != want {
			t.Errorf("expandVars(%q) reports unknown %q, want %q", in, unknown, want)
		}
	}
}
