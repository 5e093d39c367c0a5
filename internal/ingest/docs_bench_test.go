package ingest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"catalogd/internal/ingest/file"
	"catalogd/internal/testdb"
)

// docsPage is a page of about 2 KiB with what real pages hold: headings, a table, a list, a
// code block, an admonition and links.
func docsPage(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Page %d\n\nIntro to page %d with a [link](page-%d.md#part-2) and `code`.\n\n", i, i, (i+1)%2000)
	for s := 1; s <= 3; s++ {
		fmt.Fprintf(&b, "## Part %d\n\nSome *text* about part %d of page %d, long enough to be a paragraph of prose.\n\n", s, s, i)
	}
	b.WriteString("| key | value |\n|-----|-------|\n| a | 1 |\n| b | 2 |\n\n- [x] done\n- [ ] todo\n\n")
	b.WriteString("```go\nfunc main() {\n\tfmt.Println(\"hello\")\n}\n```\n\n!!! note \"Note\"\n    Indented body.\n\n![img](img/a.png)\n")
	return b.String()
}

// BenchmarkDocsIngestion ingests one entity with 2,000 pages into a new SQLite store each
// time: reading, rendering, sanitising and writing. It reports pages per second.
func BenchmarkDocsIngestion(b *testing.B) {
	const pages = 2000
	dir := b.TempDir()
	write := func(p, s string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("catalog-info.yaml", docsComponent)
	write("mkdocs.yml", "site_name: Big\n")
	for i := range pages {
		write(fmt.Sprintf("docs/page-%d.md", i), docsPage(i))
	}
	p, err := file.New(filepath.Join(dir, "catalog-info.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	dbs := map[string]func(testing.TB) string{"sqlite": testdb.SQLite}
	if os.Getenv(testdb.EnvPostgres) != "" {
		dbs["postgres"] = testdb.Postgres
	}
	for name, db := range dbs {
		b.Run(name, func(b *testing.B) { benchDocs(b, p, db, pages) })
	}
}

func benchDocs(b *testing.B, p *file.Provider, db func(testing.TB) string, pages int) {
	for range b.N {
		b.StopTimer()
		st := testdb.Open(b, db(b))
		eng := testdb.Engine(b, st)
		b.StartTimer()
		if _, err := eng.Refresh(context.Background(), p); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if n, _ := st.Client.DocPage.Query().Count(context.Background()); n != pages {
			b.Fatalf("%d pages stored", n)
		}
		st.Client.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(pages*b.N)/b.Elapsed().Seconds(), "pages/s")
}

// BenchmarkDocsReReadOnePageChanged re-reads the 2,000-page site after one page changed: one
// page is rendered, the others are compared by hash.
func BenchmarkDocsReReadOnePageChanged(b *testing.B) {
	const pages = 2000
	dir := b.TempDir()
	write := func(p, s string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("catalog-info.yaml", docsComponent)
	write("mkdocs.yml", "site_name: Big\n")
	for i := range pages {
		write(fmt.Sprintf("docs/page-%d.md", i), docsPage(i))
	}
	p, err := file.New(filepath.Join(dir, "catalog-info.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	st := testdb.Open(b, testdb.SQLite(b))
	eng := testdb.Engine(b, st)
	if _, err := eng.Refresh(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		write("docs/page-7.md", docsPage(7)+fmt.Sprintf("\nEdit %d.\n", i))
		if _, err := eng.Refresh(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}
