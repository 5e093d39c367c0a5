package model

import (
	"bytes"
	"encoding/base64"
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"catalogd/internal/depgraph"
)

// A page of affected entities is the largest part of an impact answer: up to 10,000 entities
// with their paths. gqlgen's generated executor writes each of their fields through a field
// context, the field middleware, a recover and a marshaller closure of its own, and each ref of
// each path the same way; for a full page that is most of the answer's time.
// AffectedMarshaler writes such a page directly from the traversal instead, byte for byte as
// the generated executor does, when the selection asks only for fields it knows how to
// write; otherwise the generated executor writes the page.

// affectedField is a field of ImpactedEntity the direct writer writes.
type affectedField int

const (
	afTypename affectedField = iota
	afRef
	afDepth
	afPath
	afCursor
)

var affectedFields = map[string]affectedField{
	"__typename": afTypename, "ref": afRef, "depth": afDepth, "path": afPath, "cursor": afCursor,
}

// impactedEntityType is what ImpactedEntity satisfies in field collection (the generated
// executor's implementors list for it).
var impactedEntityType = []string{"ImpactedEntity"}

// AffectedMarshaler returns a marshaller that writes the page as the generated executor would
// for the selection sel (aliases, fragments, @include and @skip applied by gqlgen's own field
// collection), or nil when sel selects a field it does not write (entity, contacts) or defers
// one.
func AffectedMarshaler(oc *graphql.OperationContext, sel ast.SelectionSet, page []*ImpactedEntity) graphql.Marshaler {
	m := &affectedList{page: page}
	seen := map[string]bool{}
	for _, f := range graphql.CollectFields(oc, sel, impactedEntityType) {
		kind, ok := affectedFields[f.Name]
		if !ok || len(f.Deferrables) > 0 {
			return nil
		}
		if seen[f.Alias] { // as the generated executor's field set: the first of an alias wins
			continue
		}
		seen[f.Alias] = true
		m.names = append(m.names, depgraph.AppendQuoted(nil, f.Alias))
		m.kinds = append(m.kinds, kind)
	}
	return m
}

type affectedList struct {
	page  []*ImpactedEntity
	names [][]byte // quoted aliases, in the order of the collected fields
	kinds []affectedField
}

// flushAt is the size at which the writer hands its buffer to the answer.
const flushAt = 64 << 10

func (m *affectedList) MarshalGQL(w io.Writer) {
	// A page of a large walk that the snapshot keeps is written once for each selection and
	// position, and copied from then on.
	if len(m.page) > 0 && m.page[0].walk.Cached() {
		w.Write(m.page[0].walk.Memo(m.memoKey(), func() []byte {
			var b bytes.Buffer
			m.write(&b)
			return b.Bytes()
		}))
		return
	}
	m.write(w)
}

// memoKey names the page (its first position and length) and the selection it writes.
func (m *affectedList) memoKey() string {
	key := make([]byte, 0, 64)
	key = strconv.AppendInt(key, int64(m.page[0].pos), 10)
	key = append(key, ' ')
	key = strconv.AppendInt(key, int64(len(m.page)), 10)
	for j, kind := range m.kinds {
		key = append(key, ' ', byte('0'+kind))
		key = append(key, m.names[j]...)
	}
	return string(key)
}

func (m *affectedList) write(w io.Writer) {
	if b, ok := w.(*bytes.Buffer); ok {
		// The executor's answer buffer would otherwise grow by doubling, copying and clearing
		// megabytes several times.
		b.Grow(m.size())
	}
	buf := make([]byte, 0, flushAt+4096)
	var path []int
	buf = append(buf, '[')
	for k, e := range m.page {
		if k > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '{')
		for j, kind := range m.kinds {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, m.names[j]...)
			buf = append(buf, ':')
			switch kind {
			case afTypename:
				buf = append(buf, `"ImpactedEntity"`...)
			case afRef:
				buf = e.walk.AppendQuotedRef(buf, e.pos)
			case afDepth:
				buf = strconv.AppendInt(buf, int64(e.Depth), 10)
			case afPath:
				buf, path = appendPath(buf, path, e.walk, e.pos)
			case afCursor:
				// Base64 needs no escaping: quoting it is adding the quotes.
				buf = append(buf, '"')
				buf = base64.RawURLEncoding.AppendEncode(buf, []byte(cursorPrefix+e.Ref))
				buf = append(buf, '"')
			}
		}
		buf = append(buf, '}')
		if len(buf) >= flushAt {
			w.Write(buf)
			buf = buf[:0]
		}
	}
	buf = append(buf, ']')
	w.Write(buf)
}

// size estimates the bytes MarshalGQL writes (exactly, unless strings need escaping).
func (m *affectedList) size() int {
	fixed := 2 // {}
	for j, kind := range m.kinds {
		fixed += len(m.names[j]) + 2 // name, colon, comma
		switch kind {
		case afTypename:
			fixed += len(`"ImpactedEntity"`)
		case afDepth:
			fixed += 2
		}
	}
	n := 2 + len(m.page)*fixed
	for _, e := range m.page {
		for _, kind := range m.kinds {
			switch kind {
			case afRef:
				n += len(e.Ref) + 2
			case afCursor:
				n += base64.RawURLEncoding.EncodedLen(len(cursorPrefix)+len(e.Ref)) + 2
			case afPath:
				n += 2
				for p := e.pos; p >= 0; p = e.walk.Parent(p) {
					n += len(e.walk.Ref(p)) + 3
				}
			}
		}
	}
	return n
}

// appendPath writes the refs of the path to position pos as a JSON list; scratch holds the
// positions on the way (reused between calls).
func appendPath(buf []byte, scratch []int, walk *depgraph.Traversal, pos int) ([]byte, []int) {
	scratch = scratch[:0]
	for p := pos; p >= 0; p = walk.Parent(p) {
		scratch = append(scratch, p)
	}
	buf = append(buf, '[')
	for k := len(scratch) - 1; k >= 0; k-- {
		buf = walk.AppendQuotedRef(buf, scratch[k])
		if k > 0 {
			buf = append(buf, ',')
		}
	}
	return append(buf, ']'), scratch
}
