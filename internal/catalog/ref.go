package catalog

import (
	"fmt"
	"strings"
)

// DefaultNamespace is the namespace of an entity that names none.
const DefaultNamespace = "default"

// Ref names an entity: kind, namespace and name, with the casing they were written in.
// Its canonical string form is lower-case "kind:namespace/name"; every comparison of refs
// goes through that form, so lookups are case-insensitive.
type Ref struct {
	Kind      string
	Namespace string
	Name      string
}

// String returns the canonical form: lower-case kind:namespace/name.
func (r Ref) String() string {
	return strings.ToLower(r.Kind) + ":" + strings.ToLower(r.Namespace) + "/" + strings.ToLower(r.Name)
}

// RefDefaults fill in what a ref string leaves out.
type RefDefaults struct {
	Kind      string // "" means the ref must name its kind
	Namespace string // "" means DefaultNamespace
}

// ParseRef parses "[kind:][namespace/]name" the way Backstage's parseEntityRef does: the kind
// ends at the first ':' unless a '/' comes before it, the namespace ends at the first '/',
// and the rest is the name. Missing parts come from d.
func ParseRef(s string, d RefDefaults) (Ref, error) {
	colon := strings.IndexByte(s, ':')
	slash := strings.IndexByte(s, '/')
	if slash != -1 && slash < colon {
		colon = -1
	}
	var r Ref
	hasKind, hasNS := colon != -1, slash != -1
	if hasKind {
		r.Kind = s[:colon]
	}
	if hasNS {
		r.Namespace = s[colon+1 : slash]
	}
	r.Name = s[max(colon+1, slash+1):]
	if (hasKind && r.Kind == "") || (hasNS && r.Namespace == "") || r.Name == "" {
		return Ref{}, fmt.Errorf("entity ref %q is not of the form [<kind>:][<namespace>/]<name>", Excerpt(s, 100))
	}
	if !hasKind {
		if d.Kind == "" {
			return Ref{}, fmt.Errorf("entity ref %q has no kind, and this field needs one (write it as <kind>:[<namespace>/]<name>, e.g. component:%s)", Excerpt(s, 100), Excerpt(s, 100))
		}
		r.Kind = d.Kind
	}
	if !hasNS {
		r.Namespace = d.Namespace
		if r.Namespace == "" {
			r.Namespace = DefaultNamespace
		}
	}
	return r, nil
}

// CanonicalRef parses s with defaults d and returns its canonical string.
func CanonicalRef(s string, d RefDefaults) (string, error) {
	r, err := ParseRef(s, d)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

// SplitCanonical splits a canonical ref into its parts. It assumes s came from Ref.String.
func SplitCanonical(s string) Ref {
	colon := strings.IndexByte(s, ':')
	rest := s[colon+1:]
	slash := strings.IndexByte(rest, '/')
	if colon < 0 || slash < 0 {
		return Ref{Name: s}
	}
	return Ref{Kind: s[:colon], Namespace: rest[:slash], Name: rest[slash+1:]}
}
