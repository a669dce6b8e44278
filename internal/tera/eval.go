package tera

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Options adjust Render.
type Options struct {
	// Lenient renders an undefined variable as an empty string instead of failing. It is meant
	// for a first look at a file whose variables are not all known yet (which stages does it
	// define?), never for the text that is used.
	Lenient bool
}

// Unavailable is a variable value that exists but cannot be used, such as a secret reference the
// renderer cannot resolve. Rendering fails where the template needs its value, with the message
// given, and nowhere else: a file that never uses the variable renders fine.
type Unavailable struct {
	// En and Ja say why the value cannot be used.
	En, Ja string
}

// Limits that keep a hostile or mistaken template from taking the CLI down.
const (
	// MaxOutput bounds the rendered text.
	MaxOutput = 16 << 20
	// MaxIterations bounds the loop iterations of one render.
	MaxIterations = 100_000
)

// Render renders the template src with the variables vars. Values are strings, int64, float64,
// bool, nil or []any. Every error is an *Error located in src.
func Render(src string, vars map[string]any, opts Options) (out string, err error) {
	nodes, err := parse(src)
	if err != nil {
		return "", err
	}
	r := &renderer{src: src, opts: opts, scopes: []map[string]any{vars, {}}}
	if err := r.nodes(nodes); err != nil {
		return "", err
	}
	return r.out.String(), nil
}

type renderer struct {
	src        string
	opts       Options
	scopes     []map[string]any // scopes[0]: the caller's variables (never written); scopes[1]: set_global
	out        strings.Builder
	iterations int
}

func (r *renderer) errorf(off int, code Code, name, en, ja string, args ...any) *Error {
	return errAt(r.src, off, code, name, fmt.Sprintf(en, args...), fmt.Sprintf(ja, args...))
}

func (r *renderer) write(s string) error {
	if r.out.Len()+len(s) > MaxOutput {
		return r.errorf(0, CodeValue, "", "the rendered text is larger than %d MiB", "レンダリング結果が %d MiB を超えています", MaxOutput>>20)
	}
	r.out.WriteString(s)
	return nil
}

func (r *renderer) nodes(nodes []node) error {
	for _, n := range nodes {
		if err := r.node(n); err != nil {
			return err
		}
	}
	return nil
}

func (r *renderer) node(n node) error {
	switch n := n.(type) {
	case textNode:
		return r.write(n.text)
	case outputNode:
		v, err := r.eval(n.e)
		if err != nil {
			return err
		}
		return r.write(str(v))
	case ifNode:
		for i, c := range n.conds {
			ok, err := r.truth(c)
			if err != nil {
				return err
			}
			if ok {
				return r.nodes(n.bodies[i])
			}
		}
		return r.nodes(n.orElse)
	case forNode:
		return r.forLoop(n)
	case setNode:
		v, err := r.eval(n.e)
		if err != nil {
			return err
		}
		if n.global {
			r.scopes[1][n.name] = v
		} else {
			r.scopes[len(r.scopes)-1][n.name] = v
		}
	}
	return nil
}

func (r *renderer) forLoop(n forNode) error {
	v, err := r.eval(n.iter)
	if err != nil {
		return err
	}
	items, ok := v.([]any)
	if !ok {
		return r.errorf(n.iter.pos(), CodeValue, "", "for needs a list or range(…) to loop over, not %s", "for には一覧か range(…) が必要です（%s ではループできません）", describe(v))
	}
	for i, item := range items {
		r.iterations++
		if r.iterations > MaxIterations {
			return r.errorf(n.iter.pos(), CodeValue, "", "the loops run more than %d times", "ループの繰り返しが %d 回を超えています", MaxIterations)
		}
		r.scopes = append(r.scopes, map[string]any{
			n.name: item,
			"loop": map[string]any{"index": int64(i + 1), "index0": int64(i), "first": i == 0, "last": i == len(items)-1},
		})
		err := r.nodes(n.body)
		r.scopes = r.scopes[:len(r.scopes)-1]
		if err != nil {
			return err
		}
	}
	return nil
}

// undefined is the result of looking up a name that no scope defines.
type undefined struct{ name string }

func (r *renderer) lookup(p path) (any, error) {
	root := p.parts[0].(literal).v.(string)
	var v any = undefined{root}
	for i := len(r.scopes) - 1; i >= 0; i-- {
		if x, ok := r.scopes[i][root]; ok {
			v = x
			break
		}
	}
	for _, part := range p.parts[1:] {
		if _, ok := v.(undefined); ok {
			return undefined{p.name}, nil
		}
		key, err := r.eval(part)
		if err != nil {
			return nil, err
		}
		v = index(v, key, p.name)
	}
	if u, ok := v.(undefined); ok && len(p.parts) > 1 {
		u.name = p.name
		return u, nil
	}
	return v, nil
}

func index(v, key any, name string) any {
	switch c := v.(type) {
	case map[string]any:
		if k, ok := key.(string); ok {
			if x, ok := c[k]; ok {
				return x
			}
		}
	case []any:
		if k, ok := key.(int64); ok && k >= 0 && k < int64(len(c)) {
			return c[k]
		}
	}
	return undefined{name}
}

// eval evaluates an expression whose value is needed: an undefined variable is an error.
func (r *renderer) eval(e expr) (any, error) {
	v, err := r.value(e)
	if err != nil {
		return nil, err
	}
	if u, ok := v.(undefined); ok {
		if r.opts.Lenient {
			return "", nil
		}
		return nil, r.undefinedErr(e, u.name)
	}
	if u, ok := v.(Unavailable); ok {
		if r.opts.Lenient {
			return "", nil
		}
		name := ""
		if p, isPath := e.(path); isPath {
			name = p.name
		}
		return nil, errAt(r.src, e.pos(), CodeValue, name,
			fmt.Sprintf("variable `%s` cannot be used: %s", name, u.En), fmt.Sprintf("変数 `%s` は使用できません: %s", name, u.Ja))
	}
	return v, nil
}

func (r *renderer) undefinedErr(e expr, name string) error {
	return r.errorf(e.pos(), CodeUndefined, name, "undefined variable `%s`", "未定義の変数: `%s`", name)
}

// truth evaluates a condition: as in Tera, a bare undefined variable is false.
func (r *renderer) truth(e expr) (bool, error) {
	switch x := e.(type) {
	case path:
		v, err := r.lookup(x)
		if err != nil {
			return false, err
		}
		if _, ok := v.(undefined); ok {
			return false, nil
		}
		return truthy(v), nil
	case unary:
		if x.op == "not" {
			b, err := r.truth(x.x)
			return !b, err
		}
	case binary:
		switch x.op {
		case "and":
			l, err := r.truth(x.l)
			if err != nil || !l {
				return false, err
			}
			return r.truth(x.r)
		case "or":
			l, err := r.truth(x.l)
			if err != nil || l {
				return l, err
			}
			return r.truth(x.r)
		}
	}
	v, err := r.eval(e)
	if err != nil {
		return false, err
	}
	return truthy(v), nil
}

// value evaluates an expression; the result may be undefined{} for a variable that is not set.
func (r *renderer) value(e expr) (any, error) {
	switch x := e.(type) {
	case literal:
		return x.v, nil
	case path:
		return r.lookup(x)
	case array:
		items := make([]any, 0, len(x.items))
		for _, it := range x.items {
			v, err := r.eval(it)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		return items, nil
	case unary:
		if x.op == "not" {
			b, err := r.truth(x.x)
			return !b, err
		}
		v, err := r.eval(x.x)
		if err != nil {
			return nil, err
		}
		switch n := v.(type) {
		case int64:
			return -n, nil
		case float64:
			return -n, nil
		}
		return nil, r.errorf(x.off, CodeValue, "", "`-` needs a number, not %s", "`-` には数値が必要です（%s があります）", describe(v))
	case binary:
		return r.binary(x)
	case isTest:
		v, err := r.value(x.x)
		if err != nil {
			return nil, err
		}
		_, undef := v.(undefined)
		res := undef == (x.name == "undefined")
		return res != x.negate, nil
	case filtered:
		return r.filtered(x)
	case call:
		if x.name == "range" {
			return r.rangeCall(x)
		}
		return nil, r.errorf(x.off, CodeUnsupported, x.name, "function `%s` is not supported (supported: range)", "関数 `%s` は使用できません（使用できる関数: range）", x.name)
	}
	return nil, fmt.Errorf("unknown expression %T", e)
}

func (r *renderer) binary(x binary) (any, error) {
	switch x.op {
	case "and", "or":
		return r.truth(x)
	}
	l, err := r.eval(x.l)
	if err != nil {
		return nil, err
	}
	rv, err := r.eval(x.r)
	if err != nil {
		return nil, err
	}
	switch x.op {
	case "~":
		return str(l) + str(rv), nil
	case "==":
		return equal(l, rv), nil
	case "!=":
		return !equal(l, rv), nil
	case "in", "not in":
		in, err := r.contains(x, l, rv)
		return in != (x.op == "not in"), err
	}
	lf, lInt, lok := number(l)
	rf, rInt, rok := number(rv)
	if !lok || !rok {
		bad := l
		if lok {
			bad = rv
		}
		return nil, r.errorf(x.off, CodeValue, "", "`%s` needs numbers, not %s", "`%s` には数値が必要です（%s があります）", x.op, describe(bad))
	}
	bothInt := lInt && rInt
	switch x.op {
	case "<":
		return lf < rf, nil
	case "<=":
		return lf <= rf, nil
	case ">":
		return lf > rf, nil
	case ">=":
		return lf >= rf, nil
	case "+", "-", "*":
		if bothInt {
			a, b := l.(int64), rv.(int64)
			switch x.op {
			case "+":
				return a + b, nil
			case "-":
				return a - b, nil
			}
			return a * b, nil
		}
		switch x.op {
		case "+":
			return lf + rf, nil
		case "-":
			return lf - rf, nil
		}
		return lf * rf, nil
	case "/":
		if rf == 0 {
			return nil, r.errorf(x.off, CodeValue, "", "division by zero", "ゼロで割っています")
		}
		return lf / rf, nil
	case "%":
		if rf == 0 {
			return nil, r.errorf(x.off, CodeValue, "", "modulo by zero", "ゼロで割った余りを求めています")
		}
		if bothInt {
			return l.(int64) % rv.(int64), nil
		}
		return math.Mod(lf, rf), nil
	}
	return nil, fmt.Errorf("unknown operator %s", x.op)
}

func (r *renderer) contains(x binary, needle, haystack any) (bool, error) {
	switch h := haystack.(type) {
	case []any:
		for _, it := range h {
			if equal(needle, it) {
				return true, nil
			}
		}
		return false, nil
	case string:
		n, ok := needle.(string)
		if !ok {
			return false, r.errorf(x.off, CodeValue, "", "`in` a string needs a string to look for, not %s", "文字列に対する `in` には文字列が必要です（%s があります）", describe(needle))
		}
		return strings.Contains(h, n), nil
	}
	return false, r.errorf(x.off, CodeValue, "", "`in` needs a list or a string on its right, not %s", "`in` の右側には一覧か文字列が必要です（%s があります）", describe(haystack))
}

var supportedFilters = "default, lower, upper, trim, title, capitalize, replace"

func (r *renderer) filtered(x filtered) (any, error) {
	filters := x.filters
	var v any
	var err error
	if filters[0].name == "default" {
		// Tera's default applies only when the value is undefined; "" stays "".
		if v, err = r.value(x.x); err != nil {
			return nil, err
		}
		arg, err := r.filterArg(filters[0], "value")
		if err != nil {
			return nil, err
		}
		if _, undef := v.(undefined); undef {
			v = arg
		}
		filters = filters[1:]
	} else if v, err = r.eval(x.x); err != nil {
		return nil, err
	}
	for _, f := range filters {
		if v, err = r.applyFilter(f, v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (r *renderer) filterArg(f filterCall, name string) (any, error) {
	for k := range f.args {
		if k != name && (f.name != "replace" || k != "from" && k != "to") {
			return nil, r.errorf(f.args[k].pos(), CodeSyntax, f.name, "filter %s has no argument %s", "フィルター %s に引数 %s はありません", f.name, k)
		}
	}
	e, ok := f.args[name]
	if !ok {
		return nil, r.errorf(f.off, CodeSyntax, f.name, "filter %s needs the argument %s=…", "フィルター %s には引数 %s=… が必要です", f.name, name)
	}
	return r.eval(e)
}

func (r *renderer) applyFilter(f filterCall, v any) (any, error) {
	var fn func(string) string
	switch f.name {
	case "default":
		// default after another filter: the value is defined by then.
		_, err := r.filterArg(f, "value")
		return v, err
	case "lower":
		fn = strings.ToLower
	case "upper":
		fn = strings.ToUpper
	case "trim":
		fn = strings.TrimSpace
	case "title":
		fn = title
	case "capitalize":
		fn = capitalize
	case "replace":
		from, err := r.filterArg(f, "from")
		if err != nil {
			return nil, err
		}
		to, err := r.filterArg(f, "to")
		if err != nil {
			return nil, err
		}
		fs, ok1 := from.(string)
		ts, ok2 := to.(string)
		if !ok1 || !ok2 {
			return nil, r.errorf(f.off, CodeValue, f.name, "filter replace needs strings for from= and to=", "フィルター replace の from= と to= には文字列が必要です")
		}
		fn = func(s string) string { return strings.ReplaceAll(s, fs, ts) }
	default:
		return nil, r.errorf(f.off, CodeUnsupported, f.name, "filter `%s` is not supported (supported: %s)", "フィルター `%s` は使用できません（使用できるフィルター: %s）", f.name, supportedFilters)
	}
	if f.name != "replace" && len(f.args) > 0 {
		for k, a := range f.args {
			return nil, r.errorf(a.pos(), CodeSyntax, f.name, "filter %s takes no argument %s", "フィルター %s は引数 %s を取りません", f.name, k)
		}
	}
	s, ok := v.(string)
	if !ok {
		return nil, r.errorf(f.off, CodeValue, f.name, "filter `%s` needs a string, not %s", "フィルター `%s` には文字列が必要です（%s があります）", f.name, describe(v))
	}
	return fn(s), nil
}

func (r *renderer) rangeCall(c call) (any, error) {
	nums := map[string]int64{"start": 0, "step_by": 1}
	if _, ok := c.args["end"]; !ok {
		return nil, r.errorf(c.off, CodeSyntax, "range", "range needs end=…, as in range(end=3)", "range には end=… が必要です（例: range(end=3)）")
	}
	for k, e := range c.args {
		if _, known := map[string]bool{"start": true, "end": true, "step_by": true}[k]; !known {
			return nil, r.errorf(e.pos(), CodeSyntax, "range", "range has no argument %s (it takes start=, end=, step_by=)", "range に引数 %s はありません（start=, end=, step_by= を取ります）", k)
		}
		v, err := r.eval(e)
		if err != nil {
			return nil, err
		}
		n, ok := v.(int64)
		if !ok {
			return nil, r.errorf(e.pos(), CodeValue, "range", "range's %s= needs an integer, not %s", "range の %s= には整数が必要です（%s があります）", k, describe(v))
		}
		nums[k] = n
	}
	start, end, step := nums["start"], nums["end"], nums["step_by"]
	if step <= 0 {
		return nil, r.errorf(c.off, CodeValue, "range", "range's step_by= must be positive", "range の step_by= は正の数にしてください")
	}
	var items []any
	for i := start; i < end; i += step {
		if len(items) >= MaxIterations {
			return nil, r.errorf(c.off, CodeValue, "range", "range gives more than %d numbers", "range の要素が %d 個を超えています", MaxIterations)
		}
		items = append(items, i)
	}
	return items, nil
}

// str renders a value as Tera does: strings as they are, integers in decimal, floats in their
// shortest form without a trailing ".0", booleans as true/false.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = str(it)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		return "[object]"
	}
	return fmt.Sprint(v)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case int64:
		return x != 0
	case float64:
		return x != 0
	case []any:
		return len(x) > 0
	}
	return true
}

func number(v any) (float64, bool, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true, true
	case float64:
		return x, false, true
	}
	return 0, false, false
}

func equal(a, b any) bool {
	if af, _, ok := number(a); ok {
		bf, _, ok := number(b)
		return ok && af == bf
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		return false
	}
	return a == b
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return str(v)
}

// title capitalises the first letter of each word and lowercases the rest, as Tera's title.
func title(s string) string {
	var b strings.Builder
	start := true
	for _, r := range s {
		word := unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '\''
		switch {
		case word && start:
			b.WriteRune(unicode.ToUpper(r))
		case word:
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
		start = !word
	}
	return b.String()
}

// capitalize upper-cases the first character and lowercases the rest, as Tera's capitalize.
func capitalize(s string) string {
	for i, r := range s {
		return string(unicode.ToUpper(r)) + strings.ToLower(s[i+len(string(r)):])
	}
	return s
}

func asErr(err error, target **Error) bool { return errors.As(err, target) }
