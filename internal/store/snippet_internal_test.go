package store

import (
	"strings"
	"testing"
)

func TestSnippet(t *testing.T) {
	long := strings.Repeat("word ", 100)
	for _, c := range []struct{ name, text, want string }{
		{"marks every word starting with a term, escapes the rest", `<img src=x onerror=alert(1)> pays & payments`, `&lt;img src=x onerror=alert(1)&gt; <mark>pays</mark> &amp; <mark>payments</mark>`},
		{"cuts a window around the first match", long + "payments " + long, "…word word word word word word <mark>payments</mark> word"},
		{"ignores case", "PAYMENTS", "<mark>PAYMENTS</mark>"},
		{"bounds a text of one long word", strings.Repeat("x", 5000), strings.Repeat("x", 600) + "…"},
		{"bounds a text without words", strings.Repeat("<", 5000), strings.Repeat("&lt;", 600) + "…"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := snippet([]string{"pay"}, c.text)
			if !strings.HasPrefix(got, c.want) && got != c.want {
				t.Errorf("snippet of %.40q:\n got %.200s\nwant %.200s", c.text, got, c.want)
			}
			if strings.Count(got, "<") != strings.Count(got, "<mark>")+strings.Count(got, "</mark>") {
				t.Errorf("markup other than <mark> in %.200s", got)
			}
		})
	}
	if got := snippet([]string{"zzz"}, "", "first text", "second"); got != "first text" {
		t.Errorf("no match: %q, want the first non-empty text", got)
	}
	if got := snippet([]string{"sec"}, "first text", "second"); got != "<mark>second</mark>" {
		t.Errorf("a match in a later text: %q", got)
	}
}
