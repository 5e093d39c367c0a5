package synth

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Write generates the catalog for cfg and writes it into dir as multi-document
// YAML files of about 1,000 entities each, in one sub-directory per kind, plus
// a root Location file dir/catalog-info.yaml whose spec.targets list them with
// relative paths. The same Config always produces byte-identical files.
func Write(dir string, cfg Config) (Stats, error) {
	c, err := generate(cfg)
	if err != nil {
		return Stats{}, err
	}
	w := &writer{c: c, dir: dir, docs: cfg.Docs}
	w.chunks("domains", len(c.domains), w.domain)
	w.chunks("systems", len(c.systems), w.system)
	w.chunks("groups", len(c.groups), w.group)
	w.chunks("users", len(c.users), w.user)
	w.chunks("resources", len(c.resources), w.resource)
	w.chunks("apis", len(c.apis), w.api)
	w.chunks("components", len(c.comps), w.component)
	w.root()
	if w.err != nil {
		return Stats{}, w.err
	}

	st := Stats{
		Entities:          c.entities(),
		Files:             len(w.targets) + 1,
		DeclaredRelations: c.relations(),
		ByKind: map[string]int{
			"Domain":    len(c.domains),
			"System":    len(c.systems),
			"Group":     len(c.groups),
			"User":      len(c.users),
			"Resource":  len(c.resources),
			"API":       len(c.apis),
			"Component": len(c.comps),
			"Location":  1,
		},
		HotResource:  "resource:default/" + hotName,
		ColdResource: "resource:default/" + coldName,
		Root:         filepath.Join(dir, "catalog-info.yaml"),
		DocSites:     w.sites,
		DocPages:     w.pages,
	}
	if cfg.Docs {
		st.SampleDocWords = sampleDocWords()
	}
	for _, cp := range c.comps {
		if cp.dangling != "" {
			st.DanglingRefs++
		}
	}
	st.HotDependents, st.HotDepth = c.dependents(hotResource)
	st.ColdDependents, _ = c.dependents(coldResrc)
	if c.identityHub >= 0 {
		st.IdentityHub = "resource:default/" + c.resources[c.identityHub].name
		st.NetworkHub = "resource:default/" + c.resources[c.networkHub].name
		st.IdentityDependents, _ = c.dependents(c.identityHub)
		st.NetworkDependents, _ = c.dependents(c.networkHub)
	}
	// Samples: a stride through the components and the owning teams.
	for i, step := 0, max(1, len(c.comps)/1000); i < len(c.comps) && len(st.SampleComponents) < 1000; i += step {
		st.SampleComponents = append(st.SampleComponents, "component:default/"+c.comps[i].name)
	}
	owns := make([]bool, len(c.groups))
	for _, cp := range c.comps {
		owns[cp.owner] = true
	}
	for i, o := range owns {
		if o && len(st.SampleOwners) < 200 {
			st.SampleOwners = append(st.SampleOwners, "group:default/"+c.groups[i].name)
		}
	}
	return st, nil
}

type writer struct {
	c       *catalog
	dir     string
	targets []string // relative to dir, slash-separated
	docs    bool     // write techdocs sites (Config.Docs)
	sites   int      // sites written
	pages   int      // doc pages written
	b       *bufio.Writer
	err     error
}

// chunks writes n entities of one kind, entityFile per file, into dir/sub/.
func (w *writer) chunks(sub string, n int, one func(i int)) {
	if w.err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Join(w.dir, sub), 0o755); err != nil {
		w.err = err
		return
	}
	for start, part := 0, 1; start < n; start, part = start+entityFile, part+1 {
		rel := fmt.Sprintf("%s/%s-%03d.yaml", sub, sub, part)
		w.file(rel, func() {
			for i := start; i < min(n, start+entityFile); i++ {
				one(i)
			}
		})
	}
}

func (w *writer) file(rel string, body func()) {
	if w.err != nil {
		return
	}
	f, err := os.Create(filepath.Join(w.dir, filepath.FromSlash(rel)))
	if err != nil {
		w.err = err
		return
	}
	w.b = bufio.NewWriterSize(f, 256<<10)
	body()
	if err := w.b.Flush(); err != nil && w.err == nil {
		w.err = err
	}
	if err := f.Close(); err != nil && w.err == nil {
		w.err = err
	}
	if rel != "catalog-info.yaml" {
		w.targets = append(w.targets, rel)
	}
}

func (w *writer) p(format string, args ...any) {
	fmt.Fprintf(w.b, format, args...)
}

func (w *writer) line(s string) {
	w.b.WriteString(s)
	w.b.WriteByte('\n')
}

// q quotes s as a YAML double-quoted scalar (the generated text is ASCII).
func q(s string) string { return strconv.Quote(s) }

func (w *writer) header(apiVersion, kind string) {
	w.line("---")
	w.line("apiVersion: " + apiVersion)
	w.line("kind: " + kind)
	w.line("metadata:")
}

func (w *writer) list(indent, key string, items []string) {
	if len(items) == 0 {
		return
	}
	w.line(indent + key + ":")
	for _, it := range items {
		w.line(indent + "  - " + it)
	}
}

// h is a small deterministic hash used for cosmetic choices while writing
// (the graph itself comes from the seeded generator).
func h(i, salt int) int {
	x := uint64(i)*0x9e3779b97f4a7c15 + uint64(salt)*0xbf58476d1ce4e5b9
	x ^= x >> 31
	x *= 0x94d049bb133111eb
	x ^= x >> 29
	return int(x & 0x7fffffff)
}

func (w *writer) tags(i, salt int, base ...string) {
	tags := append([]string(nil), base...)
	tags = append(tags, langTags[h(i, salt)%len(langTags)])
	for k := range h(i, salt+1) % 3 {
		t := extraTags[h(i, salt+2+k)%len(extraTags)]
		dup := false
		for _, x := range tags {
			dup = dup || x == t
		}
		if !dup {
			tags = append(tags, t)
		}
	}
	w.list("  ", "tags", tags)
}

// Refs are written in the forms Backstage authors use: short names where the
// field has a default kind, kind:name or kind:namespace/name elsewhere, with
// a deterministic mix so that parsers see all of them.

func groupRef(c *catalog, g int, style int) string {
	switch style % 3 {
	case 0:
		return c.groups[g].name
	case 1:
		return "group:" + c.groups[g].name
	default:
		return "group:default/" + c.groups[g].name
	}
}

func apiRef(c *catalog, a int) string {
	if a%7 == 0 {
		return "api:default/" + c.apis[a].name
	}
	return c.apis[a].name
}

func depRef(c *catalog, d dep, i int) string {
	kind, name := "component", ""
	if d.resource {
		kind, name = "resource", c.resources[d.idx].name
	} else {
		name = c.comps[d.idx].name
	}
	if (i+d.idx)%5 == 0 {
		return kind + ":" + name
	}
	return kind + ":default/" + name
}

func (w *writer) domain(i int) {
	c, d := w.c, w.c.domains[i]
	w.header("backstage.io/v1alpha1", "Domain")
	w.line("  name: " + d.name)
	w.line("  title: " + q(title(d.name)))
	w.line("  description: " + q(fmt.Sprintf("Everything about %s at Acme.", strings.ReplaceAll(d.name, "-", " "))))
	w.tags(i, 1)
	w.line("spec:")
	w.line("  owner: " + groupRef(c, d.owner, i))
	if d.parent >= 0 {
		w.line("  subdomainOf: " + c.domains[d.parent].name)
	}
}

func (w *writer) system(i int) {
	c, s := w.c, w.c.systems[i]
	w.header("backstage.io/v1alpha1", "System")
	w.line("  name: " + s.name)
	w.line("  title: " + q(title(s.name)))
	w.line("  description: " + q(fmt.Sprintf("The %s system of the %s domain.", title(s.name), title(c.domains[s.domain].name))))
	w.tags(i, 2)
	// No backstage.io/techdocs-ref: the catalog has no docs, and a descriptor naming docs
	// that are not there is a processing error.
	w.line("spec:")
	w.line("  owner: " + groupRef(c, s.owner, i))
	w.line("  domain: " + c.domains[s.domain].name)
}

func (w *writer) group(i int) {
	c, g := w.c, w.c.groups[i]
	w.header("backstage.io/v1alpha1", "Group")
	w.line("  name: " + g.name)
	w.line("  title: " + q(title(g.name)))
	w.line("  description: " + q(fmt.Sprintf("The %s %s.", title(g.name), g.typ)))
	if g.typ == "team" {
		w.line("  annotations:")
		w.line("    slack.com/channel: " + g.name)
	}
	w.line("spec:")
	w.line("  type: " + g.typ)
	w.line("  profile:")
	w.line("    displayName: " + q(title(g.name)))
	w.line("    email: " + g.name + "@acme.example")
	if g.parent >= 0 {
		w.line("  parent: " + c.groups[g.parent].name)
	}
	if len(g.children) == 0 {
		w.line("  children: []")
	} else {
		names := make([]string, len(g.children))
		for k, ch := range g.children {
			names[k] = c.groups[ch].name
		}
		w.list("  ", "children", names)
	}
}

func (w *writer) user(i int) {
	c, u := w.c, w.c.users[i]
	w.header("backstage.io/v1alpha1", "User")
	w.line("  name: " + u.name)
	w.line("spec:")
	w.line("  profile:")
	w.line("    displayName: " + q(title(u.name)))
	w.line("    email: " + u.name + "@acme.example")
	groups := make([]string, len(u.memberOf))
	for k, g := range u.memberOf {
		groups[k] = c.groups[g].name
	}
	w.list("  ", "memberOf", groups)
}

func (w *writer) resource(i int) {
	c, r := w.c, w.c.resources[i]
	w.header("backstage.io/v1alpha1", "Resource")
	w.line("  name: " + r.name)
	w.line("  description: " + q(fmt.Sprintf("%s (%s) used by the %s system.", title(r.name), r.typ, title(c.systems[r.system].name))))
	w.tags(i, 3)
	w.line("  annotations:")
	w.line("    acme.io/cost-center: " + q("cc-"+strconv.Itoa(1000+h(i, 30)%9000)))
	w.line("spec:")
	w.line("  type: " + r.typ)
	w.line("  owner: " + groupRef(c, r.owner, i))
	w.line("  system: " + c.systems[r.system].name)
	if len(r.deps) > 0 {
		refs := make([]string, len(r.deps))
		for k, d := range r.deps {
			refs[k] = depRef(c, dep{resource: true, idx: d}, i)
		}
		w.list("  ", "dependsOn", refs)
	}
}

func (w *writer) api(i int) {
	c, a := w.c, w.c.apis[i]
	p := c.comps[a.provider]
	w.header("backstage.io/v1alpha1", "API")
	w.line("  name: " + a.name)
	w.line("  title: " + q(title(a.name)))
	w.line("  description: " + q(fmt.Sprintf("%s API of %s.", a.typ, title(p.name))))
	w.tags(i, 4, a.typ)
	w.line("spec:")
	w.line("  type: " + a.typ)
	w.line("  lifecycle: " + p.lifecycle)
	w.line("  owner: " + groupRef(c, p.owner, i))
	w.line("  system: " + c.systems[p.system].name)
	w.line("  definition: |")
	for _, l := range definition(a, i) {
		w.line("    " + l)
	}
}

// definition returns a short but well-formed API definition for a.
func definition(a api, i int) []string {
	noun := nouns[h(i, 40)%len(nouns)]
	Noun := camel(noun)
	version := fmt.Sprintf("1.%d.0", h(i, 41)%10)
	switch a.typ {
	case "grpc":
		pkg := strings.NewReplacer("-", "_", ".", "_").Replace(a.name)
		return []string{
			`syntax = "proto3";`,
			"package acme." + pkg + ".v1;",
			"service " + camel(a.name) + " {",
			"  rpc Get" + Noun + "(Get" + Noun + "Request) returns (" + Noun + ");",
			"}",
			"message Get" + Noun + "Request { string id = 1; }",
			"message " + Noun + " { string id = 1; string status = 2; }",
		}
	case "asyncapi":
		return []string{
			"asyncapi: 2.6.0",
			"info:",
			"  title: " + title(a.name),
			"  version: " + version,
			"channels:",
			"  " + noun + ".changed:",
			"    subscribe:",
			"      message:",
			"        name: " + Noun + "Changed",
			"        payload:",
			"          type: object",
			"          properties:",
			"            id: {type: string}",
		}
	case "graphql":
		return []string{
			"type Query {",
			"  " + noun + "(id: ID!): " + Noun,
			"}",
			"type " + Noun + " {",
			"  id: ID!",
			"  status: String",
			"}",
		}
	default:
		return []string{
			"openapi: 3.0.3",
			"info:",
			"  title: " + title(a.name),
			"  version: " + version,
			"paths:",
			"  /" + noun + "s/{id}:",
			"    get:",
			"      summary: Get a " + noun,
			"      parameters:",
			"        - {name: id, in: path, required: true, schema: {type: string}}",
			"      responses:",
			`        "200":`,
			"          description: The " + noun,
		}
	}
}

func (w *writer) component(i int) {
	c, cp := w.c, w.c.comps[i]
	w.header("backstage.io/v1alpha1", "Component")
	w.line("  name: " + cp.name)
	w.line("  title: " + q(title(cp.name)))
	var what string
	switch cp.typ {
	case "website":
		what = "Front-end"
	case "library":
		what = "Shared library"
	default:
		what = [...]string{"Back-end service", "Worker", "Service"}[h(i, 50)%3]
	}
	w.line("  description: " + q(fmt.Sprintf("%s of the %s system, maintained by %s.", what, title(c.systems[cp.system].name), title(c.groups[cp.owner].name))))
	w.tags(i, 5)
	w.line("  labels:")
	w.line("    acme.io/tier: " + q(strconv.Itoa(1+h(i, 51)%3)))
	w.line("  annotations:")
	w.line("    github.com/project-slug: acme/" + cp.name)
	hasDocs := w.docs && i%2 == 0
	if hasDocs {
		w.line("    backstage.io/techdocs-ref: dir:docs/" + cp.name)
	}
	if cp.lifecycle == "production" && cp.typ != "library" {
		w.p("    pagerduty.com/service-id: P%06X\n", h(i, 53)%0xffffff)
	}
	if h(i, 54)%5 == 0 {
		w.line("  links:")
		w.line("    - url: https://grafana.acme.example/d/" + cp.name)
		w.line("      title: Dashboard")
		w.line("      icon: dashboard")
	}
	w.line("spec:")
	w.line("  type: " + cp.typ)
	w.line("  lifecycle: " + cp.lifecycle)
	w.line("  owner: " + groupRef(c, cp.owner, i))
	w.line("  system: " + c.systems[cp.system].name)
	if cp.subOf >= 0 {
		w.line("  subcomponentOf: " + c.comps[cp.subOf].name)
	}
	if len(cp.provides) > 0 {
		refs := make([]string, len(cp.provides))
		for k, a := range cp.provides {
			refs[k] = apiRef(c, a)
		}
		w.list("  ", "providesApis", refs)
	}
	if len(cp.consumes) > 0 {
		refs := make([]string, len(cp.consumes))
		for k, a := range cp.consumes {
			refs[k] = apiRef(c, a)
		}
		w.list("  ", "consumesApis", refs)
	}
	if hasDocs {
		w.site(i, cp)
	}
	if len(cp.deps) > 0 || cp.dangling != "" {
		refs := make([]string, 0, len(cp.deps)+1)
		for _, d := range cp.deps {
			refs = append(refs, depRef(c, d, i))
		}
		if cp.dangling != "" {
			refs = append(refs, cp.dangling)
		}
		w.list("  ", "dependsOn", refs)
	}
}

func (w *writer) root() {
	targets := make([]string, len(w.targets))
	for k, t := range w.targets {
		targets[k] = "./" + t
	}
	w.file("catalog-info.yaml", func() {
		w.line("apiVersion: backstage.io/v1alpha1")
		w.line("kind: Location")
		w.line("metadata:")
		w.line("  name: synthetic-catalog")
		w.line("  description: " + q(fmt.Sprintf("Synthetic catalog of %d entities.", w.c.entities())))
		w.line("spec:")
		w.list("  ", "targets", targets)
	})
}
