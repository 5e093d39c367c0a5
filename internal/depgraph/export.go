package depgraph

import (
	"fmt"
	"sort"
	"strings"

	"catalogd/internal/catalog"
)

// ForwardTypes are the relation types as declared (the other direction of each is its inverse).
// Exported graphs show every relation once, in its forward form.
var ForwardTypes = []string{
	catalog.RelOwnedBy, catalog.RelPartOf, catalog.RelProvidesAPI, catalog.RelConsumesAPI,
	catalog.RelDependsOn, catalog.RelChildOf, catalog.RelMemberOf,
}

// Forward returns the forward form of a relation type ("" if unknown).
func Forward(t string) string {
	for _, f := range ForwardTypes {
		if strings.EqualFold(t, f) {
			return f
		}
		if strings.EqualFold(t, catalog.Inverse(f)) {
			return f
		}
	}
	return ""
}

// Direction of a subgraph walk, relative to the forward relation types.
type Direction int

const (
	Both     Direction = iota
	Outgoing           // follow relations from the node (it depends on, is owned by, is part of …)
	Incoming           // follow relations to the node (depended on by, owner of, has part …)
)

// Edge is one relation in its forward form.
type Edge = catalog.Relation

// Node is one node of a subgraph with its distance from the root.
type Node struct {
	ID     int32
	Ref    string
	Exists bool
	Depth  int
}

// Subgraph walks from root along the given forward relation types (nil: all) in direction,
// down to maxDepth, stopping after maxNodes nodes (truncated reports that).
func (s *Snapshot) Subgraph(root int32, dir Direction, types []string, maxDepth, maxNodes int) (nodes []Node, edges []Edge, truncated bool) {
	if types == nil {
		types = ForwardTypes
	}
	depth := map[int32]int{root: 0}
	nodes = append(nodes, Node{root, s.refs[root], s.exists[root], 0})
	edgeSet := map[Edge]bool{}
	level := []int32{root}
	for d := 1; len(level) > 0 && d <= maxDepth && !truncated; d++ {
		var next []int32
		for _, n := range level {
			for _, t := range types {
				var steps []struct {
					to   int32
					edge Edge
				}
				if dir != Incoming {
					for _, m := range s.Out(n, t) {
						steps = append(steps, struct {
							to   int32
							edge Edge
						}{m, Edge{Source: s.refs[n], Type: t, Target: s.refs[m]}})
					}
				}
				if dir != Outgoing {
					for _, m := range s.Out(n, catalog.Inverse(t)) {
						steps = append(steps, struct {
							to   int32
							edge Edge
						}{m, Edge{Source: s.refs[m], Type: t, Target: s.refs[n]}})
					}
				}
				for _, st := range steps {
					if _, ok := depth[st.to]; !ok {
						if len(nodes) >= maxNodes {
							truncated = true
							continue
						}
						depth[st.to] = d
						next = append(next, st.to)
						nodes = append(nodes, Node{st.to, s.refs[st.to], s.exists[st.to], d})
					}
					edgeSet[st.edge] = true
				}
			}
		}
		sort.Slice(next, func(i, j int) bool { return s.refs[next[i]] < s.refs[next[j]] })
		level = next
	}
	for e := range edgeSet {
		edges = append(edges, e)
	}
	catalog.SortRelations(edges)
	sort.SliceStable(nodes, func(i, j int) bool {
		if nodes[i].Depth != nodes[j].Depth {
			return nodes[i].Depth < nodes[j].Depth
		}
		return nodes[i].Ref < nodes[j].Ref
	})
	return nodes, edges, truncated
}

// DOT renders a subgraph as Graphviz DOT.
func DOT(nodes []Node, edges []Edge) string {
	var b strings.Builder
	b.WriteString("digraph catalog {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n")
	for _, n := range nodes {
		r := catalog.SplitCanonical(n.Ref)
		style := ""
		if n.Depth == 0 {
			style = ", style=\"rounded,bold\""
		}
		if !n.Exists {
			style = ", style=\"rounded,dashed\""
		}
		fmt.Fprintf(&b, "  %s [label=%s%s];\n", dotQuote(n.Ref), dotQuote(r.Kind+"\n"+r.Namespace+"/"+r.Name), style)
	}
	for _, e := range edges {
		fmt.Fprintf(&b, "  %s -> %s [label=%s];\n", dotQuote(e.Source), dotQuote(e.Target), dotQuote(e.Type))
	}
	b.WriteString("}\n")
	return b.String()
}

func dotQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	s = strings.ReplaceAll(s, "\n", `\n`)
	return `"` + s + `"`
}

// Mermaid renders a subgraph as a Mermaid flowchart.
func Mermaid(nodes []Node, edges []Edge) string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	ids := map[string]string{}
	for i, n := range nodes {
		id := fmt.Sprintf("n%d", i)
		ids[n.Ref] = id
		open, close := "[", "]"
		if n.Depth == 0 {
			open, close = "[[", "]]"
		}
		if !n.Exists {
			open, close = "[/", "/]"
		}
		fmt.Fprintf(&b, "  %s%s\"%s\"%s\n", id, open, mermaidText(n.Ref), close)
	}
	for _, e := range edges {
		fmt.Fprintf(&b, "  %s -->|%s| %s\n", ids[e.Source], mermaidText(e.Type), ids[e.Target])
	}
	return b.String()
}

func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "|", "#124;", "<", "#lt;", ">", "#gt;")
	return r.Replace(s)
}
