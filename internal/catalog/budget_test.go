package catalog

import (
	"strings"
	"testing"
)

func TestParseDocumentsBoundsWhatAliasesExpandTo(t *testing.T) {
	big := strings.Repeat("x", 100_000)
	var many strings.Builder
	many.WriteString("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [")
	for i := range 1200 {
		if i > 0 {
			many.WriteString(", ")
		}
		many.WriteString("*a")
	}
	many.WriteString("]\n")
	var few strings.Builder
	few.WriteString("tags: &t [a, b, c]\nx: *t\ny: *t\nlong: &l " + strings.Repeat("y", 1000) + "\nl1: *l\nl2: *l\n")
	for _, tc := range []struct {
		name, in, err string
	}{
		{"a long string aliased 20 times", "s: &s " + big + "\nl: [" + strings.Repeat("*s, ", 19) + "*s]\n", "aliases expand to more than 1.0 MiB of text"},
		{"12,000 values through aliases", many.String(), "too many values through aliases (more than 10000)"},
		{"a few small aliases", few.String(), ""},
		{"no aliases at all, many values", "v: [" + strings.Repeat("1, ", 50_000) + "1]\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs := ParseDocuments([]byte(tc.in), 0)
			if len(docs) != 1 {
				t.Fatalf("%d documents", len(docs))
			}
			if tc.err == "" {
				if docs[0].Err != nil {
					t.Errorf("err = %v, want none", docs[0].Err)
				}
				return
			}
			if docs[0].Err == nil || !strings.Contains(docs[0].Err.Error(), tc.err) {
				t.Errorf("err = %v, want %q", docs[0].Err, tc.err)
			}
		})
	}
}

func TestParseErrorsQuoteAnExcerptOfTheInput(t *testing.T) {
	long := strings.Repeat("é", 10_000)
	for _, in := range []string{
		long + "\n", // a scalar document
		"a: 1\n" + long + ": 1\n" + long + ": 2\n", // a duplicate key
		"v: !!int " + long + "\n",                  // a bad tagged value
		"a: b: c " + long + "\n",                   // a YAML syntax error
		"k: [" + long + "\n",                       // an unclosed sequence
	} {
		docs := ParseDocuments([]byte(in), 0)
		if len(docs) != 1 || docs[0].Err == nil {
			t.Errorf("%.40q…: want one failed document, got %+v", in, docs)
			continue
		}
		if msg := docs[0].Err.Error(); len(msg) > 500 {
			t.Errorf("%.40q…: error of %d bytes: %.200s…", in, len(msg), msg)
		}
	}
}
