package model

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"catalogd/internal/depgraph"
)

// TestQuotedRefsAreWhatGqlgenWrites: the direct writer of affected quotes strings as
// gqlgen's String marshaller does, control characters, quotes, backslashes, multi-byte and
// invalid UTF-8 included.
func TestQuotedRefsAreWhatGqlgenWrites(t *testing.T) {
	cases := []string{"", "component:default/a", "a\"b\\c", "tab\there\r\n", "\x00\x01\x1f\x7f", "é – ✓ 😀", "\xff\xfe\xc3", "\u2028<>&", `\u00e9`}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		var want bytes.Buffer
		graphql.MarshalString(s).MarshalGQL(&want)
		if got := depgraph.AppendQuoted([]byte("x"), s); !bytes.Equal(got[1:], want.Bytes()) {
			t.Fatalf("AppendQuoted(%q) = %s, gqlgen writes %s", s, got[1:], want.Bytes())
		}
	}
}
