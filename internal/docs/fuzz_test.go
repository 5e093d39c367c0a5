package docs

import (
	"strings"
	"testing"
)

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("site_name: x\nnav:\n  - A: a.md\n  - B:\n      - b.md\n"))
	f.Add([]byte("docs_dir: ../x\n"))
	f.Add([]byte("nav: [[[[[[[[[[a]]]]]]]]]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err == nil && (c.DocsDir == "" || c.DocsDir == ".." || strings.HasPrefix(c.DocsDir, "../") || strings.HasPrefix(c.DocsDir, "/")) {
			t.Errorf("docs_dir %q accepted", c.DocsDir)
		}
	})
}

func FuzzRender(f *testing.F) {
	f.Add("# T\n\n!!! note \"x\"\n    body\n\n[a](b.md#c) ![i](../../x.png)")
	f.Add("<script>alert(1)</script>[x](javascript:alert(1))")
	r := newRenderer(true)
	f.Fuzz(func(t *testing.T, src string) {
		out := r.Render([]byte(src), "guide/p.md", base)
		if strings.Contains(strings.ToLower(out.HTML), "<script") {
			t.Errorf("script in %q", out.HTML)
		}
	})
}
