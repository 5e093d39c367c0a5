package scaffold

// The `${{ … }}` language: the subset of nunjucks (Backstage's template engine, configured with
// `${{`/`}}` as variable delimiters) that templates use. Output tags `${{ expr }}`, block tags
// `{% if %}…{% elif %}…{% else %}…{% endif %}`, `{% for x in xs %}`/`{% for k, v in obj %}` …
// `{% else %}` … `{% endfor %}` (with loop.index, loop.index0, loop.first, loop.last,
// loop.length), `{% set x = expr %}`, `{% raw %}…{% endraw %}`, comments `{# … #}`, and `-`
// whitespace control on any tag. Expressions: literals (strings, numbers, true/false, null/none,
// lists, objects), names, `.attr` and `[index]`, filters `x | f` and `x | f(args)`, arithmetic,
// `~` concatenation, comparisons, `in`, `and`/`or`/`not`, and `a if cond else b`.
//
// It is stricter than nunjucks, so that a typo is an error rather than an empty string: an
// unknown variable, an unknown filter, an attribute of an undefined or null value, and a step
// id that is not a step before this one are errors. A key missing from an existing object is
// undefined (optional parameters are routinely left out), which renders as "" inside a larger
// text and drops the input key when it is the whole value.

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// undefinedT is the value of a missing key.
type undefinedT struct{}

var undefined = undefinedT{}

// strictMap is an object whose missing keys are errors (the steps object).
type strictMap struct {
	what string // "step"
	m    map[string]any
}

// langError is an error in an expression or a template; the caller adds the step and excerpt.
type langError struct{ msg string }

func (e *langError) Error() string { return e.msg }

func errf(format string, args ...any) error { return &langError{msg: fmt.Sprintf(format, args...)} }

// ---- lexer ----

type tokKind int

const (
	tEOF tokKind = iota
	tName
	tNum
	tStr
	tOp
)

type token struct {
	kind tokKind
	s    string
	num  float64
}

// lexExpr reads tokens from src starting at i until the expression ends: at end (a closing
// delimiter such as "}}" or "%}", optionally preceded by "-") at bracket depth 0, or at the end of
// src when end is "". It returns the tokens, the index just past the closing delimiter, and
// whether a "-" asked to trim the whitespace that follows.
func lexExpr(src string, i int, end string) ([]token, int, bool, error) {
	var toks []token
	depth := 0
	for {
		for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
			i++
		}
		if i >= len(src) {
			if end != "" {
				return nil, i, false, errf("unclosed tag: %q is missing", end)
			}
			return append(toks, token{kind: tEOF}), i, false, nil
		}
		if end != "" && depth == 0 {
			if strings.HasPrefix(src[i:], end) {
				return append(toks, token{kind: tEOF}), i + len(end), false, nil
			}
			if src[i] == '-' && strings.HasPrefix(src[i+1:], end) {
				return append(toks, token{kind: tEOF}), i + 1 + len(end), true, nil
			}
		}
		c := src[i]
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, token{kind: tName, s: src[i:j]})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' && j+1 < len(src) && src[j+1] >= '0' && src[j+1] <= '9') {
				j++
			}
			f, err := strconv.ParseFloat(src[i:j], 64)
			if err != nil {
				return nil, i, false, errf("bad number %q", src[i:j])
			}
			toks = append(toks, token{kind: tNum, num: f, s: src[i:j]})
			i = j
		case c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
					switch src[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					default:
						b.WriteByte(src[j])
					}
					continue
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, i, false, errf("unterminated string")
			}
			toks = append(toks, token{kind: tStr, s: b.String()})
			i = j + 1
		default:
			op := ""
			for _, o := range []string{"==", "!=", "<=", ">=", "//", "**"} {
				if strings.HasPrefix(src[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				if !strings.ContainsRune(".[](){},:|<>+-*/%~=!?", rune(c)) {
					return nil, i, false, errf("unexpected character %q", string(c))
				}
				op = string(c)
			}
			switch op {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				depth--
			}
			toks = append(toks, token{kind: tOp, s: op})
			i += len(op)
		}
	}
}

// ---- expression AST ----

type node interface{}

type (
	litNode  struct{ v any }
	nameNode struct{ name string }
	attrNode struct {
		x    node
		name string
	}
	indexNode  struct{ x, i node }
	filterNode struct {
		x    node
		name string
		args []node
	}
	unaryNode struct {
		op string
		x  node
	}
	binaryNode struct {
		op   string
		l, r node
	}
	condNode struct{ cond, yes, no node }
	listNode struct{ items []node }
	dictNode struct {
		keys []node
		vals []node
	}
	testNode struct { // x is [not] name
		x    node
		name string
		not  bool
	}
)

type parser struct {
	toks  []token
	p     int
	depth int
}

// maxDepth bounds the nesting of expressions and blocks: the parser and the evaluator recurse,
// and a hostile template must not exhaust the stack.
const maxDepth = 64

// maxChain bounds a chain of filters or of attributes (each link is one level of recursion when
// evaluated).
const maxChain = 256

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return errf("the expression nests deeper than %d levels", maxDepth)
	}
	return nil
}

func (p *parser) peek() token { return p.toks[p.p] }
func (p *parser) next() token { t := p.toks[p.p]; p.p++; return t }
func (p *parser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tOp && t.s == s
}
func (p *parser) isName(s string) bool {
	t := p.peek()
	return t.kind == tName && t.s == s
}
func (p *parser) expectOp(s string) error {
	if !p.isOp(s) {
		return errf("expected %q, found %s", s, p.peek().describe())
	}
	p.p++
	return nil
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "the end of the expression"
	case tStr:
		return strconv.Quote(t.s)
	default:
		return "'" + t.s + "'"
	}
}

// parseExpression parses tokens that must form one whole expression.
func parseExpression(toks []token) (node, error) {
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, errf("empty expression")
	}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, errf("unexpected %s", p.peek().describe())
	}
	return n, nil
}

func (p *parser) expr() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.isName("if") {
		p.next()
		cond, err := p.or()
		if err != nil {
			return nil, err
		}
		var no node = litNode{undefined}
		if p.isName("else") {
			p.next()
			if no, err = p.expr(); err != nil {
				return nil, err
			}
		}
		return condNode{cond, n, no}, nil
	}
	return n, nil
}

func (p *parser) or() (node, error) {
	l, err := p.and()
	for err == nil && p.isName("or") {
		p.next()
		var r node
		r, err = p.and()
		l = binaryNode{"or", l, r}
	}
	return l, err
}

func (p *parser) and() (node, error) {
	l, err := p.not()
	for err == nil && p.isName("and") {
		p.next()
		var r node
		r, err = p.not()
		l = binaryNode{"and", l, r}
	}
	return l, err
}

func (p *parser) not() (node, error) {
	if p.isName("not") {
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		x, err := p.not()
		return unaryNode{"not", x}, err
	}
	return p.compare()
}

func (p *parser) compare() (node, error) {
	l, err := p.concat()
	for err == nil {
		t := p.peek()
		var op string
		switch {
		case t.kind == tOp && (t.s == "==" || t.s == "!=" || t.s == "<" || t.s == ">" || t.s == "<=" || t.s == ">="):
			op = t.s
			p.next()
		case t.kind == tName && t.s == "in":
			op = "in"
			p.next()
		case t.kind == tName && t.s == "not" && p.toks[p.p+1].kind == tName && p.toks[p.p+1].s == "in":
			op = "not in"
			p.p += 2
		case t.kind == tName && t.s == "is":
			p.next()
			neg := false
			if p.isName("not") {
				p.next()
				neg = true
			}
			nt := p.next()
			if nt.kind != tName {
				return nil, errf("expected a test name after 'is', found %s", nt.describe())
			}
			l = testNode{l, nt.s, neg}
			continue
		default:
			return l, nil
		}
		var r node
		r, err = p.concat()
		l = binaryNode{op, l, r}
	}
	return l, err
}

func (p *parser) concat() (node, error) {
	l, err := p.additive()
	for err == nil && p.isOp("~") {
		p.next()
		var r node
		r, err = p.additive()
		l = binaryNode{"~", l, r}
	}
	return l, err
}

func (p *parser) additive() (node, error) {
	l, err := p.mult()
	for err == nil && (p.isOp("+") || p.isOp("-")) {
		op := p.next().s
		var r node
		r, err = p.mult()
		l = binaryNode{op, l, r}
	}
	return l, err
}

func (p *parser) mult() (node, error) {
	l, err := p.unary()
	for err == nil && (p.isOp("*") || p.isOp("/") || p.isOp("%") || p.isOp("//")) {
		op := p.next().s
		var r node
		r, err = p.unary()
		l = binaryNode{op, l, r}
	}
	return l, err
}

func (p *parser) unary() (node, error) {
	if p.isOp("-") {
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		x, err := p.unary()
		return unaryNode{"-", x}, err
	}
	x, err := p.postfix()
	for n := 0; err == nil && p.isOp("|"); n++ {
		if n >= maxChain {
			return nil, errf("more than %d filters in a row", maxChain)
		}
		p.next()
		t := p.next()
		if t.kind != tName {
			return nil, errf("expected a filter name after '|', found %s", t.describe())
		}
		f := filterNode{x: x, name: t.s}
		if p.isOp("(") {
			p.next()
			if f.args, err = p.args(")"); err != nil {
				return nil, err
			}
		}
		x = f
	}
	return x, err
}

// args parses comma-separated expressions up to the closing op (consumed).
func (p *parser) args(closing string) ([]node, error) {
	var out []node
	for !p.isOp(closing) {
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	return out, p.expectOp(closing)
}

func (p *parser) postfix() (node, error) {
	x, err := p.primary()
	for n := 0; err == nil; n++ {
		if n >= maxChain {
			return nil, errf("more than %d attributes or indexes in a row", maxChain)
		}
		switch {
		case p.isOp("."):
			p.next()
			t := p.next()
			if t.kind != tName && t.kind != tNum {
				return nil, errf("expected an attribute name after '.', found %s", t.describe())
			}
			x = attrNode{x, t.s}
		case p.isOp("["):
			p.next()
			var i node
			if i, err = p.expr(); err != nil {
				return nil, err
			}
			if err = p.expectOp("]"); err != nil {
				return nil, err
			}
			x = indexNode{x, i}
		case p.isOp("("):
			return nil, errf("function calls are not supported; use a filter: x | f(args)")
		default:
			return x, nil
		}
	}
	return x, err
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tNum:
		return litNode{t.num}, nil
	case tStr:
		return litNode{t.s}, nil
	case tName:
		switch t.s {
		case "true", "True":
			return litNode{true}, nil
		case "false", "False":
			return litNode{false}, nil
		case "null", "none", "None":
			return litNode{nil}, nil
		case "undefined":
			return litNode{undefined}, nil
		case "and", "or", "not", "in", "is", "if", "else":
			return nil, errf("unexpected '%s'", t.s)
		}
		return nameNode{t.s}, nil
	case tOp:
		switch t.s {
		case "(":
			n, err := p.expr()
			if err != nil {
				return nil, err
			}
			return n, p.expectOp(")")
		case "[":
			items, err := p.args("]")
			return listNode{items}, err
		case "{":
			var d dictNode
			for !p.isOp("}") {
				k, err := p.primary()
				if err != nil {
					return nil, err
				}
				if nn, ok := k.(nameNode); ok { // {a: 1} as in JavaScript
					k = litNode{nn.name}
				}
				if err := p.expectOp(":"); err != nil {
					return nil, err
				}
				v, err := p.expr()
				if err != nil {
					return nil, err
				}
				d.keys, d.vals = append(d.keys, k), append(d.vals, v)
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			return d, p.expectOp("}")
		}
	}
	return nil, errf("unexpected %s", t.describe())
}

// ---- evaluation ----

// scope is the variables of one evaluation, innermost first.
type scope struct {
	vars   map[string]any
	parent *scope
}

func (s *scope) lookup(name string) (any, bool) {
	for ; s != nil; s = s.parent {
		if v, ok := s.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

// evaluator carries the budget shared by one render.
type evaluator struct {
	budget int // loop iterations and output bytes left
}

func (ev *evaluator) spend(n int) error {
	ev.budget -= n
	if ev.budget < 0 {
		return errf("the template renders too much (over the render limit)")
	}
	return nil
}

func describeNode(n node) string {
	switch n := n.(type) {
	case nameNode:
		return n.name
	case attrNode:
		return describeNode(n.x) + "." + n.name
	case indexNode:
		if l, ok := n.i.(litNode); ok {
			if s, ok := l.v.(string); ok {
				return describeNode(n.x) + "['" + s + "']"
			}
		}
		return describeNode(n.x) + "[…]"
	case filterNode:
		return describeNode(n.x) + " | " + n.name
	case litNode:
		return display(n.v)
	}
	return "the value"
}

func (ev *evaluator) eval(n node, sc *scope) (any, error) {
	switch n := n.(type) {
	case litNode:
		return n.v, nil
	case nameNode:
		v, ok := sc.lookup(n.name)
		if !ok {
			return nil, errf("unknown variable %q", n.name)
		}
		return v, nil
	case attrNode:
		x, err := ev.eval(n.x, sc)
		if err != nil {
			return nil, err
		}
		return member(x, n.name, describeNode(n.x))
	case indexNode:
		x, err := ev.eval(n.x, sc)
		if err != nil {
			return nil, err
		}
		i, err := ev.eval(n.i, sc)
		if err != nil {
			return nil, err
		}
		if s, ok := i.(string); ok {
			return member(x, s, describeNode(n.x))
		}
		f, ok := toNumber(i)
		if !ok {
			return nil, errf("%s cannot be indexed by %s", describeNode(n.x), display(i))
		}
		switch x := x.(type) {
		case []any:
			k := int(f)
			if k < 0 {
				k += len(x)
			}
			if k < 0 || k >= len(x) {
				return undefined, nil
			}
			return x[k], nil
		case string:
			r := []rune(x)
			k := int(f)
			if k < 0 || k >= len(r) {
				return undefined, nil
			}
			return string(r[k]), nil
		}
		return member(x, strconv.Itoa(int(f)), describeNode(n.x))
	case filterNode:
		fn, ok := filters[n.name]
		if !ok {
			return nil, errf("unknown filter %q", n.name)
		}
		x, err := ev.eval(n.x, sc)
		if err != nil {
			return nil, err
		}
		args := make([]any, len(n.args))
		for i, a := range n.args {
			if args[i], err = ev.eval(a, sc); err != nil {
				return nil, err
			}
		}
		v, err := fn(x, args)
		if err != nil {
			return nil, errf("filter %s: %s", n.name, err.Error())
		}
		return v, nil
	case unaryNode:
		x, err := ev.eval(n.x, sc)
		if err != nil {
			return nil, err
		}
		if n.op == "not" {
			return !truthy(x), nil
		}
		f, ok := toNumber(x)
		if !ok {
			return nil, errf("cannot negate %s", display(x))
		}
		return -f, nil
	case binaryNode:
		l, err := ev.eval(n.l, sc)
		if err != nil {
			return nil, err
		}
		switch n.op { // short circuits return the deciding operand, as JavaScript does
		case "and":
			if !truthy(l) {
				return l, nil
			}
			return ev.eval(n.r, sc)
		case "or":
			if truthy(l) {
				return l, nil
			}
			return ev.eval(n.r, sc)
		}
		r, err := ev.eval(n.r, sc)
		if err != nil {
			return nil, err
		}
		return binary(n.op, l, r)
	case condNode:
		c, err := ev.eval(n.cond, sc)
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return ev.eval(n.yes, sc)
		}
		return ev.eval(n.no, sc)
	case listNode:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			v, err := ev.eval(it, sc)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case dictNode:
		out := make(map[string]any, len(n.keys))
		for i := range n.keys {
			k, err := ev.eval(n.keys[i], sc)
			if err != nil {
				return nil, err
			}
			v, err := ev.eval(n.vals[i], sc)
			if err != nil {
				return nil, err
			}
			out[toString(k)] = v
		}
		return out, nil
	case testNode:
		x, err := ev.eval(n.x, sc)
		if err != nil {
			if _, ok := err.(*langError); ok && n.name == "defined" {
				return n.not, nil
			}
			return nil, err
		}
		var res bool
		switch n.name {
		case "defined":
			res = x != undefined
		case "undefined":
			res = x == undefined
		case "none", "null":
			res = x == nil
		case "string":
			_, res = x.(string)
		case "number":
			_, res = toNumber(x)
		default:
			return nil, errf("unknown test %q", n.name)
		}
		return res != n.not, nil
	}
	return nil, errf("cannot evaluate %T", n)
}

// member returns x[name]: a missing key of an object is undefined, a member of undefined or null
// is an error naming what was undefined.
func member(x any, name, what string) (any, error) {
	switch x := x.(type) {
	case map[string]any:
		if v, ok := x[name]; ok {
			return v, nil
		}
		return undefined, nil
	case *strictMap:
		if v, ok := x.m[name]; ok {
			return v, nil
		}
		return nil, errf("%s: no %s %q before this one", what, x.what, name)
	case []any:
		if name == "length" {
			return float64(len(x)), nil
		}
	case string:
		if name == "length" {
			return float64(len([]rune(x))), nil
		}
	case nil:
		return nil, errf("%s is null, so it has no %q", what, name)
	case undefinedT:
		return nil, errf("%s is undefined, so it has no %q", what, name)
	}
	return undefined, nil
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil, undefinedT:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case float64:
		return v != 0 && !math.IsNaN(v)
	case int:
		return v != 0
	case int64:
		return v != 0
	case json.Number:
		f, _ := v.Float64()
		return f != 0
	}
	return true
}

func toNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

func binary(op string, l, r any) (any, error) {
	switch op {
	case "~":
		return toString(l) + toString(r), nil
	case "==":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	case "in", "not in":
		var in bool
		switch r := r.(type) {
		case []any:
			for _, it := range r {
				if equal(it, l) {
					in = true
				}
			}
		case map[string]any:
			_, in = r[toString(l)]
		case string:
			in = strings.Contains(r, toString(l))
		default:
			return nil, errf("'in' needs a list, an object or a string, not %s", display(r))
		}
		return in == (op == "in"), nil
	}
	lf, lok := toNumber(l)
	rf, rok := toNumber(r)
	if op == "+" && (!lok || !rok) {
		if ls, ok := l.([]any); ok {
			if rs, ok := r.([]any); ok {
				return append(append([]any{}, ls...), rs...), nil
			}
		}
		return toString(l) + toString(r), nil // JavaScript's + on strings
	}
	if !lok || !rok {
		ls, lsok := l.(string)
		rs, rsok := r.(string)
		if lsok && rsok {
			switch op {
			case "<":
				return ls < rs, nil
			case ">":
				return ls > rs, nil
			case "<=":
				return ls <= rs, nil
			case ">=":
				return ls >= rs, nil
			}
		}
		return nil, errf("%q needs numbers, not %s and %s", op, display(l), display(r))
	}
	switch op {
	case "+":
		return lf + rf, nil
	case "-":
		return lf - rf, nil
	case "*":
		return lf * rf, nil
	case "/":
		if rf == 0 {
			return nil, errf("division by zero")
		}
		return lf / rf, nil
	case "//":
		if rf == 0 {
			return nil, errf("division by zero")
		}
		return math.Floor(lf / rf), nil
	case "%":
		if rf == 0 {
			return nil, errf("division by zero")
		}
		return math.Mod(lf, rf), nil
	case "<":
		return lf < rf, nil
	case ">":
		return lf > rf, nil
	case "<=":
		return lf <= rf, nil
	case ">=":
		return lf >= rf, nil
	}
	return nil, errf("unknown operator %q", op)
}

func equal(a, b any) bool {
	if af, ok := toNumber(a); ok {
		bf, ok := toNumber(b)
		return ok && af == bf
	}
	if (a == nil || a == undefined) && (b == nil || b == undefined) {
		return true
	}
	switch a.(type) {
	case string, bool:
		return a == b
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// toString renders a value inside text: undefined and null are empty, numbers without a
// needless fraction, lists joined by commas (as JavaScript does), objects as JSON.
func toString(v any) string {
	switch v := v.(type) {
	case nil, undefinedT:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case json.Number:
		return v.String()
	case []any:
		parts := make([]string, len(v))
		for i, it := range v {
			parts[i] = toString(it)
		}
		return strings.Join(parts, ",")
	case *strictMap:
		return toString(v.m)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// display describes a value in an error message, short.
func display(v any) string {
	switch v.(type) {
	case undefinedT:
		return "undefined"
	case nil:
		return "null"
	case string:
		return strconv.Quote(excerpt(v.(string), 40))
	case []any:
		return "a list"
	case map[string]any, *strictMap:
		return "an object"
	}
	return excerpt(toString(v), 40)
}
