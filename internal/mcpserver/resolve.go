package mcpserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// kindsByPreference are tried, in order, for a bare name in the default namespace.
var kindsByPreference = []string{"component", "api", "resource", "system", "domain", "group", "user"}

// Resolve turns what a person typed into one entity ref: a ref with a kind is taken as it is;
// a bare name ("payments", "team-a") finds the entity of that name in the default namespace
// when there is exactly one, and otherwise fails listing the candidates (or search hits).
func Resolve(ctx context.Context, h http.Handler, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("ref: give an entity ref (kind:namespace/name) or a name")
	}
	if strings.Contains(s, ":") {
		return s, nil
	}
	ns, name := "default", s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		ns, name = s[:i], s[i+1:]
	}
	refs := make([]string, len(kindsByPreference))
	for i, k := range kindsByPreference {
		refs[i] = k + ":" + ns + "/" + name
	}
	var d struct {
		Entities struct {
			Edges []struct{ Node struct{ Ref string } }
		}
	}
	if err := gql(ctx, h, `query($r: [String!]) { entities(filter: {ref: $r}, first: 10) { edges { node { ref } } } }`,
		map[string]any{"r": refs}, &d); err != nil {
		return "", err
	}
	var found []string
	for _, e := range d.Entities.Edges {
		found = append(found, e.Node.Ref)
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		var sd struct {
			Search struct {
				Edges []struct {
					Node struct{ Entity *struct{ Ref string } }
				}
			}
		}
		_ = gql(ctx, h, `query($q: String!) { search(query: $q, first: 5) { edges { node { entity { ref } } } } }`, map[string]any{"q": name}, &sd)
		var hits []string
		for _, e := range sd.Search.Edges {
			if e.Node.Entity != nil {
				hits = append(hits, e.Node.Entity.Ref)
			}
		}
		if len(hits) == 0 {
			return "", fmt.Errorf("NOT_FOUND: no entity named %q", excerpt(s))
		}
		return "", &AmbiguousError{Name: s, Candidates: hits, Found: false}
	}
	return "", &AmbiguousError{Name: s, Candidates: found, Found: true}
}

// AmbiguousError is a bare name that does not name one entity.
type AmbiguousError struct {
	Name       string
	Candidates []string
	Found      bool // the candidates hold the name exactly (else they are search hits)
}

func (e *AmbiguousError) Error() string {
	if e.Found {
		return fmt.Sprintf("ref: %q names %d entities; say which: %s", excerpt(e.Name), len(e.Candidates), strings.Join(e.Candidates, ", "))
	}
	return fmt.Sprintf("NOT_FOUND: no entity named %q; did you mean: %s", excerpt(e.Name), strings.Join(e.Candidates, ", "))
}
