package catalog

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

// entityOf builds an entity the way ingestion does: from a document, through EntityFromDocument.
func entityOf(t *testing.T, kind, namespace, name, specYAML string) *Entity {
	t.Helper()
	meta := map[string]any{"name": name}
	if namespace != "" {
		meta["namespace"] = namespace
	}
	doc := map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": meta}
	if specYAML != "" {
		doc["spec"] = yamlValue(t, specYAML)
	}
	e, err := EntityFromDocument(doc)
	if err != nil {
		t.Fatalf("EntityFromDocument: %v", err)
	}
	return e
}

func rel(source, typ, target string) Relation {
	return Relation{Source: source, Type: typ, Target: target}
}

func describeRelations(rs []Relation) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString("  " + r.Source + " " + r.Type + " " + r.Target + "\n")
	}
	return b.String()
}

func TestDeriveRelationsForEveryKindAndField(t *testing.T) {
	const web = "component:default/artist-web"
	cases := []struct {
		name      string
		kind      string
		namespace string
		entity    string
		spec      string
		want      []Relation
	}{
		// Component.
		{
			name: "a Component owner without a kind is a Group", kind: "Component", entity: "artist-web",
			spec: "{owner: team-a}",
			want: []Relation{rel(web, RelOwnedBy, "group:default/team-a"), rel("group:default/team-a", RelOwnerOf, web)},
		},
		{
			name: "a Component owner may name a User in another namespace", kind: "Component", entity: "artist-web",
			spec: "{owner: 'user:people/jdoe'}",
			want: []Relation{rel(web, RelOwnedBy, "user:people/jdoe"), rel("user:people/jdoe", RelOwnerOf, web)},
		},
		{
			name: "a Component system without a kind is a System", kind: "Component", entity: "artist-web",
			spec: "{system: portal}",
			want: []Relation{rel(web, RelPartOf, "system:default/portal"), rel("system:default/portal", RelHasPart, web)},
		},
		{
			name: "a Component subcomponentOf without a kind is a Component", kind: "Component", entity: "artist-web",
			spec: "{subcomponentOf: artist-app}",
			want: []Relation{rel("component:default/artist-app", RelHasPart, web), rel(web, RelPartOf, "component:default/artist-app")},
		},
		{
			name: "Component providesApis without a kind are APIs", kind: "Component", entity: "artist-web",
			spec: "{providesApis: [artist-api, other/search-api]}",
			want: []Relation{
				rel("api:default/artist-api", RelAPIProvidedBy, web),
				rel("api:other/search-api", RelAPIProvidedBy, web),
				rel(web, RelProvidesAPI, "api:default/artist-api"),
				rel(web, RelProvidesAPI, "api:other/search-api"),
			},
		},
		{
			name: "Component consumesApis without a kind are APIs", kind: "Component", entity: "artist-web",
			spec: "{consumesApis: [artist-api]}",
			want: []Relation{rel("api:default/artist-api", RelAPIConsumedBy, web), rel(web, RelConsumesAPI, "api:default/artist-api")},
		},
		{
			name: "Component dependsOn keeps the kind each ref names", kind: "Component", entity: "artist-web",
			spec: "{dependsOn: ['resource:artists-db', 'component:other/lookup']}",
			want: []Relation{
				rel(web, RelDependsOn, "component:other/lookup"),
				rel(web, RelDependsOn, "resource:default/artists-db"),
				rel("component:other/lookup", RelDependencyOf, web),
				rel("resource:default/artists-db", RelDependencyOf, web),
			},
		},
		{
			name: "Component dependencyOf keeps the kind each ref names", kind: "Component", entity: "artist-web",
			spec: "{dependencyOf: ['component:web2']}",
			want: []Relation{rel(web, RelDependencyOf, "component:default/web2"), rel("component:default/web2", RelDependsOn, web)},
		},
		{
			name: "refs without a namespace take the entity's own namespace, and explicit ones are kept", kind: "Component", namespace: "team-a", entity: "web",
			spec: "{owner: owners, system: default/portal, providesApis: [search, 'api:shared/auth']}",
			want: []Relation{
				rel("api:shared/auth", RelAPIProvidedBy, "component:team-a/web"),
				rel("api:team-a/search", RelAPIProvidedBy, "component:team-a/web"),
				rel("component:team-a/web", RelOwnedBy, "group:team-a/owners"),
				rel("component:team-a/web", RelPartOf, "system:default/portal"),
				rel("component:team-a/web", RelProvidesAPI, "api:shared/auth"),
				rel("component:team-a/web", RelProvidesAPI, "api:team-a/search"),
				rel("group:team-a/owners", RelOwnerOf, "component:team-a/web"),
				rel("system:default/portal", RelHasPart, "component:team-a/web"),
			},
		},
		{
			name: "refs that differ only in case give one relation", kind: "Component", entity: "artist-web",
			spec: "{providesApis: [artist-api, 'API:default/Artist-API', artist-api], dependsOn: ['resource:db', 'Resource:DB']}",
			want: []Relation{
				rel("api:default/artist-api", RelAPIProvidedBy, web),
				rel(web, RelDependsOn, "resource:default/db"),
				rel(web, RelProvidesAPI, "api:default/artist-api"),
				rel("resource:default/db", RelDependencyOf, web),
			},
		},
		{
			name: "the entity's own ref is lower-cased, and its kind may be written in any case", kind: "component", entity: "Artist-Web",
			spec: "{owner: Team-A}",
			want: []Relation{rel(web, RelOwnedBy, "group:default/team-a"), rel("group:default/team-a", RelOwnerOf, web)},
		},
		{
			name: "a field set to null declares nothing", kind: "Component", entity: "artist-web",
			spec: "{owner: ~, system: portal, providesApis: ~}",
			want: []Relation{rel(web, RelPartOf, "system:default/portal"), rel("system:default/portal", RelHasPart, web)},
		},
		{
			name: "fields that declare no relation are ignored", kind: "Component", entity: "artist-web",
			spec: "{type: website, lifecycle: production, parent: x, members: [y], domain: z}",
			want: nil,
		},
		{
			name: "a Component with every field gives every relation, sorted", kind: "Component", entity: "artist-web",
			spec: "{owner: team-a, system: portal, subcomponentOf: app, providesApis: [p], consumesApis: [c], dependsOn: ['resource:db'], dependencyOf: ['component:x']}",
			want: []Relation{
				rel("api:default/c", RelAPIConsumedBy, web),
				rel("api:default/p", RelAPIProvidedBy, web),
				rel("component:default/app", RelHasPart, web),
				rel(web, RelConsumesAPI, "api:default/c"),
				rel(web, RelDependencyOf, "component:default/x"),
				rel(web, RelDependsOn, "resource:default/db"),
				rel(web, RelOwnedBy, "group:default/team-a"),
				rel(web, RelPartOf, "component:default/app"),
				rel(web, RelPartOf, "system:default/portal"),
				rel(web, RelProvidesAPI, "api:default/p"),
				rel("component:default/x", RelDependsOn, web),
				rel("group:default/team-a", RelOwnerOf, web),
				rel("resource:default/db", RelDependencyOf, web),
				rel("system:default/portal", RelHasPart, web),
			},
		},

		// API.
		{
			name: "an API owner is a Group and its system a System", kind: "API", entity: "artist-api",
			spec: "{owner: team-a, system: portal}",
			want: []Relation{
				rel("api:default/artist-api", RelOwnedBy, "group:default/team-a"),
				rel("api:default/artist-api", RelPartOf, "system:default/portal"),
				rel("group:default/team-a", RelOwnerOf, "api:default/artist-api"),
				rel("system:default/portal", RelHasPart, "api:default/artist-api"),
			},
		},
		{
			name: "an API declares no dependencies", kind: "API", entity: "artist-api",
			spec: "{dependsOn: ['resource:db'], providesApis: [x]}",
			want: nil,
		},

		// Resource.
		{
			name: "a Resource has owner, system, dependsOn and dependencyOf", kind: "Resource", entity: "db",
			spec: "{owner: team-a, system: portal, dependsOn: ['resource:disk'], dependencyOf: ['component:web']}",
			want: []Relation{
				rel("component:default/web", RelDependsOn, "resource:default/db"),
				rel("group:default/team-a", RelOwnerOf, "resource:default/db"),
				rel("resource:default/db", RelDependencyOf, "component:default/web"),
				rel("resource:default/db", RelDependsOn, "resource:default/disk"),
				rel("resource:default/db", RelOwnedBy, "group:default/team-a"),
				rel("resource:default/db", RelPartOf, "system:default/portal"),
				rel("resource:default/disk", RelDependencyOf, "resource:default/db"),
				rel("system:default/portal", RelHasPart, "resource:default/db"),
			},
		},

		// System.
		{
			name: "a System owner is a Group and its domain a Domain", kind: "System", entity: "portal",
			spec: "{owner: team-a, domain: artists}",
			want: []Relation{
				rel("domain:default/artists", RelHasPart, "system:default/portal"),
				rel("group:default/team-a", RelOwnerOf, "system:default/portal"),
				rel("system:default/portal", RelOwnedBy, "group:default/team-a"),
				rel("system:default/portal", RelPartOf, "domain:default/artists"),
			},
		},

		// Domain.
		{
			name: "a Domain owner is a Group and subdomainOf a Domain", kind: "Domain", entity: "artists",
			spec: "{owner: team-a, subdomainOf: audio}",
			want: []Relation{
				rel("domain:default/artists", RelOwnedBy, "group:default/team-a"),
				rel("domain:default/artists", RelPartOf, "domain:default/audio"),
				rel("domain:default/audio", RelHasPart, "domain:default/artists"),
				rel("group:default/team-a", RelOwnerOf, "domain:default/artists"),
			},
		},

		// Group.
		{
			name: "a Group parent and children are Groups and its members Users", kind: "Group", entity: "infra",
			spec: "{type: team, parent: ops, children: [backstage, 'group:other/sre'], members: [jdoe]}",
			want: []Relation{
				rel("group:default/backstage", RelChildOf, "group:default/infra"),
				rel("group:default/infra", RelChildOf, "group:default/ops"),
				rel("group:default/infra", RelHasMember, "user:default/jdoe"),
				rel("group:default/infra", RelParentOf, "group:default/backstage"),
				rel("group:default/infra", RelParentOf, "group:other/sre"),
				rel("group:default/ops", RelParentOf, "group:default/infra"),
				rel("group:other/sre", RelChildOf, "group:default/infra"),
				rel("user:default/jdoe", RelMemberOf, "group:default/infra"),
			},
		},
		{
			name: "a Group with no children declares nothing", kind: "Group", entity: "infra",
			spec: "{type: team, children: []}",
			want: nil,
		},
		{
			name: "a Group has no owner relation", kind: "Group", entity: "infra",
			spec: "{type: team, children: [], owner: someone}",
			want: nil,
		},

		// User.
		{
			name: "a User memberOf without a kind are Groups", kind: "User", namespace: "people", entity: "jdoe",
			spec: "{memberOf: [team-b, 'default/employees']}",
			want: []Relation{
				rel("group:default/employees", RelHasMember, "user:people/jdoe"),
				rel("group:people/team-b", RelHasMember, "user:people/jdoe"),
				rel("user:people/jdoe", RelMemberOf, "group:default/employees"),
				rel("user:people/jdoe", RelMemberOf, "group:people/team-b"),
			},
		},

		// Template.
		{
			name: "a Template owner is a Group", kind: "Template", entity: "go-service",
			spec: "{type: service, owner: team-a, steps: []}",
			want: []Relation{
				rel("group:default/team-a", RelOwnerOf, "template:default/go-service"),
				rel("template:default/go-service", RelOwnedBy, "group:default/team-a"),
			},
		},
		{
			name: "a Template declares nothing besides its owner", kind: "Template", entity: "go-service",
			spec: "{type: service, system: portal, dependsOn: ['resource:db'], steps: []}",
			want: nil,
		},

		// Location and unknown kinds.
		{
			name: "a Location declares nothing", kind: "Location", entity: "org",
			spec: "{owner: team-a, target: ./org.yaml, targets: [./a.yaml]}",
			want: nil,
		},
		{
			name: "an unknown kind declares nothing, even with fields built-in kinds use", kind: "Widget", entity: "gizmo",
			spec: "{owner: team-a, system: portal, dependsOn: [db]}",
			want: nil,
		},
		{
			name: "an entity without spec declares nothing", kind: "Component", entity: "artist-web",
			want: nil,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := entityOf(t, c.kind, c.namespace, c.entity, c.spec)
			got, problems := DeriveRelations(e)
			if problems != nil {
				t.Fatalf("unexpected problems: %v", problems)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("relations:\n%swant:\n%s", describeRelations(got), describeRelations(c.want))
			}
		})
	}
}

func TestDeriveRelationsEmitsBothDirectionsSortedAndUnique(t *testing.T) {
	e := entityOf(t, "Component", "", "web", "{owner: b, system: a, providesApis: [z, y, Z, y], consumesApis: [y], dependsOn: ['component:a', 'COMPONENT:A'], dependencyOf: ['component:a']}")
	got, problems := DeriveRelations(e)
	if problems != nil {
		t.Fatalf("unexpected problems: %v", problems)
	}
	if !sort.SliceIsSorted(got, func(i, j int) bool {
		a, b := got[i], got[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Target < b.Target
	}) {
		t.Errorf("relations are not sorted by source, type, target:\n%s", describeRelations(got))
	}
	seen := map[Relation]bool{}
	for _, r := range got {
		if seen[r] {
			t.Errorf("relation %v appears twice", r)
		}
		seen[r] = true
	}
	for _, r := range got {
		inv := Relation{Source: r.Target, Type: Inverse(r.Type), Target: r.Source}
		if !seen[inv] {
			t.Errorf("relation %v has no inverse %v", r, inv)
		}
	}
	if len(got) != 14 {
		t.Errorf("got %d relations, want 14 (7 distinct declarations, both ways):\n%s", len(got), describeRelations(got))
	}
}

func TestDeriveRelationsRejectsRefsItCannotRead(t *testing.T) {
	cases := []struct {
		name string
		kind string
		spec string
		want []Problem // Message is matched as a substring
	}{
		{
			name: "a dependsOn ref without a kind is rejected at its list index", kind: "Component",
			spec: "{owner: team-a, dependsOn: ['resource:db', db]}",
			want: []Problem{{"/spec/dependsOn/1", `entity ref "db" has no kind`}},
		},
		{
			name: "a dependencyOf ref without a kind is rejected at its list index", kind: "Resource",
			spec: "{owner: team-a, dependencyOf: [web]}",
			want: []Problem{{"/spec/dependencyOf/0", `entity ref "web" has no kind`}},
		},
		{
			name: "a Resource dependsOn ref with only a namespace is rejected", kind: "Resource",
			spec: "{owner: team-a, dependsOn: [default/db]}",
			want: []Problem{{"/spec/dependsOn/0", `entity ref "default/db" has no kind`}},
		},
		{
			name: "a list item that is not a string is rejected at its index", kind: "Component",
			spec: "{owner: team-a, providesApis: [artist-api, 42]}",
			want: []Problem{{"/spec/providesApis/1", "must be a string (an entity ref)"}},
		},
		{
			name: "a list field that is a string is rejected", kind: "User",
			spec: "{memberOf: team-a}",
			want: []Problem{{"/spec/memberOf", "must be a list of entity refs"}},
		},
		{
			name: "a single-ref field that is a list is rejected", kind: "System",
			spec: "{owner: [team-a]}",
			want: []Problem{{"/spec/owner", "must be a string (an entity ref)"}},
		},
		{
			name: "a ref with an empty namespace is rejected", kind: "Domain",
			spec: "{owner: 'group:/team-a'}",
			want: []Problem{{"/spec/owner", `entity ref "group:/team-a" is not of the form`}},
		},
		{
			name: "an empty ref is rejected", kind: "Group",
			spec: "{type: team, children: [''], parent: ops}",
			want: []Problem{{"/spec/children/0", `entity ref "" is not of the form`}},
		},
		{
			name: "every bad ref is reported and no relation is returned", kind: "Component",
			spec: "{owner: 'a:', system: portal, dependsOn: [x, 'resource:ok', 7], dependencyOf: [y]}",
			want: []Problem{ // sorted by path
				{"/spec/dependencyOf/0", `entity ref "y" has no kind`},
				{"/spec/dependsOn/0", `entity ref "x" has no kind`},
				{"/spec/dependsOn/2", "must be a string"},
				{"/spec/owner", `entity ref "a:" is not of the form`},
			},
		},
		{
			name: "a Template owner that is not a string is rejected", kind: "Template",
			spec: "{type: service, owner: {name: x}, steps: []}",
			want: []Problem{{"/spec/owner", "must be a string (an entity ref)"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, problems := DeriveRelations(entityOf(t, c.kind, "", "e", c.spec))
			// The order of problems is not specified; compare them by path.
			problems = sortedProblems(problems)
			if got != nil {
				t.Errorf("want no relations when there are problems, got:\n%s", describeRelations(got))
			}
			if len(problems) != len(c.want) {
				t.Fatalf("problems = %v, want %v", problems, c.want)
			}
			for i, w := range c.want {
				if problems[i].Path != w.Path || !strings.Contains(problems[i].Message, w.Message) {
					t.Errorf("problem %d = %q: %q, want %q: ...%q...", i, problems[i].Path, problems[i].Message, w.Path, w.Message)
				}
			}
		})
	}
}

func TestInversePairsEveryRelationType(t *testing.T) {
	pairs := [][2]string{
		{RelOwnedBy, RelOwnerOf},
		{RelPartOf, RelHasPart},
		{RelProvidesAPI, RelAPIProvidedBy},
		{RelConsumesAPI, RelAPIConsumedBy},
		{RelDependsOn, RelDependencyOf},
		{RelParentOf, RelChildOf},
		{RelMemberOf, RelHasMember},
	}
	for _, p := range pairs {
		t.Run(p[0]+" and "+p[1]+" are each other's inverse", func(t *testing.T) {
			if got := Inverse(p[0]); got != p[1] {
				t.Errorf("Inverse(%q) = %q, want %q", p[0], got, p[1])
			}
			if got := Inverse(p[1]); got != p[0] {
				t.Errorf("Inverse(%q) = %q, want %q", p[1], got, p[0])
			}
		})
	}
	t.Run("an unknown type has no inverse", func(t *testing.T) {
		if got := Inverse("relatedTo"); got != "" {
			t.Errorf("Inverse(\"relatedTo\") = %q, want \"\"", got)
		}
	})
}

func TestProblemStringPrefixesThePath(t *testing.T) {
	cases := []struct {
		name string
		p    Problem
		want string
	}{
		{"a problem with a path reads path: message", Problem{"/spec/owner", "must be a string"}, "/spec/owner: must be a string"},
		{"a problem without a path is just its message", Problem{"", "cannot encode document"}, "cannot encode document"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.p.String(); got != c.want {
				t.Errorf("String() = %q, want %q", got, c.want)
			}
		})
	}
}

// A long list (past the point where duplicates are found through a map rather than by
// searching what was derived so far) still yields each relation once.
func TestDeriveRelationsDropsDuplicatesOfALongList(t *testing.T) {
	var refs []string
	for i := range 60 {
		refs = append(refs, "component:c"+strings.Repeat("x", i%25)) // 25 distinct refs, most of them twice or more
	}
	e := entityOf(t, "Component", "", "web", "{dependsOn: ['"+strings.Join(refs, "', '")+"'], dependencyOf: ['component:c', 'component:cx']}")
	got, problems := DeriveRelations(e)
	if problems != nil {
		t.Fatalf("unexpected problems: %v", problems)
	}
	seen := map[Relation]bool{}
	for _, r := range got {
		if seen[r] {
			t.Errorf("relation %v appears twice", r)
		}
		seen[r] = true
	}
	if len(got) != 2*(25+2) {
		t.Errorf("got %d relations, want %d (25 dependsOn and 2 dependencyOf, both ways):\n%s", len(got), 2*(25+2), describeRelations(got))
	}
}
