package tera

import (
	"fmt"
	"strconv"
	"strings"
)

// Nodes of a parsed template.
type (
	node interface{}

	textNode   struct{ text string }
	outputNode struct{ e expr }
	ifNode     struct {
		conds  []expr
		bodies [][]node
		orElse []node
	}
	forNode struct {
		name string
		iter expr
		body []node
	}
	setNode struct {
		name   string
		e      expr
		global bool
	}
)

// Expressions.
type (
	expr interface{ pos() int }

	literal struct {
		v   any
		off int
	}
	// path is a variable, possibly with dotted or indexed access: loop.index, a["b"], a[0].
	path struct {
		name  string // the dotted text, for messages: loop.index
		parts []expr // parts[0] is the root name as a string literal; later ones index into it
		off   int
	}
	unary struct {
		op  string
		x   expr
		off int
	}
	binary struct {
		op   string
		l, r expr
		off  int
	}
	filtered struct {
		x       expr
		filters []filterCall
	}
	filterCall struct {
		name string
		args map[string]expr
		off  int
	}
	isTest struct {
		x      expr
		name   string
		negate bool
		off    int
	}
	call struct {
		name string
		args map[string]expr
		off  int
	}
	array struct {
		items []expr
		off   int
	}
)

func (e literal) pos() int  { return e.off }
func (e path) pos() int     { return e.off }
func (e unary) pos() int    { return e.off }
func (e binary) pos() int   { return e.off }
func (e filtered) pos() int { return e.x.pos() }
func (e isTest) pos() int   { return e.off }
func (e call) pos() int     { return e.off }
func (e array) pos() int    { return e.off }

// unsupportedTags are Tera tags that a one-off template cannot use, or that FleetFlow's
// variables give no use for; each is refused with a message naming it.
var unsupportedTags = map[string]string{
	"macro": "macros", "endmacro": "macros", "include": "include", "extends": "extends",
	"import": "import", "block": "blocks", "endblock": "blocks", "filter": "filter sections",
	"endfilter": "filter sections", "break": "break", "continue": "continue",
}

type parser struct {
	src   string
	segs  []segment
	i     int
	depth int // nesting of blocks and parentheses, bounded by maxDepth
}

// maxDepth bounds the nesting of blocks and expressions, so that a pathological file cannot
// exhaust the stack.
const maxDepth = 200

func (p *parser) enter(off int) error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf(off, CodeSyntax, "", "the template nests more than %d levels deep", "テンプレートの入れ子が %d 段を超えています", maxDepth)
	}
	return nil
}

// parse turns the template into nodes.
func parse(src string) ([]node, error) {
	segs, err := split(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, segs: segs}
	nodes, end, err := p.block(nil)
	if err != nil {
		return nil, err
	}
	if end != nil {
		return nil, p.errorf(end.at, CodeSyntax, end.name, "{%% %s %%} has no matching opening tag", "{%% %s %%} に対応する開始タグがありません", end.name)
	}
	return nodes, nil
}

func (p *parser) errorf(off int, code Code, name, en, ja string, args ...any) *Error {
	return errAt(p.src, off, code, name, fmt.Sprintf(en, args...), fmt.Sprintf(ja, args...))
}

// endTag is the tag that ended a block: its name, its tokens after the name, and where it was.
type endTag struct {
	name string
	toks []token
	at   int
}

// block parses nodes until one of the tags in until (or the end of the template, when until is
// nil) and returns the tag that ended it.
func (p *parser) block(until []string) ([]node, *endTag, error) {
	if p.i < len(p.segs) {
		if err := p.enter(p.segs[p.i].at); err != nil {
			return nil, nil, err
		}
	}
	defer func() { p.depth-- }()
	var nodes []node
	for p.i < len(p.segs) {
		s := p.segs[p.i]
		p.i++
		switch s.kind {
		case segText:
			nodes = append(nodes, textNode{s.text})
		case segExpr:
			toks, err := lexTag(p.src, s)
			if err != nil {
				return nil, nil, err
			}
			ep := &exprParser{p: p, toks: toks}
			e, err := ep.expression()
			if err != nil {
				return nil, nil, err
			}
			if err := ep.expectEnd(); err != nil {
				return nil, nil, err
			}
			nodes = append(nodes, outputNode{e})
		case segTag:
			toks, err := lexTag(p.src, s)
			if err != nil {
				return nil, nil, err
			}
			if toks[0].kind != tokIdent {
				return nil, nil, p.errorf(toks[0].off, CodeSyntax, "", "a tag name is expected here, found %s", "ここにはタグ名が必要です（%s があります）", toks[0])
			}
			name := toks[0].val
			for _, u := range until {
				if name == u {
					return nodes, &endTag{name: name, toks: toks[1:], at: s.at}, nil
				}
			}
			n, err := p.tag(s, name, toks[1:])
			if err != nil {
				return nil, nil, err
			}
			if n != nil {
				nodes = append(nodes, n)
			}
		}
	}
	if until != nil {
		return nil, nil, p.errorf(len(p.src), CodeSyntax, until[len(until)-1], "the template ends before {%% %s %%}", "{%% %s %%} の前にテンプレートが終わっています", until[len(until)-1])
	}
	return nodes, nil, nil
}

// tag parses a tag that opens something (or stands alone).
func (p *parser) tag(s segment, name string, toks []token) (node, error) {
	ep := &exprParser{p: p, toks: toks}
	switch name {
	case "if":
		return p.ifTag(ep, s)
	case "for":
		return p.forTag(ep)
	case "set", "set_global":
		t := ep.next()
		if t.kind != tokIdent {
			return nil, p.errorf(t.off, CodeSyntax, "", "a variable name is expected after %s, found %s", "%s の後には変数名が必要です（%s があります）", name, t)
		}
		if err := ep.expectOp("="); err != nil {
			return nil, err
		}
		e, err := ep.expression()
		if err != nil {
			return nil, err
		}
		if err := ep.expectEnd(); err != nil {
			return nil, err
		}
		return setNode{name: t.val, e: e, global: name == "set_global"}, nil
	case "raw":
		// split already turned the raw section into text.
		return nil, nil
	}
	if what, ok := unsupportedTags[name]; ok {
		return nil, p.errorf(s.at, CodeUnsupported, name,
			"{%% %s %%} is not supported: FleetFlow renders each file on its own, where %s cannot work; write the text out instead",
			"{%% %s %%} は使用できません: FleetFlow は各ファイルを単独でレンダリングするため %s は機能しません。内容を直接記述してください",
			name, what)
	}
	return nil, p.errorf(s.at, CodeSyntax, name, "unknown tag {%% %s %%} (supported: if, elif, else, for, set, raw)",
		"不明なタグ {%% %s %%} です（使用できるタグ: if, elif, else, for, set, raw）", name)
}

func (p *parser) ifTag(ep *exprParser, s segment) (node, error) {
	n := ifNode{}
	cond, err := ep.expression()
	if err != nil {
		return nil, err
	}
	if err := ep.expectEnd(); err != nil {
		return nil, err
	}
	for {
		body, end, err := p.block([]string{"elif", "else", "endif"})
		if err != nil {
			var te *Error
			if asErr(err, &te) && te.Name == "endif" && te.Code == CodeSyntax {
				line, col := position(p.src, s.at)
				te.En = fmt.Sprintf("{%% if %%} opened at %d:%d is never closed with {%% endif %%}", line, col)
				te.Ja = fmt.Sprintf("%d:%d の {%% if %%} が {%% endif %%} で閉じられていません", line, col)
			}
			return nil, err
		}
		n.conds = append(n.conds, cond)
		n.bodies = append(n.bodies, body)
		switch end.name {
		case "endif":
			return n, (&exprParser{p: p, toks: end.toks}).expectEnd()
		case "else":
			if err := (&exprParser{p: p, toks: end.toks}).expectEnd(); err != nil {
				return nil, err
			}
			body, end, err := p.block([]string{"endif", "elif", "else"})
			if err != nil {
				return nil, err
			}
			if end.name != "endif" {
				return nil, p.errorf(end.at, CodeSyntax, end.name, "{%% %s %%} after {%% else %%}: {%% endif %%} expected", "{%% else %%} の後に {%% %s %%} があります（{%% endif %%} が必要です）", end.name)
			}
			n.orElse = body
			return n, (&exprParser{p: p, toks: end.toks}).expectEnd()
		case "elif":
			ep := &exprParser{p: p, toks: end.toks}
			if cond, err = ep.expression(); err != nil {
				return nil, err
			}
			if err := ep.expectEnd(); err != nil {
				return nil, err
			}
		}
	}
}

func (p *parser) forTag(ep *exprParser) (node, error) {
	t := ep.next()
	if t.kind != tokIdent {
		return nil, p.errorf(t.off, CodeSyntax, "", "a loop variable is expected after for, found %s", "for の後にはループ変数が必要です（%s があります）", t)
	}
	if in := ep.next(); in.kind != tokIdent || in.val != "in" {
		return nil, p.errorf(in.off, CodeSyntax, "", "`in` is expected here, found %s", "ここには `in` が必要です（%s があります）", in)
	}
	iter, err := ep.expression()
	if err != nil {
		return nil, err
	}
	if err := ep.expectEnd(); err != nil {
		return nil, err
	}
	body, end, err := p.block([]string{"endfor"})
	if err != nil {
		return nil, err
	}
	if err := (&exprParser{p: p, toks: end.toks}).expectEnd(); err != nil {
		return nil, err
	}
	return forNode{name: t.val, iter: iter, body: body}, nil
}

// exprParser parses the tokens of one tag.
type exprParser struct {
	p    *parser
	toks []token
	i    int
}

func (ep *exprParser) peek() token { return ep.toks[ep.i] }

func (ep *exprParser) next() token {
	t := ep.toks[ep.i]
	if t.kind != tokEOF {
		ep.i++
	}
	return t
}

func (ep *exprParser) isOp(op string) bool {
	t := ep.peek()
	return t.kind == tokOp && t.val == op
}

func (ep *exprParser) isWord(w string) bool {
	t := ep.peek()
	return t.kind == tokIdent && t.val == w
}

func (ep *exprParser) expectOp(op string) error {
	if t := ep.next(); t.kind != tokOp || t.val != op {
		return ep.p.errorf(t.off, CodeSyntax, "", "`%s` is expected here, found %s", "ここには `%s` が必要です（%s があります）", op, t)
	}
	return nil
}

func (ep *exprParser) expectEnd() error {
	if t := ep.peek(); t.kind != tokEOF {
		return ep.p.errorf(t.off, CodeSyntax, "", "unexpected %s: the tag should end here", "予期しない %s があります（タグはここで終わる必要があります）", t)
	}
	return nil
}

// expression := or
func (ep *exprParser) expression() (expr, error) {
	if err := ep.p.enter(ep.peek().off); err != nil {
		return nil, err
	}
	defer func() { ep.p.depth-- }()
	return ep.or()
}

func (ep *exprParser) or() (expr, error) {
	l, err := ep.and()
	if err != nil {
		return nil, err
	}
	for ep.isWord("or") {
		t := ep.next()
		r, err := ep.and()
		if err != nil {
			return nil, err
		}
		l = binary{op: "or", l: l, r: r, off: t.off}
	}
	return l, nil
}

func (ep *exprParser) and() (expr, error) {
	l, err := ep.not()
	if err != nil {
		return nil, err
	}
	for ep.isWord("and") {
		t := ep.next()
		r, err := ep.not()
		if err != nil {
			return nil, err
		}
		l = binary{op: "and", l: l, r: r, off: t.off}
	}
	return l, nil
}

func (ep *exprParser) not() (expr, error) {
	if ep.isWord("not") {
		if err := ep.p.enter(ep.peek().off); err != nil {
			return nil, err
		}
		defer func() { ep.p.depth-- }()
		t := ep.next()
		x, err := ep.not()
		if err != nil {
			return nil, err
		}
		return unary{op: "not", x: x, off: t.off}, nil
	}
	return ep.comparison()
}

var comparisons = map[string]bool{"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true}

func (ep *exprParser) comparison() (expr, error) {
	l, err := ep.operand()
	if err != nil {
		return nil, err
	}
	switch t := ep.peek(); {
	case t.kind == tokOp && comparisons[t.val]:
		ep.next()
		r, err := ep.operand()
		if err != nil {
			return nil, err
		}
		return binary{op: t.val, l: l, r: r, off: t.off}, nil
	case t.kind == tokIdent && (t.val == "in" || t.val == "not" && ep.toks[ep.i+1].kind == tokIdent && ep.toks[ep.i+1].val == "in"):
		op := "in"
		if t.val == "not" {
			ep.next()
			op = "not in"
		}
		ep.next()
		r, err := ep.operand()
		if err != nil {
			return nil, err
		}
		return binary{op: op, l: l, r: r, off: t.off}, nil
	case t.kind == tokIdent && t.val == "is":
		ep.next()
		neg := false
		if ep.isWord("not") {
			ep.next()
			neg = true
		}
		name := ep.next()
		if name.kind != tokIdent {
			return nil, ep.p.errorf(name.off, CodeSyntax, "", "a test name is expected after `is`, found %s", "`is` の後にはテスト名が必要です（%s があります）", name)
		}
		if name.val != "defined" && name.val != "undefined" {
			return nil, ep.p.errorf(name.off, CodeUnsupported, name.val, "test `%s` is not supported (supported: defined, undefined)", "テスト `%s` は使用できません（使用できるテスト: defined, undefined）", name.val)
		}
		return isTest{x: l, name: name.val, negate: neg, off: t.off}, nil
	}
	return l, nil
}

// operand is a concatenation or arithmetic chain with optional filters, which apply to the whole
// chain as in Tera (`{{ a ~ b | upper }}` upper-cases both).
func (ep *exprParser) operand() (expr, error) {
	x, err := ep.concat()
	if err != nil {
		return nil, err
	}
	if !ep.isOp("|") {
		return x, nil
	}
	f := filtered{x: x}
	for ep.isOp("|") {
		ep.next()
		name := ep.next()
		if name.kind != tokIdent {
			return nil, ep.p.errorf(name.off, CodeSyntax, "", "a filter name is expected after `|`, found %s", "`|` の後にはフィルター名が必要です（%s があります）", name)
		}
		fc := filterCall{name: name.val, off: name.off}
		if ep.isOp("(") {
			args, err := ep.namedArgs()
			if err != nil {
				return nil, err
			}
			fc.args = args
		}
		f.filters = append(f.filters, fc)
	}
	return f, nil
}

// namedArgs parses `(a=1, b="x")`: Tera passes filter and function arguments by name only.
func (ep *exprParser) namedArgs() (map[string]expr, error) {
	if err := ep.expectOp("("); err != nil {
		return nil, err
	}
	args := map[string]expr{}
	for !ep.isOp(")") {
		name := ep.next()
		if name.kind != tokIdent || ep.peek().kind != tokOp || ep.peek().val != "=" {
			return nil, ep.p.errorf(name.off, CodeSyntax, "", "a named argument is expected here, as in default(value=\"x\"), found %s",
				"ここには名前付き引数が必要です（例: default(value=\"x\")）。%s があります", name)
		}
		ep.next()
		v, err := ep.expression()
		if err != nil {
			return nil, err
		}
		args[name.val] = v
		if ep.isOp(",") {
			ep.next()
			continue
		}
		if !ep.isOp(")") {
			t := ep.peek()
			return nil, ep.p.errorf(t.off, CodeSyntax, "", "`,` or `)` is expected here, found %s", "ここには `,` か `)` が必要です（%s があります）", t)
		}
	}
	ep.next()
	return args, nil
}

func (ep *exprParser) concat() (expr, error) {
	l, err := ep.additive()
	if err != nil {
		return nil, err
	}
	for ep.isOp("~") {
		t := ep.next()
		r, err := ep.additive()
		if err != nil {
			return nil, err
		}
		l = binary{op: "~", l: l, r: r, off: t.off}
	}
	return l, nil
}

func (ep *exprParser) additive() (expr, error) {
	l, err := ep.multiplicative()
	if err != nil {
		return nil, err
	}
	for ep.isOp("+") || ep.isOp("-") {
		t := ep.next()
		r, err := ep.multiplicative()
		if err != nil {
			return nil, err
		}
		l = binary{op: t.val, l: l, r: r, off: t.off}
	}
	return l, nil
}

func (ep *exprParser) multiplicative() (expr, error) {
	l, err := ep.unary()
	if err != nil {
		return nil, err
	}
	for ep.isOp("*") || ep.isOp("/") || ep.isOp("%") {
		t := ep.next()
		r, err := ep.unary()
		if err != nil {
			return nil, err
		}
		l = binary{op: t.val, l: l, r: r, off: t.off}
	}
	return l, nil
}

func (ep *exprParser) unary() (expr, error) {
	if ep.isOp("-") {
		if err := ep.p.enter(ep.peek().off); err != nil {
			return nil, err
		}
		defer func() { ep.p.depth-- }()
		t := ep.next()
		x, err := ep.unary()
		if err != nil {
			return nil, err
		}
		return unary{op: "-", x: x, off: t.off}, nil
	}
	return ep.primary()
}

func (ep *exprParser) primary() (expr, error) {
	t := ep.next()
	switch t.kind {
	case tokString:
		return literal{v: t.val, off: t.off}, nil
	case tokInt:
		n, err := strconv.ParseInt(t.val, 10, 64)
		if err != nil {
			return nil, ep.p.errorf(t.off, CodeSyntax, "", "the number %s is too large", "数値 %s が大きすぎます", t.val)
		}
		return literal{v: n, off: t.off}, nil
	case tokFloat:
		f, _ := strconv.ParseFloat(t.val, 64)
		return literal{v: f, off: t.off}, nil
	case tokOp:
		switch t.val {
		case "(":
			x, err := ep.expression()
			if err != nil {
				return nil, err
			}
			return x, ep.expectOp(")")
		case "[":
			a := array{off: t.off}
			for !ep.isOp("]") {
				x, err := ep.expression()
				if err != nil {
					return nil, err
				}
				a.items = append(a.items, x)
				if ep.isOp(",") {
					ep.next()
				} else if !ep.isOp("]") {
					n := ep.peek()
					return nil, ep.p.errorf(n.off, CodeSyntax, "", "`,` or `]` is expected here, found %s", "ここには `,` か `]` が必要です（%s があります）", n)
				}
			}
			ep.next()
			return a, nil
		}
	case tokIdent:
		switch t.val {
		case "true", "True":
			return literal{v: true, off: t.off}, nil
		case "false", "False":
			return literal{v: false, off: t.off}, nil
		}
		if ep.isOp("(") {
			args, err := ep.namedArgs()
			if err != nil {
				return nil, err
			}
			return call{name: t.val, args: args, off: t.off}, nil
		}
		return ep.path(t)
	}
	return nil, ep.p.errorf(t.off, CodeSyntax, "", "a value is expected here, found %s", "ここには値が必要です（%s があります）", t)
}

func (ep *exprParser) path(root token) (expr, error) {
	p := path{parts: []expr{literal{v: root.val, off: root.off}}, off: root.off}
	var name strings.Builder
	name.WriteString(root.val)
	for {
		switch {
		case ep.isOp("."):
			ep.next()
			t := ep.next()
			if t.kind != tokIdent && t.kind != tokInt {
				return nil, ep.p.errorf(t.off, CodeSyntax, "", "a name is expected after `.`, found %s", "`.` の後には名前が必要です（%s があります）", t)
			}
			var key any = t.val
			if t.kind == tokInt {
				n, _ := strconv.ParseInt(t.val, 10, 64)
				key = n
			}
			p.parts = append(p.parts, literal{v: key, off: t.off})
			name.WriteString("." + t.val)
		case ep.isOp("["):
			ep.next()
			x, err := ep.expression()
			if err != nil {
				return nil, err
			}
			if err := ep.expectOp("]"); err != nil {
				return nil, err
			}
			p.parts = append(p.parts, x)
			if l, ok := x.(literal); ok {
				fmt.Fprintf(&name, "[%v]", l.v)
			} else {
				name.WriteString("[…]")
			}
		default:
			p.name = name.String()
			return p, nil
		}
	}
}
