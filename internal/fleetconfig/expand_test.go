package fleetconfig

import "testing"

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
	for _, tt := range tests {
		if got := expandVars(tt.in, vars); got != tt.want {
			t.Errorf("expandVars(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
