package catalog

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"catalogd/internal/synth"
)

// checkFastMatchesFull fails when the fast path decodes data to anything but what the full
// parser makes of it, and returns whether the fast path took it.
func checkFastMatchesFull(t *testing.T, data []byte) bool {
	t.Helper()
	fast, ok := decodeYAMLFast(data)
	if !ok {
		return false
	}
	full, err := decodeYAMLFull(data, 1)
	if err != nil {
		t.Fatalf("fast path decoded\n%s\nas %#v, but the full parser says: %v", data, fast, err)
	}
	if !reflect.DeepEqual(any(fast), full) {
		t.Fatalf("fast path decoded\n%s\nas   %#v\nfull: %#v", data, fast, full)
	}
	return true
}

func TestDecodeYAMLFast(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		fast bool // whether the fast path must take it
	}{
		{"a descriptor in block style", "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n  title: \"A b: c # d\"\n  tags:\n    - java\n    - web\n  links:\n    - url: https://x.example/#frag\n      title: 'Dash'\n  annotations:\n    a.io/b: c:d\nspec:\n  type: service\n  owner: group:default/x\n", true},
		{"scalars of the core schema", "a: 1\nb: -2\nc: 1.5e3\nd: true\ne: False\nf: null\ng: ~\nh:\ni: 0x1F\nj: 0o17\nk: 010\nl: 1_000\nm: 2024-01-31\nn: +7\no: .5\np: yes\n", true},
		{"comments and blank lines", "# head\na: b # tail\n\n  # indented\nc:\n  # inside\n  - d   # item\n", true},
		{"a sequence at its key's indentation", "a:\n- b\n- c: d\n  e: f\ng: h\n", true},
		{"items on the lines below their dash", "a:\n  -\n    b: c\n  -\n  - d\n", true},
		{"wide dash spacing", "a:\n  -   b: c\n      d: e\n", true},
		{"empty quoted strings", "a: \"\"\nb: ''\n", true},
		{"non-ASCII text", "a: caf\u00e9 \u4e2d\u6587\nb: \"\u00e9\"\n", true},
		{"punctuation inside plain scalars", "a: b, c [d] {e}\nf: g:h\ni: j#k\n", true},
		{"a key holding a space", "a b: c\n", true},

		{"a flow mapping", "a: {b: c}\n", false},
		{"a flow sequence", "a: [b, c]\n", false},
		{"an anchor and alias", "a: &x b\nc: *x\n", false},
		{"a tag", "a: !!str 1\n", false},
		{"a literal block scalar", "a: |\n  b:\n    c: {d}\n\n  # e\n   \n  f  \n\n\ng: h\n", true},
		{"a stripped literal block scalar", "a: |-\n  b\n  c\n", true},
		{"a literal block scalar in a sequence", "a:\n  - |\n    b\n  - c\n", true},
		{"a literal block scalar ending the document", "a:\n  b: |\n    c\n", true},
		{"a kept literal block scalar", "a: |+\n  b\n\n", false},
		{"a literal block scalar after a blank line", "a: |\n\n  b\n", false},
		{"a literal block scalar without a last line break", "a: |\n  b", false},
		{"an empty literal block scalar", "a: |\nb: c\n", false},
		{"trailing spaces after a literal block scalar", "a: |\n  b\n     \nc: d\n", false},
		{"empty flow collections", "a: []\nb: {}\n", true},
		{"a folded scalar", "a: >\n  b\n", false},
		{"a multi-line plain scalar", "a: b\n  c\n", false},
		{"a multi-line quoted scalar", "a: \"b\n  c\"\n", false},
		{"an escape", "a: \"b\\tc\"\n", false},
		{"a doubled single quote", "a: 'it''s'\n", false},
		{"a tab", "a:\tb\n", false},
		{"a carriage return", "a: b\r\n", false},
		{"a duplicate key", "a: 1\na: 2\n", false},
		{"a quoted key", "\"a\": b\n", false},
		{"a complex key", "? a\n: b\n", false},
		{"a sequence document", "- a\n- b\n", false},
		{"a scalar document", "a\n", false},
		{"an indented document", " a: b\n", false},
		{"a mapping value on a value", "a: b: c\n", false},
		{"a sequence after a value", "a: - b\n", false},
		{"a nested sequence on one line", "- - a\n", false},
		{"a wrongly indented key", "a:\n    b: 1\n  c: 2\n", false},
		{"text after a quoted scalar", "a: \"b\" c\n", false},
		{"infinity", "a: .inf\n", false},
		{"a directive", "%YAML 1.2\na: b\n", false},
		{"a line break character", "a: b\u2028c\n", false},
		{"a byte order mark inside", "a: \ufeffb\n", false},
		{"a trailing space in a key", "a : b\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkFastMatchesFull(t, []byte(tc.in)); got != tc.fast {
				t.Fatalf("fast path took it: %v, want %v", got, tc.fast)
			}
		})
	}
}

// TestDecodeYAMLFastTakesSynthCatalogs checks the fast path on every document of the
// synthetic catalogs the benchmarks ingest: it must take each one (or ingestion is slow
// again) and agree with the full parser.
func TestDecodeYAMLFastTakesSynthCatalogs(t *testing.T) {
	for _, shape := range []synth.Shape{"", "dense"} {
		t.Run("shape "+string(shape), func(t *testing.T) {
			dir := t.TempDir()
			if _, err := synth.Write(dir, synth.Config{N: 3000, Seed: 7, Shape: shape, Docs: true, Hubs: true}); err != nil {
				t.Fatal(err)
			}
			docs := 0
			err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
					return err
				}
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				for chunk := range strings.SplitSeq(string(data), "---\n") {
					if strings.TrimSpace(chunk) == "" {
						continue
					}
					docs++
					if !checkFastMatchesFull(t, []byte(chunk)) {
						t.Fatalf("%s: the fast path did not take\n%s", p, chunk)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if docs < 3000 {
				t.Fatalf("read %d documents, want at least 3000", docs)
			}
		})
	}
}

func FuzzDecodeYAMLFast(f *testing.F) {
	for _, s := range []string{
		"a: b\n", "a:\n- b\n- c: d\n  e: f\n", "a: \"b\" # c\n", "a: 'b'\n", "a:\n  -\n    b: c\n",
		"a: 1\nb: -2.5e3\nc: ~\nd: true\n", "a: b # c\n  # d\ne: f\n", "- a\n", "a: b\n  c\n",
		"a:\n  b:\n    - c\n    - d: e\n      f:\n      - g\n", "a: [b]\n", "k: v:w\n", "a: -\n", "a: -b\n",
		// Literal blocks: chomping, trailing spaces and blank lines, no final line break.
		"a: |\n  b\n\n  c  \n\n", "a:\n- |-\n  b\n   \n", "a:\n- b: |\n   c\n  d: e\n", "a: |-\n  b",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastMatchesFull(t, data)
	})
}

// TestDecodeYAMLFastCopiesText checks the decoded value shares no memory with the document:
// a record kept for long must not pin the whole file it came from.
func TestDecodeYAMLFastCopiesText(t *testing.T) {
	const doc = "kind: Component\nmetadata:\n  name: a-name\n  custom-key: \"quoted\"\nspec:\n  dependsOn:\n    - component:default/b\n  definition: |\n    text\n"
	data := []byte(doc)
	v, ok := decodeYAMLFast(data)
	if !ok {
		t.Fatal("the fast path did not take the document")
	}
	for i := range data {
		data[i] = 'x'
	}
	want, _ := decodeYAMLFast([]byte(doc))
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("the decoded value changed with the document's bytes: %#v", v)
	}
}
