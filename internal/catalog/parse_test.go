package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// wantDoc is what a test expects of one Document: its position and either its value or a part
// of its error message.
type wantDoc struct {
	Index int
	Line  int
	Value map[string]any
	Err   string // "" when the document must parse
}

func checkDocs(t *testing.T, got []Document, want []wantDoc) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d documents, want %d:\n%s", len(got), len(want), describeDocs(got))
	}
	for i, w := range want {
		g := got[i]
		if g.Index != w.Index || g.Line != w.Line {
			t.Errorf("document %d: Index %d, Line %d; want Index %d, Line %d", i, g.Index, g.Line, w.Index, w.Line)
		}
		if w.Err == "" {
			if g.Err != nil {
				t.Errorf("document %d: unexpected error %v", i, g.Err)
				continue
			}
			if !reflect.DeepEqual(g.Value, w.Value) {
				t.Errorf("document %d: Value = %#v, want %#v", i, g.Value, w.Value)
			}
			continue
		}
		if g.Err == nil {
			t.Errorf("document %d: Value %#v, want an error containing %q", i, g.Value, w.Err)
			continue
		}
		if !strings.Contains(g.Err.Error(), w.Err) {
			t.Errorf("document %d: error %q does not contain %q", i, g.Err, w.Err)
		}
		if g.Value != nil {
			t.Errorf("document %d: has both an error and Value %#v", i, g.Value)
		}
	}
}

func describeDocs(docs []Document) string {
	var b strings.Builder
	for _, d := range docs {
		fmt.Fprintf(&b, "  #%d line %d: %#v err=%v\n", d.Index, d.Line, d.Value, d.Err)
	}
	return b.String()
}

func num(s string) json.Number { return json.Number(s) }

func TestParseDocumentsSplitsAFileIntoItsDocuments(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []wantDoc
	}{
		{
			name: "three documents come back in order with the line each starts on",
			in:   "a: 1\n---\nb: 2\n---\nc: 3\n",
			want: []wantDoc{{1, 1, map[string]any{"a": num("1")}, ""}, {2, 3, map[string]any{"b": num("2")}, ""}, {3, 5, map[string]any{"c": num("3")}, ""}},
		},
		{
			name: "a leading --- does not make an empty first document",
			in:   "---\nname: a\n",
			want: []wantDoc{{1, 2, map[string]any{"name": "a"}, ""}},
		},
		{
			name: "comments and blank lines before the first key move the start line down",
			in:   "# file header\n\n---\n# about b\n\nname: b\n",
			want: []wantDoc{{1, 6, map[string]any{"name": "b"}, ""}},
		},
		{
			name: "a document of comments only is skipped and takes no index",
			in:   "a: 1\n---\n# nothing here\n  # still nothing\n\n---\nb: 2\n",
			want: []wantDoc{{1, 1, map[string]any{"a": num("1")}, ""}, {2, 7, map[string]any{"b": num("2")}, ""}},
		},
		{
			name: "a ... end marker followed by --- separates two documents",
			in:   "a: 1\n...\n---\nb: 2\n...\n",
			want: []wantDoc{{1, 1, map[string]any{"a": num("1")}, ""}, {2, 4, map[string]any{"b": num("2")}, ""}},
		},
		{
			name: "a ... end marker alone separates two documents",
			in:   "a: 1\n...\nb: 2\n",
			want: []wantDoc{{1, 1, map[string]any{"a": num("1")}, ""}, {2, 3, map[string]any{"b": num("2")}, ""}},
		},
		{
			name: "content after --- on its line belongs to the next document",
			in:   "a: 1\n--- {b: 2}\n",
			want: []wantDoc{{1, 1, map[string]any{"a": num("1")}, ""}, {2, 2, map[string]any{"b": num("2")}, ""}},
		},
		{
			name: "a comment after --- is not a document",
			in:   "--- # the first entity\na: 1\n",
			want: []wantDoc{{1, 2, map[string]any{"a": num("1")}, ""}},
		},
		{
			name: "CRLF line endings split and count lines like LF",
			in:   "a: x\r\n---\r\nb: y\r\n",
			want: []wantDoc{{1, 1, map[string]any{"a": "x"}, ""}, {2, 3, map[string]any{"b": "y"}, ""}},
		},
		{
			name: "indented markers inside a block scalar do not split the document",
			in:   "text: |\n  ---\n  ...\nb: 2\n",
			want: []wantDoc{{1, 1, map[string]any{"text": "---\n...\n", "b": num("2")}, ""}},
		},
		{
			name: "dashes that are not a marker do not split the document",
			in:   "a: ---\nb: x---\n",
			want: []wantDoc{{1, 1, map[string]any{"a": "---", "b": "x---"}, ""}},
		},
		{
			name: "a byte order mark at the start is ignored",
			in:   "\xef\xbb\xbfname: a\n",
			want: []wantDoc{{1, 1, map[string]any{"name": "a"}, ""}},
		},
		{
			name: "an empty mapping is a document with an empty value",
			in:   "{}\n",
			want: []wantDoc{{1, 1, map[string]any{}, ""}},
		},
		{
			name: "an empty file has no documents",
			in:   "",
			want: nil,
		},
		{
			name: "a file of separators, comments and blank lines has no documents",
			in:   "# only a comment\n---\n\n---\n...\n   \n",
			want: nil,
		},
		{
			name: "a directive line does not make a document",
			in:   "%YAML 1.2\n---\na: 1\n",
			want: []wantDoc{{1, 3, map[string]any{"a": num("1")}, ""}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkDocs(t, ParseDocuments([]byte(c.in), 0), c.want)
		})
	}
}

func TestParseDocumentsReportsABrokenDocumentAndKeepsTheOthers(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		maxDoc int
		want   []wantDoc
	}{
		{
			name: "a YAML error in the middle names its line in the whole file and the next document still parses",
			in:   "a: 1\n---\nb: x\n  c: y: z\n---\nd: 4\n",
			want: []wantDoc{
				{1, 1, map[string]any{"a": num("1")}, ""},
				{2, 3, nil, "invalid YAML: yaml: line 4: mapping values are not allowed in this context"},
				{3, 6, map[string]any{"d": num("4")}, ""},
			},
		},
		{
			name: "an unterminated quote does not swallow the documents after it",
			in:   "a: 1\n---\nb: \"x\n---\nc: 3\n",
			want: []wantDoc{
				{1, 1, map[string]any{"a": num("1")}, ""},
				{2, 3, nil, "invalid YAML"},
				{3, 5, map[string]any{"c": num("3")}, ""},
			},
		},
		{
			name: "a tab used as indentation is reported on its line in the file",
			in:   "# header\n---\nb:\n\t- c\n",
			want: []wantDoc{{1, 3, nil, "yaml: line 4: found character that cannot start any token"}},
		},
		{
			name: "bytes that are not UTF-8 give an error naming the byte and the line in the file",
			in:   "a: 1\n---\nname: x\ndescription: caf\xe9\n---\nb: 2\n",
			want: []wantDoc{
				{1, 1, map[string]any{"a": num("1")}, ""},
				{2, 3, nil, "document is not valid UTF-8 (invalid byte 0xe9 on line 4)"},
				{3, 6, map[string]any{"b": num("2")}, ""},
			},
		},
		{
			name:   "a document over the size limit gives an error naming both sizes in bytes",
			in:     "a: 1\n---\ndescription: " + strings.Repeat("x", 20) + "\n---\nb: 2\n",
			maxDoc: 16,
			want: []wantDoc{
				{1, 1, map[string]any{"a": num("1")}, ""},
				// The document is the line "description: xxx...x\n": 13 + 20 + 1 bytes.
				{2, 3, nil, "document is 34 bytes, larger than the limit of 16 bytes"},
				{3, 5, map[string]any{"b": num("2")}, ""},
			},
		},
		{
			name:   "a document over the size limit gives both sizes in KiB when they are that large",
			in:     "description: " + strings.Repeat("x", 3*1024) + "\n",
			maxDoc: 2048,
			want:   []wantDoc{{1, 1, nil, "document is 3.0 KiB, larger than the limit of 2.0 KiB"}},
		},
		{
			name:   "a document exactly at the size limit parses",
			in:     "a: 12345678901\n", // 15 bytes
			maxDoc: 15,
			want:   []wantDoc{{1, 1, map[string]any{"a": num("12345678901")}, ""}},
		},
		{
			name: "a scalar document is rejected because an entity must be a mapping",
			in:   "just some text\n",
			want: []wantDoc{{1, 1, nil, "document is a YAML scalar (just some text), but an entity must be a mapping"}},
		},
		{
			name: "a sequence document is rejected because an entity must be a mapping",
			in:   "a: 1\n---\n- a\n- b\n",
			want: []wantDoc{{1, 1, map[string]any{"a": num("1")}, ""}, {2, 3, nil, "document is a YAML sequence, but an entity must be a mapping"}},
		},
		{
			name: "a NaN is rejected with the path of the value",
			in:   "spec:\n  ratio: .nan\n",
			want: []wantDoc{{1, 1, nil, ".nan is not a number JSON can hold"}},
		},
		{
			name: "an infinity inside a list is rejected with the path of the value",
			in:   "spec:\n  limits: [1, -.inf]\n",
			want: []wantDoc{{1, 1, nil, "-.inf is not a number JSON can hold"}},
		},
		{
			name: "an alias to an unknown anchor is an error",
			in:   "a: *nowhere\n",
			want: []wantDoc{{1, 1, nil, "unknown anchor 'nowhere' referenced"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkDocs(t, ParseDocuments([]byte(c.in), c.maxDoc), c.want)
		})
	}
}

func TestParseDocumentsReportsADuplicateKeyOnItsLinesInTheFile(t *testing.T) {
	in := "a: 1\n---\nname: x\nname: y\n"
	docs := ParseDocuments([]byte(in), 0)
	if len(docs) != 2 || docs[1].Err == nil {
		t.Fatalf("want the second document to fail, got:\n%s", describeDocs(docs))
	}
	// "name: x" is line 3 of the file and "name: y" line 4.
	want := `line 4: duplicate key "name"`
	if !strings.Contains(docs[1].Err.Error(), want) {
		t.Errorf("error %q does not contain %q", docs[1].Err, want)
	}
}

func TestParseDocumentsShiftsOnlyTheLineNumbersOfYAMLErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "a key that reads like a line number is quoted unchanged",
			in:   "x: 1\n---\nline 1: a\nline 1: b\n",
			want: `line 4: duplicate key "line 1"`,
		},
		{
			name: "a value that reads like a line number is quoted unchanged",
			in:   "x: 1\n---\nb: !!int line 7\n",
			want: `line 3: "line 7" is not a valid !!int`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			docs := ParseDocuments([]byte(c.in), 0)
			if len(docs) != 2 || docs[1].Err == nil {
				t.Fatalf("want the second document to fail, got:\n%s", describeDocs(docs))
			}
			if !strings.Contains(docs[1].Err.Error(), c.want) {
				t.Errorf("parse.go decodeDocument rewrites every \"line N\" in the YAML error message, including quoted document content; got %q, want it to contain %q", docs[1].Err, c.want)
			}
		})
	}
}

func TestParseDocumentsDefaultSizeLimitIsMaxDocumentBytes(t *testing.T) {
	big := "description: " + strings.Repeat("x", MaxDocumentBytes) + "\n"
	docs := ParseDocuments([]byte(big), 0)
	if len(docs) != 1 || docs[0].Err == nil {
		t.Fatalf("want one oversized document, got %d", len(docs))
	}
	if want := "larger than the limit of 1.0 MiB"; !strings.Contains(docs[0].Err.Error(), want) {
		t.Errorf("error %q does not contain %q", docs[0].Err, want)
	}
	docs = ParseDocuments([]byte(big), -1)
	if len(docs) != 1 || docs[0].Err == nil || !strings.Contains(docs[0].Err.Error(), "1.0 MiB") {
		t.Errorf("a negative limit must mean MaxDocumentBytes, got %v", docs)
	}
}

func TestParseDocumentsStopsAnAliasBombQuickly(t *testing.T) {
	bomb := `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`
	in := "name: before\n---\n" + bomb + "---\nname: after\n"
	done := make(chan []Document, 1)
	start := time.Now()
	go func() { done <- ParseDocuments([]byte(in), 0) }()
	select {
	case docs := <-done:
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("took %v, want well under 2s", elapsed)
		}
		checkDocs(t, docs, []wantDoc{
			{1, 1, map[string]any{"name": "before"}, ""},
			{2, 3, nil, "too many values"},
			{3, 13, map[string]any{"name": "after"}, ""},
		})
	case <-time.After(10 * time.Second):
		t.Fatal("ParseDocuments did not return within 10s on an alias bomb")
	}
}

func TestParseDocumentsGivesJSONValues(t *testing.T) {
	cases := []struct {
		name string
		yaml string // the value of key v
		want any
		bug  string // set when the current code is known to differ
	}{
		{name: "yes is a string, as in YAML 1.2", yaml: "yes", want: "yes"},
		{name: "no is a string, as in YAML 1.2", yaml: "no", want: "no"},
		{name: "on is a string, as in YAML 1.2", yaml: "on", want: "on"},
		{name: "off is a string, as in YAML 1.2", yaml: "Off", want: "Off"},
		{name: "y is a string", yaml: "y", want: "y"},
		{name: "true is a boolean", yaml: "true", want: true},
		{name: "False is a boolean", yaml: "False", want: false},
		{name: "null is nil", yaml: "null", want: nil},
		{name: "tilde is nil", yaml: "~", want: nil},
		{name: "an empty value is nil", yaml: "", want: nil},
		{name: "an integer is a json.Number", yaml: "42", want: num("42")},
		{name: "a negative integer is a json.Number", yaml: "-7", want: num("-7")},
		{name: "an integer beyond int64 keeps all its digits", yaml: "18446744073709551615", want: num("18446744073709551615")},
		{name: "a float is a json.Number", yaml: "3.25", want: num("3.25")},
		{name: "a float with an exponent is a json.Number", yaml: "1.5e3", want: num("1500")},
		{name: "a hexadecimal integer is its decimal json.Number", yaml: "0x1F", want: num("31")},
		{name: "a 0o octal integer is its decimal json.Number", yaml: "0o17", want: num("15")},
		{name: "a float without a leading digit is a json.Number", yaml: ".5", want: num("0.5")},
		{name: "a signed float without a leading digit is a json.Number", yaml: "+.5", want: num("0.5")},
		{name: "a plus-signed integer is a json.Number", yaml: "+1", want: num("1")},
		{name: "an integer with an exponent is a json.Number", yaml: "1e3", want: num("1000")},
		{name: "digits with underscores are a string, as in YAML 1.2", yaml: "1_000", want: "1_000"},
		{name: "a quoted number is a string", yaml: `"42"`, want: "42"},
		{name: "a quoted true is a string", yaml: "'true'", want: "true"},
		{
			name: "an integer with a leading zero is decimal, as in YAML 1.2", yaml: "010", want: num("10"),
			bug: "parse.go decodes with go.yaml.in/yaml/v3, which reads 010 as the YAML 1.1 octal 8",
		},
		{
			name: "an integer with underscores is a string, as in YAML 1.2", yaml: "1_000", want: "1_000",
			bug: "go.yaml.in/yaml/v3 strips '_' and reads 1_000 as the number 1000",
		},
		{
			name: "a 0b binary literal is a string, as in YAML 1.2", yaml: "0b101", want: "0b101",
			bug: "go.yaml.in/yaml/v3 reads 0b101 as the number 5",
		},
		{
			name: "a date keeps its text, as in YAML 1.2", yaml: "2001-12-14", want: "2001-12-14",
			bug: "go.yaml.in/yaml/v3 resolves it to time.Time and parse.go normalize re-formats it as 2001-12-14T00:00:00Z",
		},
		{
			name: "a timestamp keeps its text, as in YAML 1.2", yaml: "2001-12-14t21:59:43.10-05:00", want: "2001-12-14t21:59:43.10-05:00",
			bug: "go.yaml.in/yaml/v3 resolves it to time.Time and parse.go normalize re-formats it as 2001-12-14T21:59:43.1-05:00",
		},
		{name: "a timestamp with spaces is a string as written", yaml: "2001-12-14 21:59:43.10 -5", want: "2001-12-14 21:59:43.10 -5"},
		{name: "a list holds converted values", yaml: "[1, x, true, ~]", want: []any{num("1"), "x", true, nil}},
		{name: "a nested mapping holds converted values", yaml: "{a: {b: 2.5}}", want: map[string]any{"a": map[string]any{"b": num("2.5")}}},
		{name: "integer keys become strings", yaml: "{1: a, 2: b}", want: map[string]any{"1": "a", "2": "b"}},
		{name: "boolean keys become strings", yaml: "{true: a}", want: map[string]any{"true": "a"}},
		{name: "keys under an integer-keyed mapping stay converted all the way down", yaml: "{1: {2: [3]}}", want: map[string]any{"1": map[string]any{"2": []any{num("3")}}}},
		{name: "an anchor and its alias give the same value", yaml: "&x {a: 1}", want: map[string]any{"a": num("1")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			docs := ParseDocuments([]byte("v: "+c.yaml+"\n"), 0)
			if len(docs) != 1 || docs[0].Err != nil {
				t.Fatalf("want one parsed document, got:\n%s", describeDocs(docs))
			}
			got := docs[0].Value["v"]
			if !reflect.DeepEqual(got, c.want) {
				if c.bug != "" {
					t.Errorf("%s; got %#v, want %#v", c.bug, got, c.want)
				}
				t.Errorf("v: %s gave %#v (%T), want %#v (%T)", c.yaml, got, got, c.want, c.want)
			}
		})
	}
}

func TestParseDocumentsGivesEachAliasItsOwnCopy(t *testing.T) {
	docs := ParseDocuments([]byte("a: &x {k: 1}\nb: *x\n"), 0)
	if len(docs) != 1 || docs[0].Err != nil {
		t.Fatalf("want one parsed document, got:\n%s", describeDocs(docs))
	}
	want := map[string]any{"a": map[string]any{"k": num("1")}, "b": map[string]any{"k": num("1")}}
	if !reflect.DeepEqual(docs[0].Value, want) {
		t.Fatalf("Value = %#v, want %#v", docs[0].Value, want)
	}
	// Placeholder resolution edits documents in place; an alias must not make two paths one map.
	docs[0].Value["a"].(map[string]any)["k"] = "changed"
	if got := docs[0].Value["b"].(map[string]any)["k"]; got != num("1") {
		t.Errorf("changing /a/k changed /b/k to %#v", got)
	}
}

// yamlNode encodes a JSON value as a YAML node that decodes back to the same value: strings are
// double-quoted so they never read as another type, numbers are plain so they read as numbers.
func yamlNode(v any) *yaml.Node {
	switch x := v.(type) {
	case map[string]any:
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := SortedKeys(x)
		for _, k := range keys {
			m.Content = append(m.Content, yamlString(k), yamlNode(x[k]))
		}
		return m
	case []any:
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, el := range x {
			s.Content = append(s.Content, yamlNode(el))
		}
		return s
	case string:
		return yamlString(x)
	case json.Number:
		return &yaml.Node{Kind: yaml.ScalarNode, Value: x.String()}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(x)}
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	panic(fmt.Sprintf("not a JSON value: %#v", v))
}

func yamlString(s string) *yaml.Node {
	if !utf8.ValidString(s) {
		// Only !!binary can carry such a string; the encoder picks it when the tag is empty.
		return &yaml.Node{Kind: yaml.ScalarNode, Value: s}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

// jsonValuesEqual compares two JSON values, numbers by their numeric value.
func jsonValuesEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonValuesEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonValuesEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		ra, okA := new(big.Rat).SetString(x.String())
		rb, okB := new(big.Rat).SetString(y.String())
		if okA && okB {
			return ra.Cmp(rb) == 0
		}
		return x == y
	}
	return a == b
}

func FuzzParseDocuments(f *testing.F) {
	for _, s := range []string{
		"a: 1\n---\nb: 2\n",
		"---\nname: a\n...\n",
		"# only comments\n---\n# more\n",
		"a: 1\n--- {b: [1, 2.5, true, ~, yes]}\n",
		"\xef\xbb\xbfa: b\r\n---\r\nc: d\r\n",
		"a: 1\n---\nb: x\n  c: y: z\n---\nd: 4\n",
		"- a\n- b\n",
		"scalar\n",
		"a: caf\xe9\n",
		"a: &x {k: [1]}\nb: *x\n<<: *x\n",
		"text: |\n  ---\n  ...\n",
		"v: [0x1F, 0o17, 010, 1_000, 1e3, -0.0, .5, 18446744073709551615, 99999999999999999999]\n",
		"v: [2001-12-14, 2001-12-14t21:59:43.10-05:00]\n",
		"{1: a, true: b, 1.5: c, ~: d}\n",
		"b: !!binary aGVsbG8=\n",
		"a: .nan\n",
		"%YAML 1.2\n---\na: 1\n",
		"? [a, b]\n: c\n",
		"a: \"\\u0000\\t\\n\"\n",
		strings.Repeat("[", 50) + strings.Repeat("]", 50) + "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs := ParseDocuments(data, 0)
		lines := bytes.Count(data, []byte("\n")) + 1
		prevLine := 0
		for i, d := range docs {
			if d.Index != i+1 {
				t.Fatalf("document %d has Index %d", i, d.Index)
			}
			if (d.Value == nil) == (d.Err == nil) {
				t.Fatalf("document %d has Value %#v and Err %v; want exactly one", d.Index, d.Value, d.Err)
			}
			if d.Line <= prevLine || d.Line > lines {
				t.Fatalf("document %d starts on line %d (previous %d, file has %d lines)", d.Index, d.Line, prevLine, lines)
			}
			prevLine = d.Line
			if d.Err != nil {
				continue
			}
			if _, err := json.Marshal(d.Value); err != nil {
				t.Fatalf("document %d is not JSON-encodable: %v", d.Index, err)
			}
			out, err := yaml.Marshal(yamlNode(d.Value))
			if err != nil {
				t.Fatalf("re-encoding document %d: %v", d.Index, err)
			}
			again := ParseDocuments(out, 0)
			if len(again) != 1 || again[0].Err != nil {
				t.Fatalf("document %d re-encoded as\n%s\nparses as:\n%s", d.Index, out, describeDocs(again))
			}
			if !jsonValuesEqual(d.Value, again[0].Value) {
				t.Fatalf("document %d = %#v\nre-encoded as\n%s\nparses as %#v", d.Index, d.Value, out, again[0].Value)
			}
		}
	})
}

// sortedProblems returns ps sorted by path, then message, for comparisons that ignore order.
func sortedProblems(ps []Problem) []Problem {
	out := append([]Problem(nil), ps...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Message < out[j].Message
	})
	return out
}
