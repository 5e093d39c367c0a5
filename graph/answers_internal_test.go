package graph

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"catalogd/graph/generated"
)

// The fields the answer cache answers, every one of them. A field added to the schema lands
// here or in volatileTypes / volatileFields by a decision: the test fails until this list is
// rewritten (go test ./graph -run TestTheFieldsTheCacheAnswers -update) and the diff is read.
func TestTheFieldsTheCacheAnswers(t *testing.T) {
	s := generated.NewExecutableSchema(generated.Config{}).Schema()
	var lines []string
	for name, d := range s.Types {
		if d.BuiltIn || (d.Kind != ast.Object && d.Kind != ast.Interface) {
			continue
		}
		for _, f := range d.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if fieldCacheable(name, f.Name, f.Type.Name()) {
				lines = append(lines, name+"."+f.Name)
			}
		}
	}
	// Input fields too: one that makes its field read what changes without the generation
	// moving belongs in volatileInputs.
	for name, d := range s.Types {
		if d.BuiltIn || d.Kind != ast.InputObject {
			continue
		}
		for _, f := range d.Fields {
			if !volatileInputs[name+"."+f.Name] {
				lines = append(lines, "input "+name+"."+f.Name)
			}
		}
	}
	sort.Strings(lines)
	got := strings.Join(lines, "\n") + "\n"
	path := filepath.Join("testdata", "answer_cache_fields.golden")
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("the fields the answer cache answers changed: classify the new fields in answers.go (volatileTypes, volatileFields), then rewrite %s with -update and read its diff", path)
	}
}

func TestWhichOperationsAreCacheable(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	vars := map[string]any{"f": map[string]any{"kind": []any{"Component"}, "notObservedSince": "2026-01-01T00:00:00Z"}, "g": map[string]any{"kind": []any{"Component"}}}
	for q, want := range map[string]bool{
		`{ entity(ref: "a") { ref title } }`: true,
		`{ __typename }`:                     true,
		`{ __schema { types { name } } }`:    true,
		`{ entity(ref: "a") { ...F } } fragment F on Component { ref owner { ref } }`:         true,
		`{ entity(ref: "a") { ...F } } fragment F on Entity { processingErrors { message } }`: false,
		`{ entity(ref: "a") { ... on Component { freshness { lastObservedAt } } } }`:          false,
		`{ viewer { name } }`:      false,
		`{ tasks { totalCount } }`: false,
		`{ node(id: "x") { id } }`: false,
		`{ impact(ref: "a") { totalAffected owners { ref contacts { value } } } }`:           true,
		`{ search(query: "x") { totalCount } facets(fields: ["kind"]) { field } }`:           true,
		`{ entity(ref: "a") { ref ... @defer { title } } }`:                                  false,
		`mutation { refreshEntity(ref: "a") }`:                                               false,
		`subscription { catalogChanged { type } }`:                                           false,
		`{ entities(filter: {notObservedSince: "2026-01-01T00:00:00Z"}) { totalCount } }`:    false,
		`{ entities(filter: {kind: ["Component"], notObservedSince: null}) { totalCount } }`: true,
		`query($f: EntityFilter) { entities(filter: $f) { totalCount } }`:                    false,
		`query($g: EntityFilter) { entities(filter: $g) { totalCount } }`:                    true,
		`query($f: EntityFilter) { facets(fields: ["kind"], filter: $f) { field } }`:         false,
	} {
		doc, errs := gqlparser.LoadQuery(schema, q)
		if errs != nil {
			t.Fatalf("%s: %v", q, errs)
		}
		if got := cacheable(schema, doc, doc.Operations[0], vars); got != want {
			t.Errorf("%s: cacheable %v, want %v", q, got, want)
		}
	}
}

// The cache keeps what its bound allows, dropping the least recently used answers first, and
// starts over for a new generation.
func TestTheAnswerCacheIsBoundedAndLeastRecentlyUsedGoesFirst(t *testing.T) {
	answer := func(n int) *graphql.Response {
		return &graphql.Response{Data: json.RawMessage(`"` + strings.Repeat("x", n) + `"`)}
	}
	key := func(i byte) (k [32]byte) { k[0] = i; return k }
	maxBytes := 8 * (1000 + answerOverhead + 2)
	c := newAnswerCache(maxBytes)
	for i := range byte(8) {
		c.put(1, key(i), answer(1000))
	}
	c.get(1, key(0)) // used: the least recently used is now 1
	c.put(1, key(8), answer(1000))
	if c.get(1, key(1)) != nil || c.get(1, key(0)) == nil || c.get(1, key(8)) == nil {
		t.Error("the least recently used answer was not the one dropped")
	}
	if c.kept.Bytes() > maxBytes {
		t.Errorf("%d bytes kept, bound %d", c.kept.Bytes(), maxBytes)
	}
	c.put(1, key(9), answer(maxBytes/4)) // larger than a quarter: never kept
	if c.get(1, key(9)) != nil {
		t.Error("an answer larger than a quarter of the cache was kept")
	}
	c.put(1, key(10), answer(maxBytes/4-answerOverhead-2)) // a quarter: kept
	if c.get(1, key(10)) == nil {
		t.Error("an answer of a quarter of the cache was not kept")
	}
	if c.get(2, key(0)) != nil {
		t.Error("an answer of generation 1 was given for generation 2")
	}
	c.put(2, key(0), answer(10))
	if c.get(1, key(8)) != nil || c.kept.Bytes() != 10+2+answerOverhead {
		t.Errorf("a new generation did not start over: %d bytes", c.kept.Bytes())
	}
	c.put(1, key(5), answer(10)) // computed before generation 2 was seen
	if c.get(2, key(5)) != nil || c.get(1, key(5)) != nil {
		t.Error("an answer of an older generation was kept")
	}
}
