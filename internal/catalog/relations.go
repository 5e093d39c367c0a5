package catalog

import (
	"fmt"
	"slices"
	"strings"
)

// Relation types, as Backstage names them. Every relation is stored in both directions.
const (
	RelOwnedBy       = "ownedBy"
	RelOwnerOf       = "ownerOf"
	RelPartOf        = "partOf"
	RelHasPart       = "hasPart"
	RelProvidesAPI   = "providesApi"
	RelAPIProvidedBy = "apiProvidedBy"
	RelConsumesAPI   = "consumesApi"
	RelAPIConsumedBy = "apiConsumedBy"
	RelDependsOn     = "dependsOn"
	RelDependencyOf  = "dependencyOf"
	RelParentOf      = "parentOf"
	RelChildOf       = "childOf"
	RelMemberOf      = "memberOf"
	RelHasMember     = "hasMember"
)

// Inverse returns the relation type seen from the other end ("" for unknown types).
func Inverse(t string) string {
	switch t {
	case RelOwnedBy:
		return RelOwnerOf
	case RelOwnerOf:
		return RelOwnedBy
	case RelPartOf:
		return RelHasPart
	case RelHasPart:
		return RelPartOf
	case RelProvidesAPI:
		return RelAPIProvidedBy
	case RelAPIProvidedBy:
		return RelProvidesAPI
	case RelConsumesAPI:
		return RelAPIConsumedBy
	case RelAPIConsumedBy:
		return RelConsumesAPI
	case RelDependsOn:
		return RelDependencyOf
	case RelDependencyOf:
		return RelDependsOn
	case RelParentOf:
		return RelChildOf
	case RelChildOf:
		return RelParentOf
	case RelMemberOf:
		return RelHasMember
	case RelHasMember:
		return RelMemberOf
	}
	return ""
}

// Relation is one directed edge between two entities, by canonical ref. The target may not exist.
type Relation struct {
	Source string
	Type   string
	Target string
}

// Problem is one thing wrong with a document: where (a JSON pointer into it) and what.
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// RelationField is a spec field that declares relations: a ref (Many=false) or a list of refs.
type RelationField struct {
	Field       string // key in spec
	Many        bool
	DefaultKind string // "" when the ref must name its kind
	Type        string // relation from the entity to the target
}

// RelationFields lists, for a built-in kind (any case), the spec fields that declare relations,
// exactly as Backstage's BuiltinKindsEntityProcessor (and the scaffolder's processor for
// Template) read them.
func RelationFields(kind string) []RelationField {
	owner := RelationField{Field: "owner", DefaultKind: "Group", Type: RelOwnedBy}
	system := RelationField{Field: "system", DefaultKind: "System", Type: RelPartOf}
	dependsOn := RelationField{Field: "dependsOn", Many: true, Type: RelDependsOn}
	dependencyOf := RelationField{Field: "dependencyOf", Many: true, Type: RelDependencyOf}
	k, _ := BuiltinKind(kind)
	switch k {
	case "Component":
		return []RelationField{owner, system,
			{Field: "subcomponentOf", DefaultKind: "Component", Type: RelPartOf},
			{Field: "providesApis", Many: true, DefaultKind: "API", Type: RelProvidesAPI},
			{Field: "consumesApis", Many: true, DefaultKind: "API", Type: RelConsumesAPI},
			dependsOn, dependencyOf}
	case "API":
		return []RelationField{owner, system}
	case "Resource":
		return []RelationField{owner, dependsOn, dependencyOf, system}
	case "System":
		return []RelationField{owner, {Field: "domain", DefaultKind: "Domain", Type: RelPartOf}}
	case "Domain":
		return []RelationField{owner, {Field: "subdomainOf", DefaultKind: "Domain", Type: RelPartOf}}
	case "Group":
		return []RelationField{
			{Field: "parent", DefaultKind: "Group", Type: RelChildOf},
			{Field: "children", Many: true, DefaultKind: "Group", Type: RelParentOf},
			{Field: "members", Many: true, DefaultKind: "User", Type: RelHasMember}}
	case "User":
		return []RelationField{{Field: "memberOf", Many: true, DefaultKind: "Group", Type: RelMemberOf}}
	case "Template":
		return []RelationField{owner}
	}
	return nil
}

// DeriveRelations returns the relations an entity declares, both directions of each, sorted and
// without duplicates, or the problems that stop them from being derived (a ref that does not parse).
func DeriveRelations(e *Entity) ([]Relation, []Problem) {
	self := e.Ref().String()
	spec := e.Spec()
	var seen map[Relation]bool // once out is long; a short one is searched instead
	var out []Relation
	var problems []Problem
	add := func(r Relation) {
		if seen == nil {
			if slices.Contains(out, r) {
				return
			}
			out = append(out, r)
			if len(out) >= 32 {
				seen = make(map[Relation]bool, 2*len(out))
				for _, o := range out {
					seen[o] = true
				}
			}
			return
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, f := range RelationFields(e.Kind) {
		v, ok := spec[f.Field]
		if !ok || v == nil {
			continue
		}
		type item struct {
			i   int // position in a list, -1 for a single ref
			ref string
		}
		var refs []item
		path := "/spec/" + f.Field
		if f.Many {
			list, ok := v.([]any)
			if !ok {
				problems = append(problems, Problem{path, "must be a list of entity refs"})
				continue
			}
			for i, el := range list {
				s, ok := el.(string)
				if !ok {
					problems = append(problems, Problem{fmt.Sprintf("%s/%d", path, i), "must be a string (an entity ref)"})
					continue
				}
				refs = append(refs, item{i, s})
			}
		} else {
			s, ok := v.(string)
			if !ok {
				problems = append(problems, Problem{path, "must be a string (an entity ref)"})
				continue
			}
			refs = append(refs, item{-1, s})
		}
		for _, it := range refs {
			target, err := CanonicalRef(it.ref, RefDefaults{Kind: f.DefaultKind, Namespace: e.Namespace})
			if err != nil {
				p := path
				if it.i >= 0 {
					p = fmt.Sprintf("%s/%d", path, it.i)
				}
				problems = append(problems, Problem{p, err.Error()})
				continue
			}
			add(Relation{Source: self, Type: f.Type, Target: target})
			add(Relation{Source: target, Type: Inverse(f.Type), Target: self})
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	SortRelations(out)
	return out, nil
}

// SortRelations sorts relations by source, type and target.
func SortRelations(rs []Relation) {
	slices.SortFunc(rs, func(a, b Relation) int {
		if c := strings.Compare(a.Source, b.Source); c != 0 {
			return c
		}
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.Target, b.Target)
	})
}
