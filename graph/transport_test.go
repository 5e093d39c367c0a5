package graph_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"catalogd/graph"
	"catalogd/internal/gqlbody"
	"catalogd/internal/testdb"
)

// TestPostTransportAnswersAsGqlgens: the POST transport that writes large answers without
// encoding/json's compaction answers every request as gqlgen's transport.POST does: status,
// content type and body, byte for byte, for answers with and without data that compaction
// changes (<, >, &, U+2028, stored JSON documents as each database returns them), errors of
// every stage, and each Accept header.
func TestPostTransportAnswersAsGqlgens(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		g := newGraphEnv(t, dbURL)
		yaml := `apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: db, description: "plain words, spaces: and \"quotes\""}
spec: {type: database, owner: team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc, description: "Fast <b>&amp;</b> \u2028 line – é ✓", annotations: {pagerduty.com/service-id: "P<1>"}, tags: [a, b]}
spec: {type: service, lifecycle: production, owner: team, dependsOn: [resource:db]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: quiet, title: "Quiet one"}
spec: {type: service, lifecycle: production, owner: team, dependsOn: [component:svc]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team}
spec: {type: team, children: []}
`
		if err := os.WriteFile(filepath.Join(g.dir, "catalog.yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if res, err := g.eng.Refresh(context.Background(), g.p); err != nil || res.Errors > 0 {
			t.Fatalf("ingest: %+v %v", res, err)
		}
		ours := httptest.NewServer(graph.NewHandler(g.r, graph.Options{}))
		defer ours.Close()
		gqlgens := httptest.NewServer(graph.NewHandler(g.r, graph.Options{Generic: true}))
		defer gqlgens.Close()
		type request struct{ name, contentType, accept, body string }
		var large strings.Builder // an answer longer than net/http's buffer, so its length is ours to announce
		for i := range 40 {
			fmt.Fprintf(&large, `e%d: entity(ref:\"component:svc\"){ ref kind apiVersion metadata spec relations { type targetRef } } `, i)
		}
		for _, rq := range []request{
			{"large answer", "application/json", "", `{"query":"{ ` + large.String() + `}"}`},
			{"impact", "application/json", "", `{"query":"query($ref:String!){ impact(ref:$ref){ totalAffected affected{ ref depth path } } }","variables":{"ref":"resource:db"}}`},
			{"whole entity", "application/json", "", `{"query":"{ entity(ref:\"component:svc\"){ ref kind apiVersion metadata spec relations { type targetRef } } }"}`},
			{"entity without special characters", "application/json", "", `{"query":"{ entity(ref:\"resource:db\"){ ref metadata spec } }"}`},
			{"titles", "application/json", "application/json", `{"query":"{ entities(first: 10){ edges { node { ref title description } } } }"}`},
			{"contacts", "application/json", "", `{"query":"{ impact(ref:\"resource:db\"){ affected{ ref contacts{ type value } } } }"}`},
			{"not found", "application/json", "", `{"query":"{ impact(ref:\"resource:nope\"){ totalAffected } }"}`},
			{"bad ref with <>", "application/json", "", `{"query":"{ impact(ref:\"<x>\"){ totalAffected } }"}`},
			{"validation error", "application/json", "", `{"query":"{ impact(ref:\"resource:db\"){ nope } }"}`},
			{"validation error, graphql-response", "application/json", "application/graphql-response+json", `{"query":"{ nope }"}`},
			{"parse error", "application/json", "*/*", `{"query":"{ impact("}`},
			{"accept html", "application/json", "text/html", `{"query":"{ __typename }"}`},
			{"accept several", "application/json", "text/html, application/graphql-response+json;q=0.9, application/json", `{"query":"{ __typename }"}`},
			{"unknown operation", "application/json", "", `{"query":"query A { __typename }","operationName":"B"}`},
			{"variables of the wrong type", "application/json", "", `{"query":"query($ref:String!){ impact(ref:$ref){ totalAffected } }","variables":{"ref":3}}`},
			{"json charset", "application/json; charset=utf-8", "", `{"query":"{ __typename }"}`},
		} {
			answer := func(url string) (int, string, string, int64) {
				req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(rq.body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", rq.contentType)
				if rq.accept != "" {
					req.Header.Set("Accept", rq.accept)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				return resp.StatusCode, resp.Header.Get("Content-Type"), string(b), resp.ContentLength
			}
			s1, c1, b1, n1 := answer(ours.URL)
			s2, c2, b2, _ := answer(gqlgens.URL)
			if s1 != s2 || c1 != c2 || b1 != b2 {
				t.Errorf("%s: answered %d %s\n%s\ngqlgen's POST answers %d %s\n%s", rq.name, s1, c1, b1, s2, c2, b2)
			}
			// The answer's length is announced, the second time (from the answer cache) too.
			_, _, b3, n3 := answer(ours.URL)
			if s1 == http.StatusOK && (n1 != int64(len(b1)) || n3 != int64(len(b3)) || b3 != b1) {
				t.Errorf("%s: Content-Length %d for %d bytes, then %d for %d bytes", rq.name, n1, len(b1), n3, len(b3))
			}
		}
		// A body that is not JSON: the same status as gqlgen's, but the error quotes the
		// body's beginning, not all of it as gqlgen's does.
		for _, body := range []string{``, `{"query": `, `{"query": "` + strings.Repeat("x", 20000)} {
			resp, err := http.Post(ours.URL, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "could not be decoded") || len(b) > 300 {
				t.Errorf("a body of %d bytes that is not JSON: %d, %d bytes: %.300s", len(body), resp.StatusCode, len(b), b)
			}
		}
	})
}

// TestPostTransportTakesTheDecodedRequest: the POST transport answers the request the door
// decoded (internal/gqlbody, in the request's context) instead of reading and decoding the
// body a second time.
func TestPostTransportTakesTheDecodedRequest(t *testing.T) {
	g := newGraphEnv(t, testdb.SQLite(t))
	h := graph.NewHandler(g.r, graph.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, problem := gqlbody.Decode([]byte(`{"query": "query Q($ref: String!){ entity(ref: $ref){ ref } __typename }", "variables": {"ref": "component:none"}}`))
		if problem != "" {
			t.Error(problem)
		}
		h.ServeHTTP(w, r.WithContext(gqlbody.With(r.Context(), gqlbody.Request{Params: p})))
	}))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`not the request: the door decoded it`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := `{"data":{"entity":null,"__typename":"Query"}}`; resp.StatusCode != http.StatusOK || string(body) != want {
		t.Fatalf("%d %s; want 200 %s", resp.StatusCode, body, want)
	}
}
