package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/client"
	"github.com/99designs/gqlgen/graphql"

	"catalogd/graph"
	"catalogd/graph/model"
	"catalogd/internal/ingest/file"
	"catalogd/internal/synth"
	"catalogd/internal/testdb"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of the answer tests")

// impactShape is one query of the answer test: a name, the query, and its variables.
type impactShape struct {
	name, query string
	vars        map[string]any
}

// impactShapes are the shapes of impact, dependencies and path questions whose answers must
// not change, byte for byte: the fields of affected in every order, aliased, repeated, through
// named and inline fragments, under @include and @skip, with __typename; pages and cursors;
// entities and contacts; owners, escalation, systems and domains; errors of bad arguments.
func impactShapes(st synth.Stats) []impactShape {
	hot, cold, comp := st.HotResource, st.ColdResource, st.SampleComponents[0]
	v := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	q := `query($ref:String!){ impact(ref:$ref){ totalAffected affected{ ref depth path } } }`
	return []impactShape{
		{"largest hot", q, v("ref", hot)},
		{"largest cold", q, v("ref", cold)},
		{"largest component", q, v("ref", comp)},
		{"dependencies", `query($ref:String!){ dependencies(ref:$ref){ totalAffected affected{ ref depth path } } }`, v("ref", comp)},
		{"loadgen impact", `query($ref:String!){ impact(ref:$ref){ totalAffected affected{ ref depth } owners{ ref entityRefs } } }`, v("ref", hot)},
		{"loadgen dependencies", `query($ref:String!){ dependencies(ref:$ref){ totalAffected affected{ ref depth } owners{ ref entityRefs } } }`, v("ref", comp)},
		{"field order and cursor", `query($ref:String!){ impact(ref:$ref){ affected(first: 40){ path cursor depth ref __typename } totalAffected __typename } }`, v("ref", hot)},
		{"aliases and repeats", `query($ref:String!){ i: impact(ref:$ref){ n: totalAffected a: affected(first: 7){ r: ref d: depth p: path ref ref path x: depth } b: affected(first: 3, after: "` + model.Cursor("component:default/invoicing-dispute-exporter") + `"){ ref } } }`, v("ref", hot)},
		{"root as cursor", `query($ref:String!){ impact(ref:$ref){ affected(first: 3, after: "` + model.Cursor(hot) + `"){ ref } } }`, v("ref", hot)},
		{"page after", `query($ref:String!, $after:String){ impact(ref:$ref){ affected(first: 5, after: $after){ ref depth path cursor } } }`, v("ref", hot, "after", model.Cursor("api:default/invoicing-dispute-exporter-api"))},
		{"named and inline fragments", `query($ref:String!){ impact(ref:$ref){ ...I } } fragment I on Impact { totalAffected affected(first: 30){ ...E ... on ImpactedEntity { depth t: __typename } } } fragment E on ImpactedEntity { ref path }`, v("ref", hot)},
		{"include and skip", `query($ref:String!, $yes:Boolean!, $no:Boolean!){ impact(ref:$ref){ affected(first: 20){ ref @include(if: $yes) depth @skip(if: $yes) path @include(if: $no) ... on ImpactedEntity @skip(if: $no) { cursor } ... @include(if: $no) { __typename } } } }`, v("ref", hot, "yes", true, "no", false)},
		{"empty selection by skip", `query($ref:String!){ impact(ref:$ref){ affected(first: 3){ ref @skip(if: true) } totalAffected } }`, v("ref", hot)},
		{"first zero", `query($ref:String!){ impact(ref:$ref){ affected(first: 0){ ref } } }`, v("ref", hot)},
		{"max depth", `query($ref:String!){ a: impact(ref:$ref, maxDepth: 1){ totalAffected affected{ ref depth path } } b: impact(ref:$ref, maxDepth: 0){ totalAffected affected{ ref } } }`, v("ref", hot)},
		{"entities and contacts", `query($ref:String!){ impact(ref:$ref){ root{ ref kind } rootContacts{ type value } affected(first: 60){ ref depth entity{ ref kind name } contacts{ type value } } } }`, v("ref", hot)},
		{"entities and paths mixed", `query($ref:String!){ impact(ref:$ref){ affected(first: 25){ path entity{ ref } ref } } }`, v("ref", comp)},
		{"owners systems domains", `query($ref:String!){ impact(ref:$ref){ totalOwners totalSystems totalDomains owners(first: 20){ ref cursor entityCount entityRefs(first: 4) owner{ ref kind } escalation{ ref entity{ ref } contacts{ type value } } contacts{ type value } } systems{ ref cursor entityCount entityRefs(first: 3) entity{ ref } } domains{ ref entityCount entityRefs } } }`, v("ref", hot)},
		{"root only with affected refs", `query($ref:String!){ impact(ref:$ref){ root{ ref } affected(first: 10){ ref } } }`, v("ref", hot)},
		{"path", `query($a:String!, $b:String!){ path(from: $a, to: $b){ refs entities{ ref } } }`, v("a", comp, "b", "resource:default/case-accounts-cache")},
		{"path with max depth", `query($a:String!, $b:String!){ path(from: $a, to: $b, maxDepth: 0){ refs } }`, v("a", comp, "b", "resource:default/case-accounts-cache")},
		{"dependencies entities", `query($ref:String!){ dependencies(ref:$ref){ totalAffected affected{ ref path entity{ ref } contacts{ value } } owners{ ref entityCount } systems{ ref } } }`, v("ref", "component:default/acquiring-account-gateway")},
		{"bad cursor", `query($ref:String!){ impact(ref:$ref){ totalAffected affected(after: "nope"){ ref } } }`, v("ref", hot)},
		{"cursor of no item", `query($ref:String!){ impact(ref:$ref){ affected(after: "` + model.Cursor(hot+"x") + `"){ ref } } }`, v("ref", hot)},
		{"first too large", `query($ref:String!){ impact(ref:$ref){ affected(first: 10001){ ref } } }`, v("ref", hot)},
		{"no such entity", `query($ref:String!){ impact(ref:$ref){ affected{ ref } } }`, v("ref", "resource:default/no-such-thing")},
		{"bad ref", `query($ref:String!){ dependencies(ref:$ref){ affected{ ref } } }`, v("ref", "::")},
	}
}

// TestImpactAnswersStayTheSame compares the answers of impactShapes, byte for byte as they
// come over HTTP, with the golden file written from the code before the impact answers were
// marshalled from the index (go test ./graph -run TestImpactAnswersStayTheSame -update
// rewrites it, from SQLite), on both databases.
func TestImpactAnswersStayTheSame(t *testing.T) {
	dir := t.TempDir()
	st, err := synth.Write(dir, synth.Config{N: 1500, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "impact_answers.golden")
	testdb.Each(t, func(t *testing.T, dbURL string) {
		store := testdb.Open(t, dbURL)
		p, err := file.New(st.Root)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := testdb.Engine(t, store).Refresh(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		r := graph.NewResolver(store.Client, store, []string{"pagerduty.com/service-id"})
		if _, err := r.Index.Fresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Twice each: the second time, the walks and pages come from the snapshot's cache.
		for _, generic := range []bool{false, false, true, true} {
			t.Run(fmt.Sprintf("Generic=%v", generic), func(t *testing.T) {
				compareAnswers(t, graph.NewHandler(r, graph.Options{Generic: generic}), impactShapes(st), golden,
					*updateGolden && !generic && strings.HasPrefix(dbURL, "sqlite"))
			})
		}
	})
}

// compareAnswers posts each shape to the handler over HTTP and compares the answers with the
// golden file (or writes it).
func compareAnswers(t *testing.T, h http.Handler, shapes []impactShape, golden string, update bool) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	var got bytes.Buffer
	for _, s := range shapes {
		body, _ := json.Marshal(map[string]any{"query": s.query, "variables": s.vars})
		resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&got, "== %s (status %d)\n%s\n", s.name, resp.StatusCode, b)
	}
	if update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		gs, ws := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gs), len(ws)) {
			if gs[i] != ws[i] {
				t.Fatalf("answers differ from %s at line %d:\ngot  %.600s\nwant %.600s", golden, i+1, gs[i], ws[i])
			}
		}
		t.Fatalf("answers differ from %s: %d lines, want %d", golden, len(gs), len(ws))
	}
}

// fieldCounter is a gqlgen extension that counts the fields of one object type it sees resolved.
type fieldCounter struct {
	object string
	n      *atomic.Int64
}

func (fieldCounter) ExtensionName() string                   { return "fieldCounter" }
func (fieldCounter) Validate(graphql.ExecutableSchema) error { return nil }
func (c fieldCounter) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Object == c.object {
		c.n.Add(1)
	}
	return next(ctx)
}

// TestAffectedIsWrittenDirectly: a page of affected entities whose selection the direct writer
// knows does not go through the generated executor's fields of ImpactedEntity (so this fails
// the day gqlgen stops taking the middleware's marshaller as the field's answer), one that
// selects entities does, and Generic turns the direct writer off.
func TestAffectedIsWrittenDirectly(t *testing.T) {
	st, err := synth.Write(t.TempDir(), synth.Config{N: 300, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	store := testdb.Open(t, testdb.SQLite(t))
	p, err := file.New(st.Root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testdb.Engine(t, store).Refresh(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	r := graph.NewResolver(store.Client, store, nil)
	// Something with dependencies: the last entity the hot resource's impact reaches.
	var last struct {
		Impact struct{ Affected []struct{ Ref string } }
	}
	if err := client.New(graph.NewHandler(r, graph.Options{})).Post(`query($ref:String!){ impact(ref:$ref){ affected{ ref } } }`, &last, client.Var("ref", st.HotResource)); err != nil {
		t.Fatal(err)
	}
	deep := last.Impact.Affected[len(last.Impact.Affected)-1].Ref
	for _, tc := range []struct {
		query   string
		generic bool
		direct  bool
	}{
		{`query($ref:String!){ impact(ref:$ref){ totalAffected affected{ ref depth path } } }`, false, true},
		{`query($ref:String!){ impact(ref:$ref){ affected{ ... on ImpactedEntity { c: cursor __typename } } } }`, false, true},
		{`query($ref:String!){ dependencies(ref:$ref){ affected{ ref path } } }`, false, true},
		{`query($ref:String!){ impact(ref:$ref){ affected{ ref entity { ref } } } }`, false, false},
		{`query($ref:String!){ impact(ref:$ref){ affected{ ref contacts { value } } } }`, false, false},
		{`query($ref:String!){ impact(ref:$ref){ totalAffected affected{ ref depth path } } }`, true, false},
	} {
		var n atomic.Int64
		c := client.New(graph.NewHandler(r, graph.Options{Generic: tc.generic, Extensions: []graphql.HandlerExtension{fieldCounter{"ImpactedEntity", &n}}}))
		var resp map[string]struct {
			TotalAffected int
			Affected      []any
		}
		ref := st.HotResource
		if strings.Contains(tc.query, "dependencies") {
			ref = deep
		}
		if err := c.Post(tc.query, &resp, client.Var("ref", ref)); err != nil {
			t.Fatal(err)
		}
		for _, v := range resp {
			if len(v.Affected) == 0 {
				t.Fatalf("%s: nothing affected", tc.query)
			}
		}
		if direct := n.Load() == 0; direct != tc.direct {
			t.Errorf("%s (Generic %v): %d fields of ImpactedEntity resolved by the executor; written directly = %v, want %v", tc.query, tc.generic, n.Load(), direct, tc.direct)
		}
	}
}
