package model

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"
	"unicode/utf8"

	"catalogd/ent"
	"catalogd/internal/catalog"
)

// Entity is implemented by the GraphQL type of every kind.
type Entity interface {
	IsNode()
	IsEntity()
	base() *Base
}

// Base implements the fields every kind has. It is embedded in each kind's type.
type Base struct {
	E     *ent.Entity
	batch *Batch

	docOnce sync.Once
	doc     map[string]any
	rawOnce sync.Once
	raw     map[string]json.RawMessage
}

func (b *Base) base() *Base { return b }

// IsNode marks entities as Relay nodes.
func (*Base) IsNode() {}

// IsEntity marks the Entity interface.
func (*Base) IsEntity() {}

// Document is the stored descriptor, decoded once.
func (b *Base) Document() map[string]any {
	b.docOnce.Do(func() {
		b.doc = map[string]any{}
		if len(b.E.Document) > 0 {
			dec := json.NewDecoder(bytes.NewReader(b.E.Document))
			dec.UseNumber()
			_ = dec.Decode(&b.doc)
		}
	})
	return b.doc
}

// rawDocument is the stored descriptor's top-level values as stored, split once: metadata and
// spec are written from these bytes, without decoding them into maps and encoding them again.
func (b *Base) rawDocument() map[string]json.RawMessage {
	b.rawOnce.Do(func() {
		if len(b.E.Document) > 0 {
			_ = json.Unmarshal(b.E.Document, &b.raw)
		}
	})
	return b.raw
}

// rawValue is a top-level value of the stored descriptor as stored: found by skipping over
// the members before it (topLevel), or from the document split in full when it is not one
// that scanner reads.
func (b *Base) rawValue(key string) []byte {
	if v, ok := topLevel(b.E.Document, key); ok {
		return v
	}
	return b.rawDocument()[key]
}

// rawString is a top-level string of the stored descriptor, or "".
func (b *Base) rawString(key string) string {
	v := b.rawValue(key)
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	if s := v[1 : len(v)-1]; bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s)
	}
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

// rawObject is a top-level object of the stored descriptor as stored, or {}.
func (b *Base) rawObject(key string) RawJSON {
	if v := b.rawValue(key); len(v) > 0 && v[0] == '{' {
		return RawJSON(v)
	}
	return RawJSON("{}")
}

func (b *Base) metadataMap() map[string]any {
	m, _ := b.Document()["metadata"].(map[string]any)
	return m
}

func (b *Base) specMap() map[string]any {
	m, _ := b.Document()["spec"].(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

func (b *Base) specString(key string) string {
	s, _ := b.specMap()[key].(string)
	return s
}

func (b *Base) specStringPtr(key string) *string {
	if s, ok := b.specMap()[key].(string); ok {
		return &s
	}
	return nil
}

// ID is the entity's global node ID (see NodeID).
func (b *Base) ID() string           { return EntityNodeID(b.E.ID) }
func (b *Base) Ref() string          { return b.E.Ref }
func (b *Base) Namespace() string    { return b.E.Namespace }
func (b *Base) Name() string         { return b.E.Name }
func (b *Base) Source() string       { return b.E.Source }
func (b *Base) Location() string     { return b.E.Location }
func (b *Base) CreatedAt() time.Time { return b.E.CreatedAt }
func (b *Base) UpdatedAt() time.Time { return b.E.UpdatedAt }

// Kind is the kind as declared (the ref holds it in lower case).
func (b *Base) Kind() string {
	if k := b.rawString("kind"); k != "" {
		return k
	}
	return b.E.Kind
}

func (b *Base) APIVersion() string {
	if v := b.rawString("apiVersion"); v != "" {
		return v
	}
	return b.E.APIVersion
}

func (b *Base) Title() *string       { return nonEmpty(b.E.Title) }
func (b *Base) Description() *string { return nonEmpty(b.E.Description) }

func (b *Base) Tags() []string {
	if b.E.Tags == nil {
		return []string{}
	}
	return b.E.Tags
}

func (b *Base) Labels() []*KeyValue      { return keyValues(b.E.Labels) }
func (b *Base) Annotations() []*KeyValue { return keyValues(b.E.Annotations) }

func (b *Base) Annotation(key string) *string {
	if v, ok := b.E.Annotations[key]; ok {
		return &v
	}
	return nil
}

func (b *Base) Links() []*Link {
	var out []*Link
	list, _ := b.metadataMap()["links"].([]any)
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		l := &Link{}
		l.URL, _ = m["url"].(string)
		l.Title = optString(m, "title")
		l.Icon = optString(m, "icon")
		l.Type = optString(m, "type")
		out = append(out, l)
	}
	if out == nil {
		return []*Link{}
	}
	return out
}

func (b *Base) Metadata() RawJSON { return b.rawObject("metadata") }
func (b *Base) Spec() RawJSON     { return b.rawObject("spec") }

// Relations are the entity's relations, optionally of one type, ordered by type and target.
func (b *Base) Relations(ctx context.Context, typeArg *string) ([]*Relation, error) {
	rels, err := b.batch.relations(ctx, b.E.Ref)
	if err != nil {
		return nil, err
	}
	if typeArg == nil {
		if rels == nil {
			return []*Relation{}, nil
		}
		return rels, nil
	}
	out := []*Relation{}
	for _, r := range rels {
		if r.Type == *typeArg {
			out = append(out, r)
		}
	}
	return out, nil
}

func (b *Base) ProcessingErrors() ([]*ent.ProcessingError, error) {
	errs, err := b.batch.processingErrors(b.batch.ctx, b.E.Ref)
	if errs == nil {
		errs = []*ent.ProcessingError{}
	}
	return errs, err
}

// targets returns the existing targets of the entity's relations of one type.
func (b *Base) targets(ctx context.Context, relType string) ([]Entity, error) {
	rels, err := b.batch.relations(ctx, b.E.Ref)
	if err != nil {
		return nil, err
	}
	out := []Entity{}
	for _, r := range rels {
		if r.Type != relType {
			continue
		}
		t, err := b.batch.target(ctx, "", r.TargetRef)
		if err != nil {
			return nil, err
		}
		if t != nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// target returns the first existing target of a relation type.
func (b *Base) target(ctx context.Context, relType string) (Entity, error) {
	ts, err := b.targets(ctx, relType)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	return ts[0], nil
}

// targetOf returns the existing target of a relation type declared by a single-ref spec
// field, picking the one that field names when several relations of the type exist. Its
// targets load per relation type: a page asking only for owners loads only owners.
func targetOf[T Entity](ctx context.Context, b *Base, relType, wantRef string) (T, error) {
	var zero T
	if wantRef == "" {
		return zero, nil
	}
	rels, err := b.batch.relations(ctx, b.E.Ref)
	if err != nil {
		return zero, err
	}
	for _, r := range rels {
		if r.Type == relType && r.TargetRef == wantRef {
			t, err := b.batch.target(ctx, relType, r.TargetRef)
			if err != nil {
				return zero, err
			}
			if tt, ok := t.(T); ok {
				return tt, nil
			}
		}
	}
	return zero, nil
}

func targetsOfKind[T Entity](ctx context.Context, b *Base, relType string) ([]T, error) {
	ts, err := b.targets(ctx, relType)
	if err != nil {
		return nil, err
	}
	out := []T{}
	for _, t := range ts {
		if tt, ok := t.(T); ok {
			out = append(out, tt)
		}
	}
	return out, nil
}

// specRef returns the canonical ref a spec field names, or "".
func (b *Base) specRef(field, defaultKind string) string {
	s := b.specString(field)
	if s == "" {
		return ""
	}
	ref, err := catalog.CanonicalRef(s, catalog.RefDefaults{Kind: defaultKind, Namespace: b.E.Namespace})
	if err != nil {
		return ""
	}
	return ref
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optString(m map[string]any, key string) *string {
	if s, ok := m[key].(string); ok {
		return &s
	}
	return nil
}

func keyValues(m map[string]string) []*KeyValue {
	out := make([]*KeyValue, 0, len(m))
	for _, k := range catalog.SortedKeys(m) {
		out = append(out, &KeyValue{Key: k, Value: m[k]})
	}
	return out
}

// Freshness says where the entity comes from and when a source last confirmed it: its
// location's last confirming read, unless a read kept it without confirming it (its file
// failed), which the entity then records itself.
func (b *Base) Freshness() (*EntityFreshness, error) {
	loc, err := b.batch.location(b.E.Location)
	if err != nil {
		return nil, err
	}
	f := &EntityFreshness{Location: b.E.Location, FirstSeenAt: b.E.CreatedAt, LastChangedAt: b.E.UpdatedAt}
	if loc != nil {
		f.Provider, f.Revision, f.LastObservedAt = loc.Provider, loc.Revision, loc.LastObservedAt
	}
	if b.E.ObservedAt != nil {
		f.LastObservedAt = b.E.ObservedAt
		if b.E.ObservedAt.Unix() == 0 {
			f.LastObservedAt = nil // kept before any read confirmed it
		}
	}
	return f, nil
}
