package catalog

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// fakeFiles is a PlaceholderReader over a fixed set of files that records what was read.
type fakeFiles struct {
	files map[string]string
	reads []string
}

func (f *fakeFiles) read(target string) ([]byte, error) {
	f.reads = append(f.reads, target)
	content, ok := f.files[target]
	if !ok {
		return nil, errors.New("no such file")
	}
	return []byte(content), nil
}

var placeholderFiles = map[string]string{
	"./api.yaml":   "openapi: 3.0.0\ninfo: {title: Artists}\n",
	"./data.json":  `{"count": 12, "ratio": 0.5, "tags": ["a", true, null], "nested": {"$text": "./api.yaml"}}`,
	"./data.yaml":  "count: 12\nenabled: yes\nlist: [1, x]\n",
	"./list.json":  `[1, "two"]`,
	"./note.txt":   "hello\n",
	"./bad.json":   `{"a": `,
	"./bad.yaml":   "a: [1\n",
	"./nan.yaml":   "ratio: .nan\n",
	"./trail.json": `{"a": 1} {"b": 2}`,
	"./two.yaml":   "a: 1\n---\nb: 2\n",
}

func TestResolvePlaceholdersReplacesTextJSONAndYAML(t *testing.T) {
	cases := []struct {
		name  string
		doc   string // YAML
		want  string // YAML of the document after resolution, or "" for "unchanged"
		reads []string
	}{
		{
			name:  "$text becomes the file's content as a string",
			doc:   "spec: {definition: {$text: ./api.yaml}}",
			want:  "spec: {definition: \"openapi: 3.0.0\\ninfo: {title: Artists}\\n\"}",
			reads: []string{"./api.yaml"},
		},
		{
			name:  "$json becomes the parsed JSON, with numbers as json.Number",
			doc:   "spec: {data: {$json: ./data.json}}",
			want:  "spec: {data: {count: 12, ratio: 0.5, tags: [a, true, null], nested: {$text: ./api.yaml}}}",
			reads: []string{"./data.json"},
		},
		{
			name:  "$yaml becomes the parsed YAML, read as documents are",
			doc:   "spec: {data: {$yaml: ./data.yaml}}",
			want:  "spec: {data: {count: 12, enabled: 'yes', list: [1, x]}}",
			reads: []string{"./data.yaml"},
		},
		{
			name:  "a placeholder inside a list is replaced in place",
			doc:   "spec: {items: [plain, {$text: ./note.txt}, {$json: ./list.json}]}",
			want:  "spec: {items: [plain, \"hello\\n\", [1, two]]}",
			reads: []string{"./note.txt", "./list.json"},
		},
		{
			name:  "a placeholder deep inside objects and lists is replaced",
			doc:   "metadata: {annotations: {a: {$text: ./note.txt}}}\nspec: {x: [[{y: {$text: ./note.txt}}]]}",
			want:  "metadata: {annotations: {a: \"hello\\n\"}}\nspec: {x: [[{y: \"hello\\n\"}]]}",
			reads: []string{"./note.txt", "./note.txt"},
		},
		{
			name:  "placeholders in the resolved content are not resolved again",
			doc:   "spec: {data: {$json: ./data.json}}",
			want:  "spec: {data: {count: 12, ratio: 0.5, tags: [a, true, null], nested: {$text: ./api.yaml}}}",
			reads: []string{"./data.json"},
		},
		{
			name:  "an object with a placeholder key and another key is left alone",
			doc:   "spec: {definition: {$text: ./api.yaml, title: x}}",
			reads: nil,
		},
		{
			name:  "an object with two placeholder keys is left alone",
			doc:   "spec: {definition: {$text: ./api.yaml, $json: ./data.json}}",
			reads: nil,
		},
		{
			name:  "a key that only contains '$' later is not a placeholder",
			doc:   "spec: {definition: {a$text: ./api.yaml}}",
			reads: nil,
		},
		{
			name:  "a document without placeholders is unchanged",
			doc:   "apiVersion: v1\nkind: Widget\nmetadata: {name: x, tags: [a]}\nspec: {n: 1, b: true, z: ~}",
			reads: nil,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := parseOne(t, c.doc)
			want := c.want
			if want == "" {
				want = c.doc
			}
			files := &fakeFiles{files: placeholderFiles}
			if problems := ResolvePlaceholders(doc, files.read); problems != nil {
				t.Fatalf("unexpected problems: %v", problems)
			}
			if w := parseOne(t, want); !reflect.DeepEqual(doc, w) {
				t.Errorf("document = %#v\nwant       %#v", doc, w)
			}
			sort.Strings(files.reads)
			wantReads := append([]string(nil), c.reads...)
			sort.Strings(wantReads)
			if !reflect.DeepEqual(files.reads, wantReads) {
				t.Errorf("read %q, want %q", files.reads, wantReads)
			}
		})
	}
}

func TestResolvePlaceholdersKeepsNumberTypes(t *testing.T) {
	doc := parseOne(t, "spec: {a: {$json: ./data.json}, b: {$yaml: ./data.yaml}}")
	files := &fakeFiles{files: placeholderFiles}
	if problems := ResolvePlaceholders(doc, files.read); problems != nil {
		t.Fatalf("unexpected problems: %v", problems)
	}
	spec := doc["spec"].(map[string]any)
	if got := spec["a"].(map[string]any)["ratio"]; got != json.Number("0.5") {
		t.Errorf("$json ratio = %#v, want json.Number(\"0.5\")", got)
	}
	if got := spec["b"].(map[string]any)["count"]; got != json.Number("12") {
		t.Errorf("$yaml count = %#v, want json.Number(\"12\")", got)
	}
}

func TestResolvePlaceholdersLeavesAMultiKeyObjectAndItsContentAlone(t *testing.T) {
	// Backstage's PlaceholderProcessor returns such an object as it is, without looking inside.
	doc := parseOne(t, "spec: {x: {$text: ./note.txt, inner: {$text: ./api.yaml}}}")
	want := parseOne(t, "spec: {x: {$text: ./note.txt, inner: {$text: ./api.yaml}}}")
	files := &fakeFiles{files: placeholderFiles}
	problems := ResolvePlaceholders(doc, files.read)
	if problems != nil {
		t.Fatalf("unexpected problems: %v", problems)
	}
	if !reflect.DeepEqual(doc, want) || len(files.reads) != 0 {
		t.Errorf("placeholder.go ResolvePlaceholders walks into an object that has a $-key and other keys, which Backstage leaves alone; document = %#v, reads = %q", doc, files.reads)
	}
}

func TestResolvePlaceholdersReportsProblemsWithTheirPath(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []Problem
		bug  string
	}{
		{
			name: "an unknown placeholder is left alone, as Backstage leaves it (JSON Schema's $ref)",
			doc:  "spec: {definition: {$foo: ./api.yaml}}",
		},
		{
			name: "a $text target that is a number is left alone, as Backstage leaves it",
			doc:  "spec: {definition: {$text: 5}}",
		},
		{
			name: "a $json target that is a list is left alone, as Backstage leaves it",
			doc:  "spec: {definition: {$json: [./a.json]}}",
		},
		{
			name: "an empty $yaml target is rejected",
			doc:  "spec: {definition: {$yaml: ''}}",
			want: []Problem{{"/spec/definition", "placeholder $yaml needs a target"}},
		},
		{
			name: "a null $text target is left alone, as Backstage leaves it",
			doc:  "spec: {definition: {$text: ~}}",
		},
		{
			name: "a file that cannot be read is reported with the path and the reader's error",
			doc:  "spec: {definition: {$text: ./missing.yaml}}",
			want: []Problem{{"/spec/definition", "placeholder $text ./missing.yaml: no such file"}},
		},
		{
			name: "a problem inside a list is reported at the list index",
			doc:  "spec: {items: [ok, {$text: ./missing.txt}]}",
			want: []Problem{{"/spec/items/1", "placeholder $text ./missing.txt: no such file"}},
		},
		{
			name: "a problem under a key with '/' is reported at a JSON pointer with '/' escaped as ~1",
			doc:  "metadata: {annotations: {example.com/doc: {$text: ./missing.txt}}}",
			want: []Problem{{"/metadata/annotations/example.com~1doc", "placeholder $text ./missing.txt: no such file"}},
			bug:  "placeholder.go ResolvePlaceholders builds paths as path+\"/\"+key without RFC 6901 escaping, so the path is /metadata/annotations/example.com/doc",
		},
		{
			name: "invalid JSON is reported",
			doc:  "spec: {data: {$json: ./bad.json}}",
			want: []Problem{{"/spec/data", "placeholder $json ./bad.json: invalid JSON: unexpected EOF"}},
		},
		{
			name: "invalid YAML is reported",
			doc:  "spec: {data: {$yaml: ./bad.yaml}}",
			want: []Problem{{"/spec/data", "placeholder $yaml ./bad.yaml: invalid YAML: yaml: line 1: did not find expected ',' or ']'"}},
		},
		{
			name: "a YAML value that is not a JSON number is reported",
			doc:  "spec: {data: {$yaml: ./nan.yaml}}",
			want: []Problem{{"/spec/data", "placeholder $yaml ./nan.yaml: invalid YAML: line 1: .nan is not a number JSON can hold"}},
		},
		{
			name: "JSON followed by more data is rejected",
			doc:  "spec: {data: {$json: ./trail.json}}",
			want: []Problem{{"/spec/data", "placeholder $json ./trail.json: invalid JSON"}},
			bug:  "placeholder.go decodeJSONValue decodes the first JSON value and ignores what follows (Backstage's JSON.parse rejects it)",
		},
		{
			name: "a YAML file of several documents is rejected",
			doc:  "spec: {data: {$yaml: ./two.yaml}}",
			want: []Problem{{"/spec/data", "placeholder $yaml ./two.yaml"}},
			bug:  "placeholder.go resolvePlaceholder uses yaml.Unmarshal, which keeps the first document and drops the rest (Backstage requires exactly one document)",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := parseOne(t, c.doc)
			before := parseOne(t, c.doc)
			got := ResolvePlaceholders(doc, (&fakeFiles{files: placeholderFiles}).read)
			ok := len(got) == len(c.want)
			for i := 0; ok && i < len(got); i++ {
				ok = got[i].Path == c.want[i].Path && strings.Contains(got[i].Message, c.want[i].Message)
			}
			if !ok {
				t.Fatalf("problems = %v, want %v", got, c.want)
			}
			if !reflect.DeepEqual(doc, before) {
				t.Errorf("a placeholder that failed changed the document to %#v", doc)
			}
		})
	}
}

func TestResolvePlaceholdersResolvesTheGoodOnesBesideABadOne(t *testing.T) {
	doc := parseOne(t, "spec: {a: {$text: ./note.txt}, b: {$text: ./missing.txt}, c: [{$foo: x}]}")
	got := ResolvePlaceholders(doc, (&fakeFiles{files: placeholderFiles}).read)
	want := []Problem{
		{"/spec/b", "placeholder $text ./missing.txt: no such file"},
	}
	if got := sortedProblems(got); !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %v, want %v", got, want)
	}
	if a := doc["spec"].(map[string]any)["a"]; a != "hello\n" {
		t.Errorf("/spec/a = %#v, want the resolved text", a)
	}
}
