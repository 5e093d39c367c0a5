package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// PlaceholderReader returns the content of a placeholder's target (a path relative to the
// document's own file, or a URL).
type PlaceholderReader func(target string) ([]byte, error)

// ResolvePlaceholders replaces, in place, every object of the form {$text: target},
// {$json: target} or {$yaml: target} with the target's content: the text as a string, or the
// parsed JSON or YAML value. It follows Backstage's PlaceholderProcessor: an object with a
// "$" key and other keys, an unknown "$" key (JSON Schema's $ref in a Template, say) and a
// target that is not a string are all left as they are, contents included.
func ResolvePlaceholders(doc map[string]any, read PlaceholderReader) []Problem {
	var problems []Problem
	// The JSON pointer of the value being walked, as its tokens: the text is built only for a
	// problem (building it for every value cost most of the walk).
	var path []string
	pointer := func() string {
		var b strings.Builder
		for _, t := range path {
			b.WriteByte('/')
			b.WriteString(t)
		}
		return b.String()
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			hasDollar := false
			for k := range x {
				if strings.HasPrefix(k, "$") {
					hasDollar = true
					break
				}
			}
			if !hasDollar {
				for k, val := range x {
					if !isContainer(val) {
						continue // a scalar stays as it is
					}
					path = append(path, PointerToken(k))
					x[k] = walk(val)
					path = path[:len(path)-1]
				}
				return x
			}
			if len(x) != 1 {
				return x
			}
			for k, target := range x {
				t, ok := target.(string)
				if !ok || (k != "$text" && k != "$json" && k != "$yaml") {
					return x
				}
				val, err := resolvePlaceholder(k, t, read)
				if err != nil {
					problems = append(problems, Problem{pointer(), err.Error()})
					return x
				}
				return val
			}
		case []any:
			for i, val := range x {
				if !isContainer(val) {
					continue
				}
				path = append(path, strconv.Itoa(i))
				x[i] = walk(val)
				path = path[:len(path)-1]
			}
		}
		return v
	}
	walk(doc)
	return problems
}

func isContainer(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

// PointerToken escapes a key for use in a JSON pointer (RFC 6901): ~ as ~0, / as ~1.
func PointerToken(k string) string {
	if !strings.ContainsAny(k, "~/") {
		return k
	}
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

func resolvePlaceholder(key, target string, read PlaceholderReader) (any, error) {
	if target == "" {
		return nil, fmt.Errorf("placeholder %s needs a target", key)
	}
	data, err := read(target)
	if err != nil {
		return nil, fmt.Errorf("placeholder %s %s: %s", key, Excerpt(target, MaxExcerpt), Excerpt(err.Error(), 2*MaxExcerpt))
	}
	switch key {
	case "$json":
		v, err := decodeJSONValue(data)
		if err != nil {
			return nil, fmt.Errorf("placeholder $json %s: invalid JSON: %s", Excerpt(target, MaxExcerpt), Excerpt(err.Error(), MaxExcerpt))
		}
		return v, nil
	case "$yaml":
		docs := ParseDocuments(data, len(data)+1)
		if len(docs) != 1 {
			return nil, fmt.Errorf("placeholder $yaml %s: want exactly one YAML document, found %d", Excerpt(target, MaxExcerpt), len(docs))
		}
		v, err := decodeYAML(data, 1)
		if err != nil {
			return nil, fmt.Errorf("placeholder $yaml %s: %v", Excerpt(target, MaxExcerpt), err)
		}
		return v, nil
	}
	return string(data), nil
}

func decodeJSONValue(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}
