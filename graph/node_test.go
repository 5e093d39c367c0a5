package graph_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"catalogd/graph/model"
	"catalogd/internal/testdb"

	"github.com/99designs/gqlgen/client"
)

func TestNodeIDsAreGlobal(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		g := newGraphEnv(t, dbURL)
		g.load(spec{"component:a": "", "component:b": "", "group:team": ""})
		var r struct {
			A, B struct{ ID, Ref string }
		}
		if err := g.c.Post(`{ a: entity(ref: "component:a") { id ref } b: entity(ref: "group:team") { id ref } }`, &r); err != nil {
			t.Fatal(err)
		}
		t.Run("an entity's id is opaque and names its type", func(t *testing.T) {
			raw, err := base64.RawURLEncoding.DecodeString(r.A.ID)
			if err != nil || !strings.HasPrefix(string(raw), "Entity:") {
				t.Errorf("id %q decodes to %q (%v), want Entity:<row id>", r.A.ID, raw, err)
			}
		})
		t.Run("node resolves an entity's id to the entity", func(t *testing.T) {
			var n struct{ Node struct{ Ref, Kind string } }
			if err := g.c.Post(`query($id: ID!) { node(id: $id) { ... on Entity { ref kind } } }`, &n, client.Var("id", r.A.ID)); err != nil {
				t.Fatal(err)
			}
			if n.Node.Ref != "component:default/a" || n.Node.Kind != "Component" {
				t.Errorf("node = %+v", n.Node)
			}
		})
		t.Run("nodes answers in order, null for ids naming nothing", func(t *testing.T) {
			task := model.NodeID(model.NodeScaffolderTask, "00000000-0000-0000-0000-000000000001")
			missing := model.EntityNodeID(1 << 30)
			other := model.NodeID("Unknown", "1")
			var n struct{ Nodes []*struct{ Ref string } }
			if err := g.c.Post(`query($ids: [ID!]!) { nodes(ids: $ids) { ... on Entity { ref } } }`, &n,
				client.Var("ids", []string{r.B.ID, missing, task, other, r.A.ID})); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range n.Nodes {
				if x == nil {
					got = append(got, "null")
				} else {
					got = append(got, x.Ref)
				}
			}
			if want := "group:default/team null null null component:default/a"; strings.Join(got, " ") != want {
				t.Errorf("nodes = %v, want %s", got, want)
			}
		})
		t.Run("a bare row id or garbage is a bad input", func(t *testing.T) {
			for _, id := range []string{"1", "not base64!", base64.RawURLEncoding.EncodeToString([]byte("Entity")), strings.Repeat("A", 300)} {
				got := errText(t, g.c, `{ node(id: "`+id+`") { id } }`)
				if !strings.Contains(got, "BAD_USER_INPUT") || !strings.Contains(got, "not a node ID") {
					t.Errorf("node(id: %.20q): %s, want BAD_USER_INPUT", id, got)
				}
			}
		})
	})
}
