package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"catalogd/ent"
	"catalogd/ent/entity"
	"catalogd/ent/processingerror"
	"catalogd/internal/ingest"
	"catalogd/internal/ingest/file"
	"catalogd/internal/reading"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

type env struct {
	t   *testing.T
	st  *store.Store
	eng *ingest.Engine
	dir string
}

func newEnv(t *testing.T, dbURL string) *env {
	t.Helper()
	st := testdb.Open(t, dbURL)
	return &env{t: t, st: st, eng: testdb.Engine(t, st), dir: t.TempDir()}
}

// write creates files under the env's directory (and removes those whose content is "").
func (e *env) write(files map[string]string) {
	e.t.Helper()
	for name, content := range files {
		p := filepath.Join(e.dir, name)
		if content == "" {
			os.Remove(p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) provider(name string) *file.Provider {
	e.t.Helper()
	p, err := file.New(filepath.Join(e.dir, name))
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// refresh ingests one location and fails the test on an apply error (not on a read failure).
func (e *env) refresh(name string) store.ApplyResult {
	e.t.Helper()
	res, err := e.eng.Refresh(context.Background(), e.provider(name))
	if err != nil && res == (store.ApplyResult{}) && !strings.Contains(err.Error(), "read ") {
		e.t.Fatalf("refresh %s: %v", name, err)
	}
	return res
}

func (e *env) refs() []string {
	e.t.Helper()
	refs, err := e.st.Client.Entity.Query().Order(ent.Asc("ref")).Select("ref").Strings(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return refs
}

func (e *env) entity(ref string) *ent.Entity {
	e.t.Helper()
	row, err := e.st.Client.Entity.Query().Where(entity.Ref(ref)).Only(context.Background())
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return row
}

// relations returns the relations shown on existing entities: "source type target" lines,
// sorted and distinct, as Backstage shows them.
func (e *env) relations() []string {
	e.t.Helper()
	rows, err := e.st.DB.Query(`SELECT DISTINCT source_ref, type, target_ref FROM relations
		WHERE source_ref IN (SELECT ref FROM entities)`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s, ty, tg string
		if err := rows.Scan(&s, &ty, &tg); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s+" "+ty+" "+tg)
	}
	sort.Strings(out)
	return out
}

// errors returns the processing errors as "file#doc ref path: message" lines, file relative to dir.
func (e *env) errors() []string {
	e.t.Helper()
	rows, err := e.st.Client.ProcessingError.Query().Order(processingerror.ByID()).All(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		src := strings.TrimPrefix(r.Source, "file:"+filepath.ToSlash(e.dir)+"/")
		out = append(out, strings.TrimSpace(src+"#"+strconv.Itoa(r.Document)+" "+r.EntityRef+" "+r.Message))
	}
	return out
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// diff reports the lines only in want and only in got.
func diff(t *testing.T, what string, want, got []string) {
	t.Helper()
	w, g := map[string]bool{}, map[string]bool{}
	for _, l := range want {
		w[l] = true
	}
	for _, l := range got {
		g[l] = true
	}
	var missing, extra []string
	for _, l := range want {
		if !g[l] {
			missing = append(missing, l)
		}
	}
	for _, l := range got {
		if !w[l] {
			extra = append(extra, l)
		}
	}
	if len(missing) > 0 || len(extra) > 0 || len(want) != len(got) {
		t.Errorf("%s differ (want %d, got %d)\nmissing:\n  %s\nunexpected:\n  %s", what, len(want), len(got),
			strings.Join(missing, "\n  "), strings.Join(extra, "\n  "))
	}
}

// urlReader returns a URL reader that admits the given allow entries.
func urlReader(t *testing.T, allow ...string) *reading.Reader {
	t.Helper()
	list, err := reading.ParseAllowList(allow)
	if err != nil {
		t.Fatal(err)
	}
	return reading.New(reading.Options{Allow: list})
}
