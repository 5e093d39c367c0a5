package catalog

import (
	"fmt"
	"sort"
	"strings"
)

// Annotations that catalogd sets on every ingested entity, named as Backstage names them.
const (
	AnnotationManagedByLocation       = "backstage.io/managed-by-location"
	AnnotationManagedByOriginLocation = "backstage.io/managed-by-origin-location"
)

// Entity is one validated descriptor. Doc holds the whole document as JSON values (maps with
// string keys, slices, strings, json.Number, bools, nil); the other fields are read from it.
type Entity struct {
	APIVersion  string
	Kind        string
	Namespace   string
	Name        string
	Title       string
	Description string
	Tags        []string
	Labels      map[string]string
	Annotations map[string]string
	Doc         map[string]any
}

// Ref returns the entity's own ref.
func (e *Entity) Ref() Ref { return Ref{Kind: e.Kind, Namespace: e.Namespace, Name: e.Name} }

// Spec returns the spec object (never nil).
func (e *Entity) Spec() map[string]any {
	if s, ok := e.Doc["spec"].(map[string]any); ok {
		return s
	}
	return map[string]any{}
}

// SpecString returns spec[key] when it is a string.
func (e *Entity) SpecString(key string) string {
	s, _ := e.Spec()[key].(string)
	return s
}

// SetAnnotation sets a metadata annotation in both the struct and the document.
func (e *Entity) SetAnnotation(key, value string) {
	if e.Annotations == nil {
		e.Annotations = map[string]string{}
	}
	e.Annotations[key] = value
	meta, _ := e.Doc["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		e.Doc["metadata"] = meta
	}
	ann, _ := meta["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		meta["annotations"] = ann
	}
	ann[key] = value
}

// EntityFromDocument reads the envelope fields of a document that passed validation. It still
// checks the types it relies on, so a document that skipped validation gives an error, not a panic.
func EntityFromDocument(doc map[string]any) (*Entity, error) {
	e := &Entity{Doc: doc}
	var ok bool
	if e.APIVersion, ok = doc["apiVersion"].(string); !ok {
		return nil, fmt.Errorf("/apiVersion: must be a string")
	}
	if e.Kind, ok = doc["kind"].(string); !ok {
		return nil, fmt.Errorf("/kind: must be a string")
	}
	meta, ok := doc["metadata"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("/metadata: must be an object")
	}
	if e.Name, ok = meta["name"].(string); !ok {
		return nil, fmt.Errorf("/metadata/name: must be a string")
	}
	e.Namespace, _ = meta["namespace"].(string)
	if e.Namespace == "" {
		e.Namespace = DefaultNamespace
	}
	e.Title, _ = meta["title"].(string)
	e.Description, _ = meta["description"].(string)
	if tags, ok := meta["tags"].([]any); ok {
		for _, t := range tags {
			if s, ok := t.(string); ok {
				e.Tags = append(e.Tags, s)
			}
		}
	}
	e.Labels = stringMap(meta["labels"])
	e.Annotations = stringMap(meta["annotations"])
	return e, nil
}

func stringMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		return map[string]string{}
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// BuiltinKind reports whether kind (any case) is one of the kinds catalogd knows the spec of,
// and returns its canonical spelling.
func BuiltinKind(kind string) (string, bool) {
	switch strings.ToLower(kind) {
	case "component":
		return "Component", true
	case "api":
		return "API", true
	case "resource":
		return "Resource", true
	case "system":
		return "System", true
	case "domain":
		return "Domain", true
	case "group":
		return "Group", true
	case "user":
		return "User", true
	case "location":
		return "Location", true
	case "template":
		return "Template", true
	}
	return "", false
}

// SortedKeys returns the keys of m in order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
