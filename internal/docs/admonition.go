package docs

import (
	"regexp"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Admonition is an mkdocs admonition block: `!!! note "Title"` followed by a body indented by
// four spaces. No maintained goldmark extension for mkdocs' syntax is served by the module
// proxy here, so this is a small one of our own.
type Admonition struct {
	ast.BaseBlock
	Class string // lower-case, [a-z0-9-] only
	Title string // "" for none (`!!! note ""`)
}

// KindAdmonition is the ast.NodeKind of Admonition.
var KindAdmonition = ast.NewNodeKind("Admonition")

// Kind implements ast.Node.
func (*Admonition) Kind() ast.NodeKind { return KindAdmonition }

// Dump implements ast.Node.
func (n *Admonition) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"Class": n.Class, "Title": n.Title}, nil)
}

var admonitionLine = regexp.MustCompile(`^!!!\s+([A-Za-z0-9_-]{1,40})(?:\s+"([^"]*)")?\s*$`)

type admonitionParser struct{}

func (admonitionParser) Trigger() []byte { return []byte{'!'} }

func (admonitionParser) Open(parent ast.Node, reader text.Reader, pc parser.Context) (ast.Node, parser.State) {
	line, seg := reader.PeekLine()
	if _, pos := util.IndentWidth(line, reader.LineOffset()); pos > 0 {
		return nil, parser.NoChildren
	}
	m := admonitionLine.FindSubmatch(util.TrimRightSpace(line))
	if m == nil {
		return nil, parser.NoChildren
	}
	kind := strings.ToLower(string(m[1]))
	kind = strings.ReplaceAll(kind, "_", "-")
	title := strings.ToUpper(kind[:1]) + kind[1:]
	if m[2] != nil {
		title = string(m[2])
	}
	reader.Advance(seg.Len() - 1)
	return &Admonition{Class: kind, Title: title}, parser.HasChildren
}

func (admonitionParser) Continue(node ast.Node, reader text.Reader, pc parser.Context) parser.State {
	line, _ := reader.PeekLine()
	if util.IsBlank(line) {
		return parser.Continue | parser.HasChildren
	}
	if w, _ := util.IndentWidth(line, reader.LineOffset()); w < 4 {
		return parser.Close
	}
	pos, padding := util.IndentPosition(line, reader.LineOffset(), 4)
	reader.AdvanceAndSetPadding(pos, padding)
	return parser.Continue | parser.HasChildren
}

func (admonitionParser) Close(node ast.Node, reader text.Reader, pc parser.Context) {}
func (admonitionParser) CanInterruptParagraph() bool                                { return true }
func (admonitionParser) CanAcceptIndentedLine() bool                                { return false }

type admonitionRenderer struct{}

func (admonitionRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(KindAdmonition, func(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
		n := node.(*Admonition)
		if entering {
			w.WriteString(`<div class="admonition ` + n.Class + `">` + "\n")
			if n.Title != "" {
				w.WriteString(`<p class="admonition-title">`)
				w.Write(util.EscapeHTML([]byte(n.Title)))
				w.WriteString("</p>\n")
			}
		} else {
			w.WriteString("</div>\n")
		}
		return ast.WalkContinue, nil
	})
}

// admonitions is the goldmark extension.
type admonitions struct{}

func (admonitions) Extend(m goldmark.Markdown) {
	m.Parser().AddOptions(parser.WithBlockParsers(util.Prioritized(admonitionParser{}, 450)))
	m.Renderer().AddOptions(renderer.WithNodeRenderers(util.Prioritized(admonitionRenderer{}, 500)))
}
