package docs

import (
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

const base = "/docs/default/component/payments/"

func TestRenderWritesTheStructureMkdocsPagesNeed(t *testing.T) {
	src := "# Payments guide\n\n## Set up\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n\n" +
		"```go\nfmt.Println(1)\n```\n\n!!! note \"Read this\"\n    Body *text*.\n\n    Second para.\n\nAfter.\n\n!!! warning\n    Careful.\n\n" +
		"See [other](other.md#x), [up](../index.md), [ext](https://example.com/a) and ~~old~~ https://example.org.\n\n![logo](img/logo.png)\n"
	out := NewRenderer().Render([]byte(src), "guide/setup.md", base)
	for _, want := range []string{
		`<h1 id="payments-guide">Payments guide</h1>`,
		`<h2 id="set-up">Set up</h2>`,
		`<table>`, `<td>1</td>`,
		`<input checked="" disabled="" type="checkbox"`,
		`<code class="language-go">`,
		`<div class="admonition note">`, `<p class="admonition-title">Read this</p>`, `<em>text</em>`, `<p>Second para.</p>`,
		`<div class="admonition warning">`, `<p class="admonition-title">Warning</p>`,
		`href="/docs/default/component/payments/guide/other/#x"`,
		`href="/docs/default/component/payments/"`,
		`href="https://example.com/a"`,
		`<del>old</del>`, `href="https://example.org"`,
		`src="/docs/default/component/payments/guide/img/logo.png"`,
	} {
		if !strings.Contains(out.HTML, want) {
			t.Errorf("HTML lacks %s:\n%s", want, out.HTML)
		}
	}
	if strings.Contains(out.HTML, "After.</p>\n</div>") {
		t.Errorf("the admonition swallowed the paragraph after it:\n%s", out.HTML)
	}
	if out.Title != "Payments guide" || len(out.Headings) != 2 || out.Headings[1] != (Heading{2, "Set up", "set-up"}) {
		t.Errorf("title %q headings %+v", out.Title, out.Headings)
	}
	if !strings.Contains(out.Text, "Careful.") || !strings.Contains(out.Text, "fmt.Println(1)") || strings.Contains(out.Text, "<") {
		t.Errorf("text: %q", out.Text)
	}
}

func TestRenderLeavesAnXSSCorpusInert(t *testing.T) {
	corpus := []string{
		`<script>alert(1)</script>`,
		`<img src=x onerror=alert(1)>`,
		`<a href="#" onclick="alert(1)">x</a>`,
		`[x](javascript:alert(1))`,
		`[x](JaVaScRiPt:alert(1))`,
		`[x](  javascript:alert(1) )`,
		`[x](java&#x09;script:alert(1))`,
		`[x](&#106;avascript:alert(1))`,
		`[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)`,
		`![x](javascript:alert(1))`,
		`<svg onload=alert(1)><circle/></svg>`,
		`<iframe src="https://evil.example"></iframe>`,
		`<style>body{display:none}</style>`,
		`<div style="background:url(javascript:alert(1))">x</div>`,
		`&lt;script&gt;alert(1)&lt;/script&gt;`,
		`<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>`,
		`<javascript:alert(1)>`,
		`<https://ok.example/" onmouseover="alert(1)>`,
		"!!! note \"<img src=x onerror=alert(1)>\"\n    <script>alert(1)</script>",
		"```\" onmouseover=\"alert(1)\n<script>\n```",
		`[x](other.md "t\" onclick=\"alert(1)")`,
		`<form action="javascript:alert(1)"><input type=submit></form>`,
		`<object data="x.swf"></object><embed src="x">`,
		`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
	}
	for _, rawHTML := range []bool{false, true} {
		checkInert(t, newRenderer(rawHTML), corpus)
	}
}

// checkInert renders each payload: text that shows a payload escaped is inert; what must not
// appear is markup that runs it (a script element, an event handler or a script URL in a tag).
func checkInert(t *testing.T, r *Renderer, corpus []string) {
	t.Helper()
	tag := regexp.MustCompile(`<[^>]*>`)
	event := regexp.MustCompile(`(?i)\son\w+\s*=`)
	for _, c := range corpus {
		out := r.Render([]byte(c+"\n"), "index.md", base).HTML
		for _, tg := range tag.FindAllString(out, -1) {
			low := strings.ToLower(tg)
			if event.MatchString(tg) || strings.Contains(low, "javascript:") || strings.Contains(low, "data:") || strings.Contains(low, "style") {
				t.Errorf("%q rendered to a live tag %s in %s", c, tg, out)
			}
			for _, el := range []string{"<script", "<iframe", "<svg", "<object", "<embed", "<form", "<math", "<style"} {
				if strings.HasPrefix(low, el) {
					t.Errorf("%q rendered to %s in %s", c, tg, out)
				}
			}
		}
		if strings.Contains(strings.ToLower(out), "<script") {
			t.Errorf("%q: %s", c, out)
		}
	}
}

func TestPolicyAloneRemovesWhatGoldmarkWouldLetThrough(t *testing.T) {
	// The sanitiser is the second wall: check it on raw HTML, as if goldmark passed it through.
	in := `<h2 id="ok" onclick="x()">t</h2><a href="javascript:alert(1)">a</a><img src="data:text/html,x" onerror="y()"><div class="admonition note" style="x">d</div><script>z()</script><code class="language-go evil">c</code>`
	out := Policy().Sanitize(in)
	if strings.Contains(out, "onclick") || strings.Contains(out, "javascript") || strings.Contains(out, "onerror") ||
		strings.Contains(out, "<script") || strings.Contains(out, "style=") || strings.Contains(out, "data:") || strings.Contains(out, "evil") {
		t.Errorf("sanitised: %s", out)
	}
	if !strings.Contains(out, `<h2 id="ok">`) || !strings.Contains(out, `<div class="admonition note">`) {
		t.Errorf("sanitiser dropped what pages need: %s", out)
	}
}

func TestReadSiteUsesNavAndSkipsUnchangedPages(t *testing.T) {
	fsys := fstest.MapFS{
		"svc/mkdocs.yml":          {Data: []byte("site_name: Payments\nnav:\n  - Home: index.md\n  - Guide:\n      - Setup: guide/setup.md\n")},
		"svc/docs/index.md":       {Data: []byte("# Welcome\n\nSee [setup](guide/setup.md).\n")},
		"svc/docs/guide/setup.md": {Data: []byte("# Set up\n")},
		"svc/docs/extra.md":       {Data: []byte("Extra page.\n")},
		"svc/docs/img/logo.png":   {Data: []byte("\x89PNG....")},
		"svc/docs/notes.bin":      {Data: []byte("skipped")},
	}
	renders := 0
	r := &Reader{Renderer: NewRenderer(), Rendered: func() { renders++ }}
	site, err := r.Read(fsys, "svc", base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if site.Name != "Payments" || len(site.Pages) != 3 || renders != 3 || len(site.Assets) != 1 {
		t.Fatalf("site %+v renders %d", site, renders)
	}
	if site.Pages[0].Path != "index.md" || site.Pages[0].Title != "Home" || site.Pages[1].Title != "Setup" || site.Pages[2].Title != "extra" {
		t.Errorf("pages: %+v", site.Pages)
	}
	if site.Assets[0].ContentType != "image/png" {
		t.Errorf("asset: %+v", site.Assets[0])
	}
	prev := &Previous{Hash: site.Hash, Pages: map[string]string{}}
	for _, p := range site.Pages {
		prev.Pages[p.Path] = p.Hash
	}
	if _, err := r.Read(fsys, "svc", base, prev); err != ErrUnchanged {
		t.Fatalf("unchanged site: %v", err)
	}
	fsys["svc/docs/extra.md"] = &fstest.MapFile{Data: []byte("Extra page, changed.\n")}
	renders = 0
	site2, err := r.Read(fsys, "svc", base, prev)
	if err != nil {
		t.Fatal(err)
	}
	if renders != 1 || !site2.Pages[0].Stub || site2.Pages[2].Stub {
		t.Errorf("renders %d pages %+v", renders, site2.Pages)
	}
}

func TestReadSiteReportsBrokenDocs(t *testing.T) {
	cases := map[string]fstest.MapFS{
		"no mkdocs.yml":    {"svc/docs/index.md": {Data: []byte("x")}},
		"bad YAML":         {"svc/mkdocs.yml": {Data: []byte("site_name: [\n")}, "svc/docs/index.md": {Data: []byte("x")}},
		"nav not a list":   {"svc/mkdocs.yml": {Data: []byte("nav: 3\n")}, "svc/docs/index.md": {Data: []byte("x")}},
		"docs_dir escapes": {"svc/mkdocs.yml": {Data: []byte("docs_dir: ../../etc\n")}},
		"no pages":         {"svc/mkdocs.yml": {Data: []byte("site_name: x\n")}, "svc/docs/a.png": {Data: []byte("x")}},
		"page too large":   {"svc/mkdocs.yml": {Data: []byte("site_name: x\n")}, "svc/docs/a.md": {Data: make([]byte, 2<<20)}},
	}
	r := &Reader{Renderer: NewRenderer()}
	for name, fsys := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := r.Read(fsys, "svc", base, nil); err == nil {
				t.Fatal("no error")
			} else if len(err.Error()) > 600 {
				t.Errorf("error too long: %d", len(err.Error()))
			}
		})
	}
	site, err := r.Read(fstest.MapFS{"svc/mkdocs.yml": {Data: []byte("nav:\n  - Gone: gone.md\n")}, "svc/docs/index.md": {Data: []byte("x")}}, "svc", base, nil)
	if err != nil || len(site.Problems) != 1 || !strings.Contains(site.Problems[0], "gone.md") {
		t.Errorf("missing nav target: %v %+v", err, site)
	}
}

func TestReadSiteStopsAtItsBounds(t *testing.T) {
	fsys := fstest.MapFS{
		"svc/mkdocs.yml":  {Data: []byte("site_name: x\n")},
		"svc/docs/a.md":   {Data: []byte("a")},
		"svc/docs/b.md":   {Data: []byte("b")},
		"svc/docs/c.md":   {Data: []byte("c")},
		"svc/docs/i.png":  {Data: make([]byte, 300)},
		"svc/docs/.git/x": {Data: []byte("hidden")},
	}
	cases := map[string]Limits{
		"pages": {MaxPages: 2, MaxPageBytes: 10, MaxAssetBytes: 1000, MaxTotalBytes: 1000},
		"asset": {MaxPages: 10, MaxPageBytes: 10, MaxAssetBytes: 100, MaxTotalBytes: 1000},
		"total": {MaxPages: 10, MaxPageBytes: 10, MaxAssetBytes: 1000, MaxTotalBytes: 200},
	}
	for name, lim := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := (&Reader{Renderer: NewRenderer(), Limits: lim}).Read(fsys, "svc", base, nil); err == nil {
				t.Error("no error")
			}
		})
	}
	site, err := (&Reader{Renderer: NewRenderer(), Limits: Limits{MaxPages: 3, MaxPageBytes: 10, MaxAssetBytes: 1000, MaxTotalBytes: 1000}}).Read(fsys, "svc", base, nil)
	if err != nil || len(site.Pages) != 3 || len(site.Assets) != 1 {
		t.Errorf("within the bounds: %v %+v", err, site)
	}
}
