package catalog

import (
	"testing"
	"unicode/utf8"
)

func TestExcerptCutsOnARuneBoundary(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefghij…"},
		{"ééééé", 5, "éé…"}, // é is 2 bytes: 5 bytes would split the third
		{"日本語テキスト", 7, "日本…"},
	} {
		got := Excerpt(tc.in, tc.n)
		if got != tc.want || !utf8.ValidString(got) {
			t.Errorf("Excerpt(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
