package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// SchemaBaseURL is the $id prefix of the descriptor schemas in the repository's schema/ folder.
const SchemaBaseURL = "https://catalogd.dev/schema/"

// Validator checks documents against the JSON Schemas of the descriptor kinds: the envelope
// rules of entity.schema.json for every entity, plus kinds/<kind>.schema.json for built-in kinds.
// It is safe for concurrent use.
type Validator struct {
	entity  *jsonschema.Schema
	kinds   map[string]*jsonschema.Schema // by lower-case kind
	printer *message.Printer
}

// NewValidator compiles the schemas found in fsys (entity.schema.json and kinds/*.schema.json).
func NewValidator(fsys fs.FS) (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.UseLoader(fsLoader{fsys})
	v := &Validator{kinds: map[string]*jsonschema.Schema{}, printer: message.NewPrinter(language.English)}
	var err error
	if v.entity, err = c.Compile(SchemaBaseURL + "entity.schema.json"); err != nil {
		return nil, fmt.Errorf("compile entity schema: %w", err)
	}
	files, err := fs.Glob(fsys, "kinds/*.schema.json")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		s, err := c.Compile(SchemaBaseURL + f)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", f, err)
		}
		v.kinds[strings.TrimSuffix(path.Base(f), ".schema.json")] = s
	}
	return v, nil
}

type fsLoader struct{ fsys fs.FS }

func (l fsLoader) Load(url string) (any, error) {
	name, ok := strings.CutPrefix(url, SchemaBaseURL)
	if !ok {
		return nil, fmt.Errorf("schema %s is outside %s", url, SchemaBaseURL)
	}
	b, err := fs.ReadFile(l.fsys, name)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// Validate returns the problems of a document, each with the JSON pointer of the offending
// value, sorted by path. Unknown kinds are held to the envelope rules only and kept as generic
// entities (Backstage would need a processor for them).
func (v *Validator) Validate(doc map[string]any) []Problem {
	s := v.entity
	if kind, ok := doc["kind"].(string); ok {
		if ks, ok := v.kinds[strings.ToLower(kind)]; ok {
			s = ks
		}
	}
	err := s.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Problem{{Message: err.Error()}}
	}
	var out []Problem
	seen := map[Problem]bool{}
	var walk func(e *jsonschema.ValidationError, parent []string)
	walk = func(e *jsonschema.ValidationError, parent []string) {
		loc := e.InstanceLocation
		if pn, ok := e.ErrorKind.(*kind.PropertyNames); ok {
			// jsonschema v6.0.3 garbles the instance location of propertyNames errors (and their
			// causes are relative to the key itself): report them at the object holding the key.
			loc = keyOwner(doc, parent, pn.Property)
		} else if !hasPrefix(loc, parent) {
			loc = parent
		}
		if len(e.Causes) == 0 {
			tokens := make([]string, len(loc))
			for i, t := range loc {
				tokens[i] = PointerToken(t)
			}
			// The schema library quotes the offending value whole: keep an excerpt.
			p := Problem{Path: Excerpt("/"+strings.Join(tokens, "/"), MaxExcerpt), Message: Excerpt(e.ErrorKind.LocalizedString(v.printer), 2*MaxExcerpt)}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
			return
		}
		for _, c := range e.Causes {
			walk(c, loc)
		}
	}
	walk(ve, nil)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// keyOwner finds, at or below the value at path, the first object that has key (breadth-first),
// and returns its path; path itself when there is none.
func keyOwner(doc any, path []string, key string) []string {
	v := doc
	for _, t := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return path
		}
		v = m[t]
	}
	type item struct {
		v    any
		path []string
	}
	queue := []item{{v, path}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		m, ok := it.v.(map[string]any)
		if !ok {
			continue
		}
		if _, ok := m[key]; ok {
			return it.path
		}
		for _, k := range SortedKeys(m) {
			queue = append(queue, item{m[k], append(append([]string{}, it.path...), k)})
		}
	}
	return path
}

func hasPrefix(s, prefix []string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i, p := range prefix {
		if s[i] != p {
			return false
		}
	}
	return true
}
