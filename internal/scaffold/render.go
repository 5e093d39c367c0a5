package scaffold

import (
	"strings"
)

// Template text: `${{ expr }}` output tags, `{% … %}` block tags and `{# … #}` comments over
// plain text (see lang.go for the language).

type tnode interface{}

type (
	textT struct{ s string }
	outT  struct{ x node }
	ifT   struct {
		conds  []node
		bodies [][]tnode
		els    []tnode
	}
	forT struct {
		k, v      string // k is "" for a list loop
		iter      node
		body, els []tnode
	}
	setT struct {
		name string
		x    node
	}
)

// tag is one scanned piece: text, or a tag with its kind ("out", "block") and tokens.
type piece struct {
	text    string
	kind    string // "", "out", "block"
	toks    []token
	keyword string // first name of a block tag
}

// compile parses template text.
func compile(src string) ([]tnode, error) {
	pieces, err := scanTemplate(src)
	if err != nil {
		return nil, err
	}
	p := &tparser{pieces: pieces}
	nodes, end, err := p.body()
	if err != nil {
		return nil, err
	}
	if end != "" {
		return nil, errf("{%% %s %%} without an opening tag", end)
	}
	return nodes, nil
}

func scanTemplate(src string) ([]piece, error) {
	var out []piece
	trimNext := false
	i := 0
	for i < len(src) {
		j := nextTag(src, i)
		text := src[i:j]
		if trimNext {
			text = strings.TrimLeft(text, " \t\r\n")
			trimNext = false
		}
		if j < len(src) && j+len(tagOpen(src, j)) < len(src) && src[j+len(tagOpen(src, j))] == '-' {
			text = strings.TrimRight(text, " \t\r\n")
		}
		if text != "" {
			out = append(out, piece{text: text})
		}
		if j >= len(src) {
			break
		}
		open := tagOpen(src, j)
		k := j + len(open)
		if k < len(src) && src[k] == '-' {
			k++
		}
		switch open {
		case "{#":
			end := strings.Index(src[k:], "#}")
			if end < 0 {
				return nil, errf("unclosed comment: '#}' is missing")
			}
			trimNext = end > 0 && src[k+end-1] == '-'
			i = k + end + 2
		case "${{":
			toks, next, trim, err := lexExpr(src, k, "}}")
			if err != nil {
				return nil, err
			}
			out = append(out, piece{kind: "out", toks: toks})
			i, trimNext = next, trim
		case "{%":
			toks, next, trim, err := lexExpr(src, k, "%}")
			if err != nil {
				return nil, err
			}
			if len(toks) == 0 || toks[0].kind != tName {
				return nil, errf("a block tag needs a keyword ({%% if … %%}, {%% for … %%}, …)")
			}
			i, trimNext = next, trim
			if toks[0].s == "raw" {
				end := strings.Index(src[i:], "{% endraw %}")
				if end < 0 {
					return nil, errf("{%% raw %%} without {%% endraw %%}")
				}
				if end > 0 {
					out = append(out, piece{text: src[i : i+end]})
				}
				i += end + len("{% endraw %}")
				continue
			}
			out = append(out, piece{kind: "block", toks: toks[1:], keyword: toks[0].s})
		}
	}
	return out, nil
}

// nextTag returns the index of the next tag opening at or after i, or len(src).
func nextTag(src string, i int) int {
	for {
		k := strings.IndexAny(src[i:], "${")
		if k < 0 {
			return len(src)
		}
		j := i + k
		if tagOpen(src, j) != "" {
			return j
		}
		i = j + 1
	}
}

func tagOpen(src string, j int) string {
	switch {
	case strings.HasPrefix(src[j:], "${{"):
		return "${{"
	case strings.HasPrefix(src[j:], "{%"):
		return "{%"
	case strings.HasPrefix(src[j:], "{#"):
		return "{#"
	}
	return ""
}

type tparser struct {
	pieces []piece
	p      int
	depth  int
}

// body parses nodes until a block tag that closes or continues an enclosing block (returned
// as end with the piece's tokens left at p-1), or the end.
func (p *tparser) body() ([]tnode, string, error) {
	if p.depth++; p.depth > maxDepth {
		return nil, "", errf("blocks nest deeper than %d levels", maxDepth)
	}
	defer func() { p.depth-- }()
	var out []tnode
	for p.p < len(p.pieces) {
		pc := p.pieces[p.p]
		p.p++
		switch pc.kind {
		case "":
			out = append(out, textT{pc.text})
		case "out":
			x, err := parseExpression(pc.toks)
			if err != nil {
				return nil, "", err
			}
			out = append(out, outT{x})
		case "block":
			switch pc.keyword {
			case "if":
				n, err := p.ifBlock(pc)
				if err != nil {
					return nil, "", err
				}
				out = append(out, n)
			case "for":
				n, err := p.forBlock(pc)
				if err != nil {
					return nil, "", err
				}
				out = append(out, n)
			case "set":
				if len(pc.toks) < 3 || pc.toks[0].kind != tName || pc.toks[1].s != "=" {
					return nil, "", errf("expected {%% set name = expression %%}")
				}
				x, err := parseExpression(pc.toks[2:])
				if err != nil {
					return nil, "", err
				}
				out = append(out, setT{pc.toks[0].s, x})
			case "elif", "else", "endif", "endfor":
				return out, pc.keyword, nil
			default:
				return nil, "", errf("unknown block tag {%% %s %%}", pc.keyword)
			}
		}
	}
	return out, "", nil
}

func (p *tparser) ifBlock(pc piece) (tnode, error) {
	var n ifT
	cond, err := parseExpression(pc.toks)
	if err != nil {
		return nil, err
	}
	for {
		body, end, err := p.body()
		if err != nil {
			return nil, err
		}
		n.conds, n.bodies = append(n.conds, cond), append(n.bodies, body)
		switch end {
		case "elif":
			if cond, err = parseExpression(p.pieces[p.p-1].toks); err != nil {
				return nil, err
			}
			continue
		case "else":
			els, end, err := p.body()
			if err != nil {
				return nil, err
			}
			if end != "endif" {
				return nil, errf("{%% if %%} … {%% else %%} without {%% endif %%}")
			}
			n.els = els
			return n, nil
		case "endif":
			return n, nil
		}
		return nil, errf("{%% if %%} without {%% endif %%}")
	}
}

func (p *tparser) forBlock(pc piece) (tnode, error) {
	t := pc.toks
	var n forT
	switch {
	case len(t) >= 3 && t[0].kind == tName && t[1].kind == tName && t[1].s == "in":
		n.v = t[0].s
		t = t[2:]
	case len(t) >= 5 && t[0].kind == tName && t[1].s == "," && t[2].kind == tName && t[3].kind == tName && t[3].s == "in":
		n.k, n.v = t[0].s, t[2].s
		t = t[4:]
	default:
		return nil, errf("expected {%% for x in expression %%} or {%% for key, value in expression %%}")
	}
	var err error
	if n.iter, err = parseExpression(t); err != nil {
		return nil, err
	}
	body, end, err := p.body()
	if err != nil {
		return nil, err
	}
	n.body = body
	if end == "else" {
		if n.els, end, err = p.body(); err != nil {
			return nil, err
		}
	}
	if end != "endfor" {
		return nil, errf("{%% for %%} without {%% endfor %%}")
	}
	return n, nil
}

// render writes nodes to b.
func (ev *evaluator) render(b *strings.Builder, nodes []tnode, sc *scope) error {
	for _, n := range nodes {
		switch n := n.(type) {
		case textT:
			if err := ev.spend(len(n.s)); err != nil {
				return err
			}
			b.WriteString(n.s)
		case outT:
			v, err := ev.eval(n.x, sc)
			if err != nil {
				return err
			}
			s := toString(v)
			if err := ev.spend(len(s)); err != nil {
				return err
			}
			b.WriteString(s)
		case setT:
			v, err := ev.eval(n.x, sc)
			if err != nil {
				return err
			}
			sc.vars[n.name] = v
		case ifT:
			done := false
			for i, c := range n.conds {
				v, err := ev.eval(c, sc)
				if err != nil {
					return err
				}
				if truthy(v) {
					if err := ev.render(b, n.bodies[i], sc); err != nil {
						return err
					}
					done = true
					break
				}
			}
			if !done {
				if err := ev.render(b, n.els, sc); err != nil {
					return err
				}
			}
		case forT:
			if err := ev.renderFor(b, n, sc); err != nil {
				return err
			}
		}
	}
	return nil
}

func (ev *evaluator) renderFor(b *strings.Builder, n forT, sc *scope) error {
	it, err := ev.eval(n.iter, sc)
	if err != nil {
		return err
	}
	type kv struct {
		k string
		v any
	}
	var items []kv
	switch it := it.(type) {
	case []any:
		for _, v := range it {
			items = append(items, kv{v: v})
		}
	case map[string]any:
		for _, k := range sortedKeys(it) {
			items = append(items, kv{k: k, v: it[k]})
		}
	case nil, undefinedT:
	default:
		return errf("cannot loop over %s", display(it))
	}
	if len(items) == 0 {
		return ev.render(b, n.els, sc)
	}
	for i, item := range items {
		if err := ev.spend(64); err != nil { // an iteration costs something even if it writes nothing
			return err
		}
		vars := map[string]any{"loop": map[string]any{
			"index": float64(i + 1), "index0": float64(i), "first": i == 0, "last": i == len(items)-1,
			"length": float64(len(items)), "revindex": float64(len(items) - i), "revindex0": float64(len(items) - i - 1),
		}}
		if n.k != "" {
			vars[n.k], vars[n.v] = item.k, item.v
		} else if _, isMap := it.(map[string]any); isMap {
			vars[n.v] = item.k
		} else {
			vars[n.v] = item.v
		}
		if err := ev.render(b, n.body, &scope{vars: vars, parent: sc}); err != nil {
			return err
		}
	}
	return nil
}

// renderString renders template text to a string within budget bytes.
func renderString(src string, vars map[string]any, budget int) (string, error) {
	nodes, err := compile(src)
	if err != nil {
		return "", err
	}
	ev := &evaluator{budget: budget}
	var b strings.Builder
	if err := ev.render(&b, nodes, &scope{vars: map[string]any{}, parent: &scope{vars: vars}}); err != nil {
		return "", err
	}
	return b.String(), nil
}

// renderValue renders one string of a step's input: a string that is exactly one `${{ }}`
// expression (spaces around allowed) keeps the value's type, as Backstage does; any other
// string is rendered as text. Strings without tags are returned as they are.
func renderValue(src string, vars map[string]any, budget int) (any, error) {
	if !strings.Contains(src, "${{") && !strings.Contains(src, "{%") {
		return src, nil
	}
	pieces, err := scanTemplate(src)
	if err != nil {
		return nil, err
	}
	var outs []piece
	for _, p := range pieces {
		if p.kind != "" || strings.TrimSpace(p.text) != "" {
			outs = append(outs, p)
		}
	}
	if len(outs) == 1 && outs[0].kind == "out" {
		x, err := parseExpression(outs[0].toks)
		if err != nil {
			return nil, err
		}
		ev := &evaluator{budget: budget}
		return ev.eval(x, &scope{vars: vars})
	}
	return renderString(src, vars, budget)
}
