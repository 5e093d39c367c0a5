// Package docs reads an entity's documentation as mkdocs lays it out (mkdocs.yml and Markdown
// pages under docs_dir) and renders it to sanitised HTML, without mkdocs, Python or Docker.
package docs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Heading is a heading of a page, with the anchor its id gives it.
type Heading struct {
	Level  int    `json:"level"`
	Text   string `json:"text"`
	Anchor string `json:"anchor"`
}

// Rendered is one page rendered.
type Rendered struct {
	Title    string
	HTML     string
	Text     string
	Headings []Heading
}

// Renderer renders Markdown pages. It is safe for concurrent use.
type Renderer struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// NewRenderer builds the renderer: GitHub-flavoured Markdown, heading ids, admonitions, and a
// sanitiser that lets through only what that Markdown produces.
func NewRenderer() *Renderer { return newRenderer(false) }

// newRenderer with rawHTML passes raw HTML in Markdown through to the sanitiser (tests check
// that the sanitiser alone stops what goldmark drops).
func newRenderer(rawHTML bool) *Renderer {
	opts := []goldmark.Option{
		goldmark.WithExtensions(extension.GFM, admonitions{}),
		goldmark.WithParserOptions(parser.WithAutoHeadingID(), parser.WithASTTransformers(util.Prioritized(linkRewriter{}, 100))),
	}
	if rawHTML {
		opts = append(opts, goldmark.WithRendererOptions(html.WithUnsafe()))
	}
	// By default raw HTML in Markdown is dropped by goldmark (no WithUnsafe); the sanitiser
	// is the second wall.
	return &Renderer{md: goldmark.New(opts...), policy: Policy()}
}

// Policy is the sanitiser of rendered pages: bluemonday's UGC policy (no script, no event
// handlers, no style, only http, https and mailto URLs besides relative ones) plus the classes
// and ids the Markdown renderer writes.
func Policy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowAttrs("id").Matching(regexp.MustCompile(`^[\p{L}\p{N}_-]{1,200}$`)).OnElements("h1", "h2", "h3", "h4", "h5", "h6")
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^language-[A-Za-z0-9_+#-]{1,40}$`)).OnElements("code")
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^admonition [a-z0-9-]{1,40}$`)).OnElements("div")
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^admonition-title$`)).OnElements("p")
	p.AllowElements("input")
	p.AllowAttrs("type").Matching(regexp.MustCompile(`^checkbox$`)).OnElements("input")
	p.AllowAttrs("checked", "disabled").Matching(regexp.MustCompile(`^$`)).OnElements("input")
	p.AllowURLSchemes("http", "https", "mailto")
	return p
}

// pageInfo is what the link rewriter needs to know about the page it rewrites.
type pageInfo struct {
	path string // of the page under docs_dir
	base string // URL prefix of the site, ending in /
}

var ctxPage = parser.NewContextKey()

// Render renders the Markdown of the page at pagePath (under docs_dir); base is the URL prefix
// of the site (e.g. /docs/default/component/payments/), against which relative links to other
// pages and to images are rewritten.
func (r *Renderer) Render(src []byte, pagePath, base string) Rendered {
	pc := parser.NewContext()
	pc.Set(ctxPage, &pageInfo{path: pagePath, base: base})
	doc := r.md.Parser().Parse(text.NewReader(src), parser.WithContext(pc))
	var buf bytes.Buffer
	if err := r.md.Renderer().Render(&buf, src, doc); err != nil {
		buf.Reset()
	}
	out := Rendered{HTML: r.policy.Sanitize(buf.String())}
	var txt strings.Builder
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			if n.Type() == ast.TypeBlock {
				txt.WriteByte('\n')
			}
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			h := Heading{Level: n.Level, Text: plain(n, src)}
			if id, ok := n.AttributeString("id"); ok {
				if b, ok := id.([]byte); ok {
					h.Anchor = string(b)
				}
			}
			if out.Title == "" && n.Level == 1 {
				out.Title = h.Text
			}
			out.Headings = append(out.Headings, h)
		case *ast.Text:
			txt.Write(n.Value(src))
			if n.SoftLineBreak() || n.HardLineBreak() {
				txt.WriteByte(' ')
			}
		case *ast.String:
			txt.Write(n.Value)
		case *ast.FencedCodeBlock, *ast.CodeBlock:
			lines := n.Lines()
			for i := 0; i < lines.Len(); i++ {
				s := lines.At(i)
				txt.Write(s.Value(src))
			}
			return ast.WalkSkipChildren, nil
		case *ast.RawHTML, *ast.HTMLBlock:
			return ast.WalkSkipChildren, nil
		}
		return ast.WalkContinue, nil
	})
	out.Text = strings.TrimSpace(collapseBlank.ReplaceAllString(txt.String(), "\n"))
	return out
}

var collapseBlank = regexp.MustCompile(`\n{2,}`)

func plain(n ast.Node, src []byte) string {
	var b strings.Builder
	ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Value(src))
		case *ast.String:
			b.Write(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// linkRewriter rewrites relative links and images: a link to another page (other.md#x) goes to
// that page's catalogd URL, an image or other file to its URL under /docs/. A relative link that
// climbs out of docs_dir is dropped.
type linkRewriter struct{}

func (linkRewriter) Transform(doc *ast.Document, reader text.Reader, pc parser.Context) {
	info, _ := pc.Get(ctxPage).(*pageInfo)
	if info == nil {
		return
	}
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Link:
			n.Destination = []byte(rewrite(string(n.Destination), info, true))
		case *ast.Image:
			n.Destination = []byte(rewrite(string(n.Destination), info, false))
		}
		return ast.WalkContinue, nil
	})
}

func rewrite(dest string, info *pageInfo, link bool) string {
	if dest == "" || strings.HasPrefix(dest, "#") || strings.HasPrefix(dest, "/") {
		return dest
	}
	u, err := url.Parse(dest)
	if err != nil {
		return "#"
	}
	if u.Scheme != "" || u.Host != "" || u.Opaque != "" {
		return dest // absolute: the sanitiser decides
	}
	p := path.Join(path.Dir(info.path), u.Path)
	if p == ".." || strings.HasPrefix(p, "../") || !validPath(p) {
		return "#"
	}
	var target string
	if link && strings.EqualFold(path.Ext(p), ".md") {
		target = PageURL(info.base, p)
	} else {
		target = info.base + escapePath(p)
	}
	if u.Fragment != "" {
		target += "#" + url.PathEscape(u.Fragment)
	}
	return target
}

func validPath(p string) bool {
	return p != "" && !strings.ContainsAny(p, "\\\x00")
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// PageURL is the URL of the page at p (under docs_dir) in the site at base, as mkdocs names it
// with directory URLs: guide/setup.md is base+"guide/setup/", guide/index.md base+"guide/".
func PageURL(base, p string) string {
	return base + escapePath(PageSlug(p))
}

// PageSlug is a page's path in URLs: "" for index.md, "guide/setup/" for guide/setup.md.
func PageSlug(p string) string {
	p = strings.TrimSuffix(p, path.Ext(p))
	dir, name := path.Split(p)
	if strings.EqualFold(name, "index") || strings.EqualFold(name, "readme") {
		return dir
	}
	return dir + name + "/"
}

func hashOf(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		for i := range n {
			n[i] = byte(len(p) >> (8 * i))
		}
		h.Write(n[:])
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
