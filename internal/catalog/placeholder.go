package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// PlaceholderReader returns the content of a placeholder's target (a path relative to the
// document's own file, or a URL).
type PlaceholderReader func(target string) ([]byte, error)

// ResolvePlaceholders replaces, in place, every object of the form {$text: target},
// {$json: target} or {$yaml: target} with the target's content: the text as a string, or the
// parsed JSON or YAML value. This is Backstage's PlaceholderProcessor; an object with a single
// key starting with "$" that is none of these is an error, as there.
func ResolvePlaceholders(doc map[string]any, read PlaceholderReader) []Problem {
	var problems []Problem
	var walk func(v any, path string) any
	walk = func(v any, path string) any {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 1 {
				for k, target := range x {
					if !strings.HasPrefix(k, "$") {
						break
					}
					val, err := resolvePlaceholder(k, target, read)
					if err != nil {
						problems = append(problems, Problem{path, err.Error()})
						return v
					}
					return val
				}
			}
			for k, val := range x {
				x[k] = walk(val, path+"/"+k)
			}
		case []any:
			for i, val := range x {
				x[i] = walk(val, fmt.Sprintf("%s/%d", path, i))
			}
		}
		return v
	}
	walk(doc, "")
	return problems
}

func resolvePlaceholder(key string, target any, read PlaceholderReader) (any, error) {
	if key != "$text" && key != "$json" && key != "$yaml" {
		return nil, fmt.Errorf("placeholder %s is not supported (use $text, $json or $yaml)", key)
	}
	t, ok := target.(string)
	if !ok || t == "" {
		return nil, fmt.Errorf("placeholder %s needs a string target", key)
	}
	data, err := read(t)
	if err != nil {
		return nil, fmt.Errorf("placeholder %s %s: %v", key, t, err)
	}
	switch key {
	case "$json":
		v, err := decodeJSONValue(data)
		if err != nil {
			return nil, fmt.Errorf("placeholder $json %s: invalid JSON: %v", t, err)
		}
		return v, nil
	case "$yaml":
		var raw any
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("placeholder $yaml %s: invalid YAML: %v", t, err)
		}
		v, err := normalize(raw, "")
		if err != nil {
			return nil, fmt.Errorf("placeholder $yaml %s: %v", t, err)
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
	return v, nil
}
