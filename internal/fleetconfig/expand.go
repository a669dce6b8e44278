package fleetconfig

import (
	"strconv"
	"strings"
)

// expandEnv replaces `${NAME}` and `${NAME:-default}` in s with values from getenv.
//
// Like the shell: an unset (or empty) `${NAME}` becomes "", `${NAME:-default}` takes the default
// when NAME is unset or empty, and the default may itself contain `${…}`. Anything that is not of
// this form (`$NAME`, `${}`, `${1X}`, an unclosed `${`) is kept literally, so a `$` in a password
// or a regular expression survives.
func expandEnv(s string, getenv func(string) string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		end := matchingBrace(s, i+2)
		if end < 0 {
			b.WriteString(s[i:])
			return b.String()
		}
		inner := s[i+2 : end]
		name, def, hasDef := strings.Cut(inner, ":-")
		if !isEnvName(name) {
			b.WriteString(s[i : end+1])
			s = s[end+1:]
			continue
		}
		v := getenv(name)
		if v == "" && hasDef {
			v = expandEnv(def, getenv)
		}
		b.WriteString(v)
		s = s[end+1:]
	}
}

// matchingBrace returns the index of the '}' closing a `${` whose body starts at from, counting
// nested `${`, or -1.
func matchingBrace(s string, from int) int {
	depth := 1
	for k := from; k < len(s); k++ {
		switch {
		case s[k] == '$' && k+1 < len(s) && s[k+1] == '{':
			depth++
			k++
		case s[k] == '}':
			depth--
			if depth == 0 {
				return k
			}
		}
	}
	return -1
}

func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// expandVars replaces `{NAME}` in a build-arg value with the value lookup finds, as FleetFlow's
// resolver does. One pass only: a value brought in by a variable is not expanded again. `{NAME}`
// that lookup does not know is left as written (so JSON or shell braces in a value survive) and
// returned in unknown, for a warning; so is nothing that is not a plain name.
func expandVars(s string, lookup func(string) (string, bool)) (string, []string) {
	if !strings.Contains(s, "{") {
		return s, nil
	}
	var b strings.Builder
	var unknown []string
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String(), unknown
		}
		j := strings.IndexByte(s[i+1:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String(), unknown
		}
		name := s[i+1 : i+1+j]
		if name != "" && !strings.ContainsAny(name, "{ \t\n\"'") {
			if v, ok := lookup(name); ok {
				b.WriteString(s[:i])
				b.WriteString(v)
				s = s[i+j+2:]
				continue
			}
			// Only a name that looks like a variable is worth a warning: `${X}` was the
			// environment's business, and `{a:b}` is data.
			if isEnvName(name) && (i == 0 || s[i-1] != '$') {
				unknown = append(unknown, name)
			}
		}
		// Not a known variable: keep the '{' and look again after it, so `{{A}}` still finds `{A}`.
		b.WriteString(s[:i+1])
		s = s[i+1:]
	}
}

// templateText renders a non-string template variable (a KDL integer, float or boolean) as text.
func templateText(v any) (string, bool) {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
