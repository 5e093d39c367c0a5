package model

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestTopLevelIsTheFullDecodes: for random JSON objects, written compact, with spaces (as
// PostgreSQL's jsonb writes them) and indented, every top-level member topLevel finds is the
// one a full decode into map[string]json.RawMessage gives (compared after compaction), and
// it finds none a full decode does not: strings with escaped quotes and backslashes, braces
// and brackets inside strings, nested objects and arrays, numbers and literals.
func TestTopLevelIsTheFullDecodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	keys := []string{"apiVersion", "kind", "metadata", "spec", "relations", "k", "kind2", "ki"}
	var value func(depth int) any
	value = func(depth int) any {
		switch r := rng.IntN(9); {
		case r == 0:
			return rng.Float64()*1e6 - 5e5
		case r == 1:
			return rng.IntN(2) == 0
		case r == 2:
			return nil
		case r < 5 || depth > 3:
			parts := []string{"a", "\"", "\\", "{", "}", "[", "]", ",", ":", " ", "é", "\n", "\\\"", "kind"}
			var b strings.Builder
			for range rng.IntN(6) {
				b.WriteString(parts[rng.IntN(len(parts))])
			}
			return b.String()
		case r < 7:
			m := map[string]any{}
			for range rng.IntN(4) {
				m[keys[rng.IntN(len(keys))]] = value(depth + 1)
			}
			return m
		default:
			var a []any
			for range rng.IntN(4) {
				a = append(a, value(depth+1))
			}
			return a
		}
	}
	for range 3000 {
		obj := map[string]any{}
		for range rng.IntN(6) {
			obj[keys[rng.IntN(len(keys))]] = value(0)
		}
		compact, _ := json.Marshal(obj)
		indented, _ := json.MarshalIndent(obj, "", "  ")
		spaced := bytes.ReplaceAll(bytes.ReplaceAll(indented, []byte("\n"), nil), []byte("  "), nil)
		for _, doc := range [][]byte{compact, indented, spaced} {
			var full map[string]json.RawMessage
			if err := json.Unmarshal(doc, &full); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				v, ok := topLevel(doc, k)
				if !ok {
					t.Fatalf("topLevel(%s, %q) could not read it", doc, k)
				}
				want, has := full[k]
				if found := v != nil; found != has {
					t.Fatalf("topLevel(%s, %q): found %v, the full decode %v", doc, k, found, has)
				}
				if !has {
					continue
				}
				var a, b bytes.Buffer
				if err := json.Compact(&a, v); err != nil {
					t.Fatalf("topLevel(%s, %q) = %s: %v", doc, k, v, err)
				}
				json.Compact(&b, want)
				if a.String() != b.String() {
					t.Fatalf("topLevel(%s, %q) = %s, the full decode %s", doc, k, v, want)
				}
			}
		}
	}
	for _, bad := range []string{"", "[1]", `{"a":`, `{"a":1`, `{"a\"b":1}`, `{"a" 1}`, `{"a":"x`, `{"a":{"b":1}`, "null"} {
		if _, ok := topLevel([]byte(bad), "zz"); ok {
			t.Errorf("topLevel(%q) read it; it should leave it to the full decode", bad)
		}
	}
}
