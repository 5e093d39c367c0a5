package scaffold

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"catalogd/internal/catalog"
)

// APIVersion is the apiVersion of the templates this package runs.
const APIVersion = "scaffolder.backstage.io/v1beta3"

// ParseTemplate reads a Template from an entity's JSON (as the catalog stores it: apiVersion,
// kind, metadata, spec). BaseURL is the folder of the backstage.io/managed-by-location
// annotation (or the origin location's). Errors are *catalog.Error with EINVALID and a path.
func ParseTemplate(entityJSON []byte) (*Template, error) {
	var doc struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name        string            `json:"name"`
			Namespace   string            `json:"namespace"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			Parameters json.RawMessage  `json:"parameters"`
			Steps      []map[string]any `json:"steps"`
			Output     map[string]any   `json:"output"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(entityJSON, &doc); err != nil {
		return nil, catalog.Errorf(catalog.EINVALID, "template: %s", excerpt(err.Error(), 200))
	}
	if !strings.EqualFold(doc.Kind, "Template") {
		return nil, catalog.Errorf(catalog.EINVALID, "/kind: %q is not a Template", excerpt(doc.Kind, 60))
	}
	if doc.APIVersion != APIVersion {
		return nil, catalog.Errorf(catalog.EINVALID, "/apiVersion: %q is not %s", excerpt(doc.APIVersion, 60), APIVersion)
	}
	ns := doc.Metadata.Namespace
	if ns == "" {
		ns = catalog.DefaultNamespace
	}
	t := &Template{
		Ref:    catalog.Ref{Kind: "template", Namespace: ns, Name: doc.Metadata.Name}.String(),
		Output: doc.Spec.Output,
	}
	for _, key := range []string{catalog.AnnotationManagedByLocation, catalog.AnnotationManagedByOriginLocation} {
		if loc := doc.Metadata.Annotations[key]; loc != "" {
			t.BaseURL = baseOf(loc)
			break
		}
	}
	if len(doc.Spec.Parameters) > 0 && string(doc.Spec.Parameters) != "null" {
		var list []map[string]any
		var one map[string]any
		if err := json.Unmarshal(doc.Spec.Parameters, &list); err != nil {
			if err := json.Unmarshal(doc.Spec.Parameters, &one); err != nil {
				return nil, catalog.Errorf(catalog.EINVALID, "/spec/parameters: an object or a list of objects is needed")
			}
			list = []map[string]any{one}
		}
		for i, p := range list {
			title, _ := p["title"].(string)
			schema, _ := stripUI(p).(map[string]any)
			if _, err := compileSchema(schema); err != nil {
				return nil, catalog.Errorf(catalog.EINVALID, "/spec/parameters/%d: not a valid JSON Schema: %s", i, excerpt(err.Error(), 200))
			}
			t.Parameters = append(t.Parameters, ParameterStep{Title: title, Schema: schema})
		}
	}
	seen := map[string]bool{}
	for i, s := range doc.Spec.Steps {
		st := StepSpec{If: s["if"], Each: s["each"]}
		st.ID, _ = s["id"].(string)
		st.Name, _ = s["name"].(string)
		st.Action, _ = s["action"].(string)
		if st.ID == "" {
			st.ID = fmt.Sprintf("step-%d", i+1)
		}
		if st.Name == "" {
			st.Name = st.ID
		}
		if seen[st.ID] {
			return nil, catalog.Errorf(catalog.EINVALID, "/spec/steps/%d/id: %q is used by an earlier step", i, excerpt(st.ID, 60))
		}
		seen[st.ID] = true
		if st.Action == "" {
			return nil, catalog.Errorf(catalog.EINVALID, "/spec/steps/%d/action: required", i)
		}
		if in, ok := s["input"]; ok && in != nil {
			m, ok := in.(map[string]any)
			if !ok {
				return nil, catalog.Errorf(catalog.EINVALID, "/spec/steps/%d/input: an object is needed", i)
			}
			st.Input = m
		}
		t.Steps = append(t.Steps, st)
	}
	return t, nil
}

// baseOf returns the folder URL of a location annotation value: "file:/a/b/t.yaml" gives
// "file:///a/b/", "url:https://h/o/r/blob/main/t/template.yaml" gives "https://h/o/r/blob/main/t/".
func baseOf(loc string) string {
	typ, target, ok := strings.Cut(loc, ":")
	if !ok {
		return ""
	}
	switch typ {
	case "file":
		target = strings.TrimPrefix(target, "file://")
		if !strings.HasPrefix(target, "/") {
			return ""
		}
		return "file://" + path.Dir(path.Clean(target)) + "/"
	case "url":
		if i := strings.LastIndex(target, "/"); i > len("https://") {
			return target[:i+1]
		}
	}
	return ""
}

// stripUI removes the ui:* keys (form hints for Backstage's frontend) from a schema.
func stripUI(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if !strings.HasPrefix(k, "ui:") {
				out[k] = stripUI(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = stripUI(x)
		}
		return out
	}
	return v
}

// compileSchema compiles one JSON Schema given as decoded JSON.
func compileSchema(schema map[string]any) (*jsonschema.Schema, error) {
	s := maps.Clone(schema)
	if s == nil {
		s = map[string]any{}
	}
	if _, ok := s["type"]; !ok {
		s["type"] = "object"
	}
	doc, err := roundTrip(s)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7) // Backstage's forms use draft 7
	if err := c.AddResource("mem:///schema.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("mem:///schema.json")
}

// roundTrip turns any JSON-able value into the form the schema library reads.
func roundTrip(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// ValidateValues checks values against every parameter step's JSON Schema, applying defaults,
// and returns the values to run with. Errors are EINVALID and name the field
// ("/name: does not match pattern …").
func (t *Template) ValidateValues(values map[string]any) (map[string]any, error) {
	b, err := json.Marshal(values)
	if err != nil {
		return nil, catalog.Errorf(catalog.EINVALID, "values: %s", excerpt(err.Error(), 200))
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil || out == nil {
		out = map[string]any{}
	}
	for _, p := range t.Parameters {
		applyDefaults(p.Schema, out)
	}
	var problems []string
	for i, p := range t.Parameters {
		s, err := compileSchema(p.Schema)
		if err != nil {
			return nil, catalog.Errorf(catalog.EINVALID, "parameters step %d: %s", i+1, excerpt(err.Error(), 200))
		}
		inst, err := roundTrip(out)
		if err != nil {
			return nil, catalog.Errorf(catalog.EINVALID, "values: %s", excerpt(err.Error(), 200))
		}
		if err := s.Validate(inst); err != nil {
			problems = append(problems, schemaProblems(err)...)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		problems = dedupe(problems)
		if len(problems) > 10 {
			problems = append(problems[:10], fmt.Sprintf("and %d more", len(problems)-10))
		}
		return nil, catalog.Errorf(catalog.EINVALID, "invalid values: %s", strings.Join(problems, "; "))
	}
	return out, nil
}

// applyDefaults fills the missing properties of v that have a default in schema, recursively.
func applyDefaults(schema map[string]any, v map[string]any) {
	props, _ := schema["properties"].(map[string]any)
	for _, k := range sortedKeys(props) {
		ps, _ := props[k].(map[string]any)
		if ps == nil {
			continue
		}
		if _, ok := v[k]; !ok {
			if d, ok := ps["default"]; ok {
				v[k] = d
			}
		}
		if sub, ok := v[k].(map[string]any); ok {
			applyDefaults(ps, sub)
		}
	}
}

var printer = message.NewPrinter(language.English)

// schemaProblems flattens a validation error into "/path: message" lines.
func schemaProblems(err error) []string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{excerpt(err.Error(), 200)}
	}
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		loc := "/" + strings.Join(e.InstanceLocation, "/")
		if r, ok := e.ErrorKind.(*kind.Required); ok {
			for _, m := range r.Missing {
				out = append(out, strings.TrimSuffix(loc, "/")+"/"+m+": required")
			}
			return
		}
		out = append(out, excerpt(loc, 100)+": "+excerpt(e.ErrorKind.LocalizedString(printer), 200))
	}
	walk(ve)
	return out
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
