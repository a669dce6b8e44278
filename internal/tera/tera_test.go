package tera

import (
	"errors"
	"strings"
	"testing"
)

// teraContext is the context the reference outputs were produced with: Tera 1.17.1's
// `Tera::default().render_str`, the call FleetFlow makes.
func teraContext() map[string]any {
	return map[string]any{
		"name": "MyApp", "empty": "", "n": int64(8000), "flag": true, "off": false, "env": "prod", "f": 1.5,
	}
}

// TestTeraReferenceOutputs renders every case whose output was taken from real Tera: what works
// must give Tera's text, what fails in Tera must fail here too, with the same cause.
func TestTeraReferenceOutputs(t *testing.T) {
	for _, tc := range []struct {
		tmpl, want string
	}{
		{`{{ name }}`, "MyApp"},
		{`{{name}}`, "MyApp"},
		{`{{- name -}}|`, "MyApp|"},
		{`{{ name | lower }}`, "myapp"},
		{`{{ name | upper }}`, "MYAPP"},
		{`{{ name | lower | upper }}`, "MYAPP"},
		{`{{ name | title }}`, "Myapp"},
		{`{{ missing | default(value="8080") }}`, "8080"},
		{`{{ missing | default(value='x') }}`, "x"},
		{`{{ missing | default(value=env) }}`, "prod"},
		{`{{ empty | default(value="8080") }}`, ""},
		{`{% if missing %}a{% else %}b{% endif %}`, "b"},
		{`{% if not missing %}x{% endif %}`, "x"},
		{`{% if missing is defined %}a{% else %}b{% endif %}`, "b"},
		{`{% if missing is undefined %}u{% endif %}`, "u"},
		{`{{ missing or "z" }}`, "true"},
		{`{{ n + 1 }}`, "8001"},
		{`{{ n / 2 }}`, "4000"},
		{`{{ n / 3 }}`, "2666.6666666666665"},
		{`{{ n % 7 }}`, "6"},
		{`{{ n > 10 }}`, "true"},
		{`{{ n == 8000 }}`, "true"},
		{`{{ env != "dev" }}`, "true"},
		{`{{ flag }}`, "true"},
		{`{{ f }}`, "1.5"},
		{`{{ 1.0 }}`, "1"},
		{`{{ 2.5 }}`, "2.5"},
		{`{{ -1 }}`, "-1"},
		{`{{ name ~ '-' ~ env }}`, "MyApp-prod"},
		{`{{ "a" ~ n }}`, "a8000"},
		{"{{ `back` }}", "back"},
		{`{% if flag %}yes{% else %}no{% endif %}`, "yes"},
		{`{% if env == "prod" %}P{% elif env == "dev" %}D{% else %}O{% endif %}`, "P"},
		{`{% if flag and not off %}t{% endif %}`, "t"},
		{`{% if off or flag %}t{% endif %}`, "t"},
		{`{% if env in ["prod", "stg"] %}y{% endif %}`, "y"},
		{`{% if "pro" in env %}y{% endif %}`, "y"},
		{`{% for i in range(end=3) %}{{ i }},{% endfor %}`, "0,1,2,"},
		{`{% for i in range(start=1, end=7, step_by=2) %}{{ i }}{% endfor %}`, "135"},
		{`{% for i in range(end=3) %}{{ loop.index }}{{ loop.first }}{{ loop.last }},{% endfor %}`, "1truefalse,2falsefalse,3falsetrue,"},
		{`{% for i in range(end=2) %}{{ loop.index0 }}{% endfor %}`, "01"},
		{`{% set r = "ghcr.io" %}{{ r }}/x`, "ghcr.io/x"},
		{`{# comment #}ok`, "ok"},
		{`{% raw %}{{ x }}{% endraw %}`, "{{ x }}"},
		{`{{ "{{" }}`, "{{"},
		{"a\n{% if flag %}\nb\n{% endif %}\nc", "a\n\nb\n\nc"},
		{"a\n{%- if flag -%}\nb\n{%- endif %}\nc", "ab\nc"},
		{`a {%- if flag %} b {% endif -%} c`, "a b c"},
		{`${FOO:-bar} {VAR}`, "${FOO:-bar} {VAR}"},
	} {
		got, err := Render(tc.tmpl, teraContext(), Options{})
		if err != nil || got != tc.want {
			t.Errorf("Render(%q) = %q, %v; Tera gives %q", tc.tmpl, got, err, tc.want)
		}
	}
}

func TestTeraReferenceErrors(t *testing.T) {
	for _, tc := range []struct {
		tmpl      string
		code      Code
		name      string
		line, col int // 0: not checked
	}{
		{`{{ missing }}`, CodeUndefined, "missing", 1, 4},
		{`{{ missing | upper }}`, CodeUndefined, "missing", 1, 4},
		{`{{ missing.sub }}`, CodeUndefined, "missing.sub", 1, 4},
		{`{% if missing == "a" %}a{% endif %}`, CodeUndefined, "missing", 1, 7},
		{`{{ missing | default(value=other) }}`, CodeUndefined, "other", 1, 28},
		{"x\n  {{ missing }}", CodeUndefined, "missing", 2, 6},
		{`{% if flag %}{{ nope }}{% endif %}`, CodeUndefined, "nope", 1, 17},
		{`{{ missing | default("x") }}`, CodeSyntax, "", 1, 22},
		{`{{ flag | upper }}`, CodeValue, "upper", 0, 0},
		{`{{ n | upper }}`, CodeValue, "upper", 0, 0},
		{`{{ flag | ternary(true='a', false='b') }}`, CodeUnsupported, "ternary", 1, 11},
		{`{{ n | string }}`, CodeUnsupported, "string", 0, 0},
		{`{% macro m(a) %}x{% endmacro m %}{{ self::m(a=1) }}`, CodeUnsupported, "macro", 1, 1},
		{`{% include "x" %}`, CodeUnsupported, "include", 0, 0},
		{`{% extends "x" %}`, CodeUnsupported, "extends", 0, 0},
		{"a\n{% if x %}\nb", CodeSyntax, "endif", 0, 0},
		{`{{ name }`, CodeSyntax, "", 1, 10},
		{`{{ 1 + }}`, CodeSyntax, "", 1, 8},
		{`{% if %}`, CodeSyntax, "", 1, 7},
		{`{% endif %}`, CodeSyntax, "endif", 1, 1},
		{`{# open`, CodeSyntax, "", 1, 1},
		{`{{ "open }}`, CodeSyntax, "", 1, 4},
		{`{% for i in range(end=3, step_by=0) %}{% endfor %}`, CodeValue, "range", 0, 0},
		{`{% for i in range(end=1000000) %}{% endfor %}`, CodeValue, "range", 0, 0},
		{`{% for x in name %}{% endfor %}`, CodeValue, "", 0, 0},
		{`{{ 1 / 0 }}`, CodeValue, "", 0, 0},
		{`{{ foo(a=1) }}`, CodeUnsupported, "foo", 1, 4},
		{`{% if x is number %}{% endif %}`, CodeUnsupported, "number", 0, 0},
	} {
		_, err := Render(tc.tmpl, teraContext(), Options{})
		var te *Error
		if !errors.As(err, &te) {
			t.Errorf("Render(%q) = %v, want a template error", tc.tmpl, err)
			continue
		}
		if te.Code != tc.code || te.Name != tc.name || (tc.line != 0 && (te.Line != tc.line || te.Column != tc.col)) {
			t.Errorf("Render(%q): code %d name %q at %d:%d (%s); want code %d name %q at %d:%d",
				tc.tmpl, te.Code, te.Name, te.Line, te.Column, te.En, tc.code, tc.name, tc.line, tc.col)
		}
		if te.En == "" || te.Ja == "" || strings.ContainsAny(te.Ja, "abcdefghijklmnopqrstuvwxyz") && !strings.ContainsAny(te.Ja, "はがのをにで") {
			t.Errorf("Render(%q): message not given in both languages: en %q ja %q", tc.tmpl, te.En, te.Ja)
		}
	}
}

func TestMoreSemantics(t *testing.T) {
	ctx := map[string]any{"s": "  Hello World  ", "list": []any{"a", "b"}, "null": nil, "i": int64(3)}
	for _, tc := range []struct{ tmpl, want string }{
		{`{{ s | trim }}`, "Hello World"},
		{`{{ s | trim | replace(from="World", to="KDL") }}`, "Hello KDL"},
		{`{{ "hello there" | capitalize }}`, "Hello there"},
		{`{{ "the quick-brown fox" | title }}`, "The Quick-Brown Fox"},
		{`{% for x in list %}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}`, "a,b"},
		{`{% for x in ["p", "q"] %}{{ loop.index }}{{ x }}{% endfor %}`, "1p2q"},
		{`{% set a = i * 2 %}{{ a }}`, "6"},
		{`{% for x in list %}{% set y = x %}{% endfor %}{{ y | default(value="scoped") }}`, "scoped"},
		{`{% for x in list %}{% set_global y = x %}{% endfor %}{{ y }}`, "b"},
		{`{{ list[1] }}{{ list.0 }}`, "ba"},
		{`{{ null }}|`, "|"},
		{`{% if null %}y{% else %}n{% endif %}`, "n"},
		{`{% if "b" not in list %}y{% else %}n{% endif %}`, "n"},
		{`{% if missing is not defined %}nd{% endif %}`, "nd"},
		{`{{ (i + 1) * 2 }}`, "8"},
		{`{{ i - 5 }}`, "-2"},
		{`{{ 1.5 + i }}`, "4.5"},
		{`{% raw -%}  {{ kept }}  {%- endraw %}`, "{{ kept }}"},
		{"port host={{ i }} 3000", "port host=3 3000"},
		{`image "{{ s | trim | lower | default(value="x") }}"`, `image "hello world"`},
		{"{#- comment -#}  ok", "ok"},
		{`{{ 'it"s' }}`, `it"s`},
	} {
		got, err := Render(tc.tmpl, ctx, Options{})
		if err != nil || got != tc.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
}

func TestLenientRendersUndefinedAsEmpty(t *testing.T) {
	got, err := Render(`a{{ missing }}b{{ x.y | upper }}{% if missing == "1" %}c{% endif %}`, nil, Options{Lenient: true})
	if err != nil || got != "ab" {
		t.Errorf("lenient render = %q, %v; want \"ab\"", got, err)
	}
	if _, err := Render(`{% if %}`, nil, Options{Lenient: true}); err == nil {
		t.Error("lenient render accepted a syntax error")
	}
}

// The caller's variables are never written by set: every file of a project is rendered with the
// same context, and one file's {% set %} must not leak into the next.
func TestSetDoesNotWriteTheContext(t *testing.T) {
	vars := map[string]any{"a": "1"}
	if _, err := Render(`{% set a = "2" %}{% set_global b = "3" %}`, vars, Options{}); err != nil {
		t.Fatal(err)
	}
	if vars["a"] != "1" || vars["b"] != nil {
		t.Errorf("context after render: %v", vars)
	}
}

func FuzzRender(f *testing.F) {
	for _, s := range []string{
		`{{ name | lower }}`, `{% if a %}x{% elif b %}y{% else %}z{% endif %}`, `{% for i in range(end=3) %}{{ i }}{% endfor %}`,
		`{% raw %}{{{% endraw %}`, `{{- "}}" -}}`, `{# #}`, `{{ a ~ b | upper }}`, `{% set x = [1, 2] %}{{ x[0] }}`,
		`{{ missing | default(value=1) + 2 }}`, "{%- if not x is defined -%}\n{%- endif -%}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Render(s, teraContext(), Options{})
		var te *Error
		if err != nil && !errors.As(err, &te) {
			t.Fatalf("Render(%q) returned %T %v, want *Error", s, err, err)
		}
		if te != nil && (te.Line < 1 || te.Column < 1 || te.En == "" || te.Ja == "") {
			t.Fatalf("Render(%q): error without position or text: %+v", s, te)
		}
		if len(out) > MaxOutput {
			t.Fatalf("output of %d bytes", len(out))
		}
		_, _ = Render(s, nil, Options{Lenient: true})
	})
}

func TestDeepNestingIsAnErrorNotACrash(t *testing.T) {
	for _, tmpl := range []string{
		"{{ " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000) + " }}",
		"{{ " + strings.Repeat("not ", 100000) + "x }}",
		"{{ " + strings.Repeat("-", 100000) + "1 }}",
		strings.Repeat("{% if x %}", 100000) + strings.Repeat("{% endif %}", 100000),
	} {
		_, err := Render(tmpl, nil, Options{})
		var te *Error
		if !errors.As(err, &te) || te.Code != CodeSyntax {
			t.Errorf("deeply nested template (%d bytes): %v, want a syntax error", len(tmpl), err)
		}
	}
}

func TestBlankKeepsShapeAndPositions(t *testing.T) {
	src := "image \"{{ x | default(value=\"}}\") }}/a\"\n{% if a %}\nport host={{ p }}\n{% endif %}{# c #}{% raw %}{{ kept }}{% endraw %}"
	got := Blank(src)
	if len(got) != len(src) || strings.Count(got, "\n") != strings.Count(src, "\n") {
		t.Fatalf("Blank changed the length or the lines:\n%q\n%q", src, got)
	}
	for _, want := range []string{"image \"", "/a\"\n", "port host=", "{{ kept }}"} {
		if !strings.Contains(got, want) {
			t.Errorf("Blank(%q) = %q lacks %q", src, got, want)
		}
	}
	for _, gone := range []string{"default", "if a", "endif", " c "} {
		if strings.Contains(got, gone) {
			t.Errorf("Blank(%q) = %q still holds %q", src, got, gone)
		}
	}
	if got := Blank("a {{ never closed"); got != "a                " {
		t.Errorf("an unclosed tag: %q", got)
	}
}

func TestUnavailableFailsOnlyWhereUsed(t *testing.T) {
	vars := map[string]any{"secret": Unavailable{En: "a 1Password reference", Ja: "1Password の参照"}, "x": "1"}
	if got, err := Render(`{{ x }}{% if secret is defined %}!{% endif %}`, vars, Options{}); err != nil || got != "1!" {
		t.Errorf("a template that does not use the value: %q, %v", got, err)
	}
	_, err := Render("a\n {{ secret }}", vars, Options{})
	var te *Error
	if !errors.As(err, &te) || te.Code != CodeValue || te.Name != "secret" || te.Line != 2 || !strings.Contains(te.Ja, "1Password の参照") {
		t.Errorf("using it: %v", err)
	}
}
