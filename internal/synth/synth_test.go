package synth

import (
	"bufio"
	"bytes"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func write(t testing.TB, n int, seed int64) (string, Stats) {
	t.Helper()
	dir := t.TempDir()
	st, err := Write(dir, Config{N: n, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return dir, st
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestDeterministic(t *testing.T) {
	dirA, stA := write(t, 10000, 7)
	dirB, stB := write(t, 10000, 7)
	a, b := readTree(t, dirA), readTree(t, dirB)
	if len(a) != len(b) || len(a) != stA.Files {
		t.Fatalf("file counts differ: %d, %d, Stats.Files=%d", len(a), len(b), stA.Files)
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Fatalf("%s differs between two writes with the same Config", name)
		}
	}
	if stA.DeclaredRelations != stB.DeclaredRelations || stA.HotDependents != stB.HotDependents {
		t.Fatalf("stats differ: %+v vs %+v", stA, stB)
	}
	dirC, _ := write(t, 10000, 8)
	c := readTree(t, dirC)
	if bytes.Equal(a[filepath.Join("components", "components-001.yaml")], c[filepath.Join("components", "components-001.yaml")]) {
		t.Fatal("a different seed produced the same components")
	}
}

// TestHubsKeepTheRest: hubs are deterministic too, and add to the catalog without changing
// its other entities: the kinds that cannot depend on a hub are written as without hubs.
func TestHubsKeepTheRest(t *testing.T) {
	var trees [3]map[string][]byte
	for k, hubs := range []bool{true, true, false} {
		dir := t.TempDir()
		if _, err := Write(dir, Config{N: 5000, Seed: 7, Hubs: hubs}); err != nil {
			t.Fatal(err)
		}
		trees[k] = readTree(t, dir)
	}
	for name, data := range trees[0] {
		if !bytes.Equal(data, trees[1][name]) {
			t.Fatalf("%s differs between two writes with the same Config", name)
		}
		kind := filepath.Dir(name)
		if kind == "resources" || kind == "components" || name == "catalog-info.yaml" {
			continue
		}
		if !bytes.Equal(data, trees[2][name]) {
			t.Errorf("%s differs with and without hubs", name)
		}
	}
	if len(trees[0]) != len(trees[2]) {
		t.Errorf("%d files with hubs, %d without", len(trees[0]), len(trees[2]))
	}
}

func TestTooSmall(t *testing.T) {
	if _, err := Write(t.TempDir(), Config{N: 10}); err == nil {
		t.Fatal("expected an error for N=10")
	}
}

// scanned is the catalog as read back from the written files by a small
// line-oriented reader of the generator's own output format.
type scanned struct {
	entities map[string]string // ref → kind
	kinds    map[string]int
	edges    [][3]string // from, field, to
	docs     map[string]int
}

var (
	nameRe = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	tagRe  = regexp.MustCompile(`^[a-z0-9:+#]+(\-[a-z0-9:+#]+)*$`)
)

// Default kinds of the relation fields, as in Backstage; dependsOn has none.
var refFields = map[string]string{
	"owner": "group", "system": "system", "domain": "domain", "subdomainOf": "domain",
	"subcomponentOf": "component", "dependsOn": "", "providesApis": "api",
	"consumesApis": "api", "parent": "group", "children": "group", "memberOf": "group",
}

func parseRef(t *testing.T, s, defKind string) string {
	kind, rest := defKind, s
	if i := strings.Index(s, ":"); i >= 0 {
		kind, rest = s[:i], s[i+1:]
	}
	if kind == "" {
		t.Fatalf("ref %q needs a kind", s)
	}
	if !strings.Contains(rest, "/") {
		rest = "default/" + rest
	}
	return strings.ToLower(kind) + ":" + rest
}

func scan(t *testing.T, dir string) *scanned {
	t.Helper()
	sc := &scanned{entities: map[string]string{}, kinds: map[string]int{}, docs: map[string]int{}}
	root, err := os.ReadFile(filepath.Join(dir, "catalog-info.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"catalog-info.yaml"}
	for _, l := range strings.Split(string(root), "\n") {
		if strings.HasPrefix(l, "    - ./") {
			files = append(files, strings.TrimPrefix(l, "    - ./"))
		}
	}
	for _, f := range files {
		fh, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		var kind, name, field, section string
		var pending [][2]string // field, value
		flush := func() {
			if kind == "" {
				return
			}
			if len(name) > 63 || !nameRe.MatchString(name) {
				t.Fatalf("%s: bad name %q", f, name)
			}
			ref := strings.ToLower(kind) + ":default/" + name
			if _, dup := sc.entities[ref]; dup {
				t.Fatalf("duplicate entity %s", ref)
			}
			sc.entities[ref] = kind
			sc.kinds[kind]++
			sc.docs[f]++
			for _, p := range pending {
				sc.edges = append(sc.edges, [3]string{ref, p[0], parseRef(t, p[1], refFields[p[0]])})
			}
			kind, name, pending = "", "", nil
		}
		s := bufio.NewScanner(fh)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			l := s.Text()
			switch {
			case l == "---":
				flush()
			case strings.HasPrefix(l, "kind: "):
				kind = strings.TrimPrefix(l, "kind: ")
			case l == "metadata:" || l == "spec:":
				section = l
			case section == "metadata:" && strings.HasPrefix(l, "  name: "):
				name = strings.TrimPrefix(l, "  name: ")
			case section == "metadata:" && strings.HasPrefix(l, "  tags:"):
				field = "tags"
			case strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   "):
				k, v, _ := strings.Cut(strings.TrimSpace(l), ":")
				v = strings.TrimSpace(v)
				field = ""
				if _, ok := refFields[k]; ok && section == "spec:" {
					field = k
					if v != "" && v != "[]" {
						pending = append(pending, [2]string{k, v})
					}
				}
			case strings.HasPrefix(l, "    - ") && field != "":
				v := strings.TrimPrefix(l, "    - ")
				if field == "tags" {
					if !tagRe.MatchString(v) {
						t.Fatalf("%s: bad tag %q", f, v)
					}
				} else {
					pending = append(pending, [2]string{field, v})
				}
			}
		}
		flush()
		fh.Close()
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return sc
}

func TestCatalogShape(t *testing.T) {
	const n = 20000
	dir, st := write(t, n, 1)
	sc := scan(t, dir)

	if math.Abs(float64(st.Entities-n)) > 0.01*n || len(sc.entities) != st.Entities {
		t.Fatalf("entities: Stats %d, read back %d, want %d ±1%%", st.Entities, len(sc.entities), n)
	}
	want := map[string]float64{
		"Domain": 0.002, "System": 0.02, "Group": 0.02, "User": 0.15,
		"Component": 0.50, "API": 0.15, "Resource": 0.15,
	}
	for kind, share := range want {
		got := sc.kinds[kind]
		if got != st.ByKind[kind] || math.Abs(float64(got)-share*n) > 0.05*share*n+2 {
			t.Errorf("%s: read back %d, Stats %d, want about %.0f", kind, got, st.ByKind[kind], share*n)
		}
	}
	for f, docs := range sc.docs {
		if docs > entityFile {
			t.Errorf("%s holds %d entities", f, docs)
		}
	}

	// Every ref resolves, except the deliberate dangling ones (~0.1%).
	dangling, oneWay := 0, 0
	for _, e := range sc.edges {
		if _, ok := sc.entities[e[2]]; !ok {
			dangling++
			if !strings.Contains(e[2], "/retired-") {
				t.Errorf("unexpected dangling ref %s → %s (%s)", e[0], e[2], e[1])
			}
		}
		if e[1] != "children" {
			oneWay++
		}
	}
	if dangling != st.DanglingRefs || dangling == 0 || dangling > n/500 {
		t.Errorf("dangling refs: %d, Stats %d", dangling, st.DanglingRefs)
	}
	if oneWay != st.DeclaredRelations {
		t.Errorf("declared relations: read back %d, Stats %d", oneWay, st.DeclaredRelations)
	}
}

func TestRelationsPerEntity(t *testing.T) {
	c, err := generate(Config{N: 10000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r, e := c.relations(), c.entities(); r < 3*e {
		t.Fatalf("%d declared relations for %d entities, want ≥ 3 per entity", r, e)
	}
}

func TestHotAndColdResource(t *testing.T) {
	dir := t.TempDir()
	st, err := Write(dir, Config{N: 10000, Seed: 1, Hubs: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.HotResource != "resource:default/shared-postgres" || st.ColdResource == "" {
		t.Fatalf("hot %q cold %q", st.HotResource, st.ColdResource)
	}
	// Recompute the dependents from the written files.
	sc := scan(t, dir)
	up := map[string][]string{}
	for _, e := range sc.edges {
		switch e[1] {
		case "dependsOn", "consumesApis":
			up[e[2]] = append(up[e[2]], e[0])
		case "providesApis":
			up[e[0]] = append(up[e[0]], e[2])
		}
	}
	bfs := func(start string) (int, int) {
		seen := map[string]bool{start: true}
		front, depth := []string{start}, 0
		for len(front) > 0 {
			var next []string
			for _, x := range front {
				for _, y := range up[x] {
					if !seen[y] {
						seen[y] = true
						next = append(next, y)
					}
				}
			}
			if len(next) > 0 {
				depth++
			}
			front = next
		}
		return len(seen) - 1, depth
	}
	hot, depth := bfs(st.HotResource)
	cold, _ := bfs(st.ColdResource)
	t.Logf("hot %s: %d direct, %d transitive dependents, depth %d; cold %s: %d dependents", st.HotResource, len(up[st.HotResource]), hot, depth, st.ColdResource, cold)
	if hot != st.HotDependents || cold != st.ColdDependents || depth != st.HotDepth {
		t.Errorf("read back hot %d depth %d cold %d, Stats %d %d %d", hot, depth, cold, st.HotDependents, st.HotDepth, st.ColdDependents)
	}
	if hot < 500 {
		t.Errorf("hot resource has %d transitive dependents, want ≥ 500 at N=10,000", hot)
	}
	if direct := len(up[st.HotResource]); direct < 25 {
		t.Errorf("hot resource has %d direct dependents", direct)
	}
	if depth < 5 || depth > 15 {
		t.Errorf("dependency depth %d, want 5–15", depth)
	}
	if cold == 0 || cold >= 100 {
		t.Errorf("cold resource has %d transitive dependents, want 1–99", cold)
	}
	if hot > 4*st.Entities/10 {
		t.Errorf("hot resource reaches %d of %d entities: graph too connected", hot, st.Entities)
	}
	// The hubs: about 6.9 % and 69 % of the entities depend on them, read back from the files.
	for _, h := range []struct {
		ref   string
		stats int
		share float64
	}{{st.IdentityHub, st.IdentityDependents, 0.069}, {st.NetworkHub, st.NetworkDependents, 0.69}} {
		got, _ := bfs(h.ref)
		t.Logf("hub %s: %d direct, %d transitive dependents", h.ref, len(up[h.ref]), got)
		if h.ref == "" || got != h.stats {
			t.Errorf("hub %q: read back %d dependents, Stats %d", h.ref, got, h.stats)
		}
		if want := h.share * float64(st.Entities); math.Abs(float64(got)-want) > 0.01*want {
			t.Errorf("hub %s: %d dependents, want about %.0f", h.ref, got, want)
		}
	}
}

func TestSomeCycles(t *testing.T) {
	c, err := generate(Config{N: 10000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Look for a component that reaches itself via dependsOn/consumesApis→provider.
	next := func(i int) []int {
		var out []int
		for _, d := range c.comps[i].deps {
			if !d.resource {
				out = append(out, d.idx)
			}
		}
		for _, a := range c.comps[i].consumes {
			out = append(out, c.apis[a].provider)
		}
		return out
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(c.comps))
	cycles := 0
	var visit func(int)
	visit = func(i int) {
		color[i] = grey
		for _, j := range next(i) {
			switch color[j] {
			case grey:
				cycles++
			case white:
				visit(j)
			}
		}
		color[i] = black
	}
	for i := range c.comps {
		if color[i] == white {
			visit(i)
		}
	}
	if cycles == 0 || cycles > len(c.comps)/20 {
		t.Errorf("%d back edges among %d components, want some but few", cycles, len(c.comps))
	}
}

func TestSamples(t *testing.T) {
	_, st := write(t, 5000, 1)
	if len(st.SampleComponents) == 0 || len(st.SampleOwners) == 0 {
		t.Fatalf("samples: %d components, %d owners", len(st.SampleComponents), len(st.SampleOwners))
	}
	for _, r := range st.SampleComponents {
		if !strings.HasPrefix(r, "component:default/") {
			t.Fatalf("sample %q", r)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		if _, err := Write(dir, Config{N: 100000, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDenseShape: the dense shape has the mix of kinds and the relation density of the
// catalog measured against Backstage (see ShapeDense), and stays valid (the same checks as
// the default shape's, through scan).
func TestDenseShape(t *testing.T) {
	dir := t.TempDir()
	st, err := Write(dir, Config{N: 20000, Seed: 3, Shape: ShapeDense})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"Component": 0.55, "API": 0.20, "Resource": 0.09, "User": 0.08, "System": 0.05, "Group": 0.02, "Domain": 0.01}
	for kind, share := range want {
		got := float64(st.ByKind[kind]) / float64(st.Entities)
		if got < share-0.005 || got > share+0.005 {
			t.Errorf("%s: %.3f of the entities, want %.2f", kind, got, share)
		}
	}
	// Stored relations: every declared one in both directions.
	if perEntity := 2 * float64(st.DeclaredRelations) / float64(st.Entities); perEntity < 9.2 || perEntity > 9.7 {
		t.Errorf("%.2f stored relations per entity, want about 9.4", perEntity)
	}
	sc := scan(t, dir)
	if len(sc.entities) != st.Entities {
		t.Errorf("read back %d entities, Stats says %d", len(sc.entities), st.Entities)
	}
	if _, err := Write(t.TempDir(), Config{N: 1000, Shape: "sparse"}); err == nil || !strings.Contains(err.Error(), "unknown shape") {
		t.Errorf("an unknown shape: err = %v", err)
	}
}
